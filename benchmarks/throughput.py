"""Throughput: training tokens/s (and MFU on a GPU), and sampling with vs without the KV cache.

    python benchmarks/throughput.py                      # the default 0.8M model on this machine
    python benchmarks/throughput.py --preset gpu         # the ~25M model of `--preset gpu`
    python benchmarks/throughput.py --device cuda --dtype bfloat16 --batch 256

MFU = train_flops_per_token x tokens/s / peak bf16 FLOP/s of the GPU (runs.train_flops_per_token,
runs.PEAK_BF16_FLOPS; set MINIRL_PEAK_FLOPS for an unlisted GPU). There is no meaningful peak for
a CPU here, so MFU is printed as "-" there.

Sampling generates `new_tokens` tokens for `batch` prompts greedily (EOS disabled so every row
runs the full length), once with the cache and once recomputing the whole prefix each step, and
checks that both produce the same tokens.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from minirl.model import GPT, GPTConfig, generate  # noqa: E402
from minirl.rollout import encode_pairs, encode_prompts  # noqa: E402
from minirl.runs import (PRESETS, amp_dtype, peak_flops, pick_device, seed_everything,  # noqa: E402
                         train_flops_per_token)
from minirl.sft import sft_loss  # noqa: E402
from minirl.tasks import make_task  # noqa: E402
from minirl.tokenizer import CharTokenizer  # noqa: E402


def timed(fn, repeats: int, device) -> float:
    fn()                                                     # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--new_tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--preset", default=None, help="use the model size of a preset, e.g. gpu")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 (autocast)")
    args = p.parse_args(argv)
    seed_everything(0)
    device = pick_device(args.device)
    tok, task = CharTokenizer(), make_task("add2")
    prompts = [task.prompt(a, b) for a, b in task.sample_train(args.batch, random.Random(0))]
    ids, lens = encode_prompts(tok, prompts, device)
    size = {k: v for k, v in PRESETS.get(args.preset, {}).get("sft", {}).items()
            if k in ("n_layer", "n_head", "n_embd")}
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=ids.size(1) + args.new_tokens, **size)
    model = GPT(cfg).to(device)
    model.amp_dtype = amp_dtype(args.dtype, device)
    print(f"device {device}, threads {torch.get_num_threads()}, model {model.num_params():,} params "
          f"({cfg.n_layer} layers x {cfg.n_embd} wide)")

    # training: one SFT step on a batch of 64 add2 demonstrations
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens, mask = encode_pairs(tok, prompts, [task.answer(*task.operands(q)) for q in prompts], device)

    def train_step():
        loss = sft_loss(model(tokens[:, :-1]), tokens[:, 1:], mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    s = timed(train_step, args.repeats * 4, device)
    rate = tokens[:, :-1].numel() / s
    peak = peak_flops(device)
    mfu = f"{train_flops_per_token(model, tokens.size(1) - 1) * rate / peak:.1%}" if peak else "-"
    print(f"training : {s * 1e3:7.1f} ms/step  {rate:10,.0f} tokens/s  MFU {mfu}  (batch {args.batch}, "
          f"dtype {model.amp_dtype or 'float32'})")

    # sampling
    gen = lambda cache: generate(model, ids, lens, args.new_tokens, eos_id=-1, pad_id=tok.pad_id,
                                 greedy=True, use_cache=cache)
    same = torch.equal(gen(True), gen(False))
    with_cache = timed(lambda: gen(True), args.repeats, device)
    without = timed(lambda: gen(False), args.repeats, device)
    for name, s in (("KV cache", with_cache), ("no cache", without)):
        print(f"sampling : {name}  {s * 1e3:7.1f} ms for {args.batch} x {args.new_tokens} tokens  "
              f"{args.batch / s:8,.0f} sequences/s")
    print(f"KV cache speed-up: {without / with_cache:.1f}x   same output: {same}")


if __name__ == "__main__":
    main()
