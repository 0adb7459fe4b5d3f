"""Throughput: training tokens/s (and MFU on a GPU), and sampling with vs without the KV cache.

    python benchmarks/throughput.py                  # the default 0.8M model: CPU, and the GPU if there is one
    python benchmarks/throughput.py --preset gpu     # the ~25M model and batch of `--preset gpu`
    python benchmarks/throughput.py --device cuda --dtype float32 --batch 256

One markdown table, a row per device.

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
from benchmarks.common import markdown_table  # noqa: E402
from minirl.model import GPT, GPTConfig, generate  # noqa: E402
from minirl.rollout import encode_pairs, encode_prompts  # noqa: E402
from minirl.config import PRESETS  # noqa: E402
from minirl.device import amp_dtype, peak_flops, pick_device, seed_everything, train_flops_per_token  # noqa: E402
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


def measure(device: torch.device, args) -> dict:
    """One row of the table: a training step and sampling, on one device."""
    seed_everything(0)
    tok, task = CharTokenizer(), make_task(args.task)
    preset = PRESETS.get(args.preset, {})
    batch = args.batch or preset.get("sft", {}).get("batch_size", 64)
    prompts = [task.prompt(a, b) for a, b in task.sample_train(batch, random.Random(0))]
    ids, lens = encode_prompts(tok, prompts, device)
    size = {k: v for k, v in preset.get("sft", {}).items() if k in ("n_layer", "n_head", "n_embd")}
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=ids.size(1) + args.new_tokens, **size)
    model = GPT(cfg).to(device)
    model.amp_dtype = amp_dtype(args.dtype, device)

    # training: SFT steps on a batch of demonstrations, AdamW as the trainers use it
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    tokens, mask = encode_pairs(tok, prompts, [task.answer(*task.operands(q)) for q in prompts], device)

    def train_step():
        loss = sft_loss(model(tokens[:, :-1]), tokens[:, 1:], mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    s = timed(train_step, args.repeats * 4, device)
    rate = tokens[:, :-1].numel() / s
    peak = peak_flops(device)

    # sampling
    gen = lambda cache: generate(model, ids, lens, args.new_tokens, eos_id=-1, pad_id=tok.pad_id,
                                 greedy=True, use_cache=cache)
    same = torch.equal(gen(True), gen(False))
    with_cache = timed(lambda: gen(True), args.repeats, device)
    without = timed(lambda: gen(False), args.repeats, device)
    threads = torch.get_num_threads()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {threads} thread" + "s" * (threads > 1)
    return {"device": name, "params": model.num_params(),
            "model": f"{cfg.n_layer} x {cfg.n_embd}", "batch": batch, "dtype": str(model.amp_dtype or "float32"),
            "train_ms": s * 1e3, "tokens_per_s": rate,
            "mfu": train_flops_per_token(model, tokens.size(1) - 1) * rate / peak if peak else None,
            "cache_seq_per_s": batch / with_cache, "nocache_seq_per_s": batch / without,
            "speedup": without / with_cache, "same_output": same}


COLUMNS = [("device", "{}"), ("model", "{}"), ("params", "{:,}"), ("batch", "{}"), ("dtype", "{}"),
           ("train_ms", "{:.1f}"), ("tokens_per_s", "{:,.0f}"), ("mfu", "{:.1%}"),
           ("cache_seq_per_s", "{:,.0f}"), ("nocache_seq_per_s", "{:,.0f}"), ("speedup", "{:.1f}x"),
           ("same_output", "{}")]
HEADERS = {"train_ms": "train ms/step", "tokens_per_s": "train tokens/s", "mfu": "MFU",
           "cache_seq_per_s": "sampling seq/s (KV cache)", "nocache_seq_per_s": "seq/s (no cache)",
           "speedup": "cache speed-up", "same_output": "same tokens"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="all", help="all (the CPU, and the GPU when there is one) | cpu | cuda")
    p.add_argument("--batch", type=int, default=None, help="sequences per step (default: the preset's SFT "
                   "batch, else 64)")
    p.add_argument("--new_tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--task", default="add2")
    p.add_argument("--preset", default=None, help="use the model size and batch of a preset, e.g. gpu")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 (autocast)")
    args = p.parse_args(argv)
    if args.preset and args.preset not in PRESETS:
        p.error(f"unknown --preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
    names = (["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if args.device == "all" else [args.device]
    rows = []
    for name in names:
        rows.append(measure(pick_device(name), args))
        print(f"measured {rows[-1]['device']}", file=sys.stderr)
    print(markdown_table(rows, COLUMNS, HEADERS))
    return rows


if __name__ == "__main__":
    main()
