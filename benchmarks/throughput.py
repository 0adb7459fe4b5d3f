"""Throughput: training tokens/s (and MFU on a GPU), and sampling with vs without the KV cache.

    python -m benchmarks.throughput                # the default 0.8M model: CPU, and the GPU if there is one
    python -m benchmarks.throughput --preset gpu   # the ~25M model, batch and task (add3) of the preset, on
                                                   # the GPU if there is one (else the CPU): one row
    python -m benchmarks.throughput --preset gpu --compile    # the training forward through torch.compile
    python -m benchmarks.throughput --device cuda --dtype float32 --batch 256

One markdown table, a row per device.

MFU = train_flops_per_token x real tokens/s / the GPU's peak FLOP/s in the run's number format
(device.peak_flops_for; set MINIRL_PEAK_FLOPS for an unlisted GPU). "Real" tokens leave out the
padding, which the GPU computes but which trains nothing; "train tokens/s" counts every position
of the batch. There is no meaningful peak for a CPU here, so MFU is printed as "-" there.

Sampling generates `new_tokens` tokens for `batch` prompts greedily (EOS disabled so every row
runs the full length), once with the cache and once recomputing the whole prefix each step, and
checks that both produce the same tokens. --smoke: the same code path at toy size (the tests).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import markdown_table, write_results  # noqa: E402
from minirl.config import PRESETS, TOY_SIZE  # noqa: E402
from minirl.device import (configure_model, peak_flops, pick_device, seed_everything,  # noqa: E402
                           train_flops_per_token)
from minirl.model import GPT, GPTConfig, generate  # noqa: E402
from minirl.batches import encode_pairs, encode_prompts
from minirl.rollout import decode_and_score  # noqa: E402
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
    tokens, mask = encode_pairs(tok, prompts, [task.answer(*task.operands(q)) for q in prompts], device)
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=max(ids.size(1) + args.new_tokens, tokens.size(1)),
                    **(TOY_SIZE if args.smoke else size))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model = GPT(cfg).to(device)
    if args.compile and args.compile_backend != "inductor":      # the tests: dynamo without codegen
        real = torch.compile
        torch.compile = lambda fn, **kw: real(fn, backend=args.compile_backend, **kw)
    try:
        configure_model(model, SimpleNamespace(dtype=args.dtype, compile=args.compile), device)
    finally:
        if args.compile and args.compile_backend != "inductor":
            torch.compile = real

    # training: SFT steps on a batch of demonstrations, AdamW as the trainers use it
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    real_tokens = int((tokens[:, :-1] != tok.pad_id).sum())        # (B, T-1) positions without padding

    def train_step():
        loss = sft_loss(model(tokens[:, :-1]), tokens[:, 1:], mask)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    s = timed(train_step, args.repeats * 4, device)
    rate = tokens[:, :-1].numel() / s
    peak = peak_flops(device, model.amp_dtype)

    # sampling (a KV-cached decode step runs eager, compiled or not: device.compile_plan)
    gen = lambda cache: generate(model, ids, lens, args.new_tokens, eos_id=-1, pad_id=tok.pad_id,  # noqa: E731
                                 greedy=True, use_cache=cache)
    same = torch.equal(gen(True), gen(False))
    out = gen(True)
    score_s = timed(lambda: decode_and_score(tok, task, prompts, out, lens), args.repeats, device)
    with_cache = timed(lambda: gen(True), args.repeats, device)
    without = timed(lambda: gen(False), args.repeats, device)
    threads = torch.get_num_threads()
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"cpu, {threads} thread" + "s" * (threads > 1))
    flops = train_flops_per_token(model, tokens.size(1) - 1)
    return {"device": name, "task": task.name, "params": model.num_params(), "batch": batch,
            "model": f"{cfg.n_layer} x {cfg.n_embd}", "dtype": str(model.amp_dtype or "float32"),
            "compile": bool(args.compile), "train_ms": s * 1e3, "tokens_per_s": rate,
            "train_gflops": flops * rate / 1e9,              # training arithmetic per second, padding included
            "real_tokens_per_s": real_tokens / s, "mfu": flops * real_tokens / s / peak if peak else None,
            "cache_seq_per_s": batch / with_cache, "nocache_seq_per_s": batch / without,
            "speedup": without / with_cache, "same_output": same, "score_ms": score_s * 1e3,
            "max_memory_allocated_mb": (round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
                                        if device.type == "cuda" else None)}


COLUMNS = [("device", "{}"), ("model", "{}"), ("params", "{:,}"), ("batch", "{}"), ("dtype", "{}"),
           ("compile", "{}"), ("train_ms", "{:.1f}"), ("tokens_per_s", "{:,.0f}"), ("mfu", "{:.1%}"),
           ("cache_seq_per_s", "{:,.0f}"), ("nocache_seq_per_s", "{:,.0f}"), ("speedup", "{:.1f}x"),
           ("score_ms", "{:.2f}"), ("same_output", "{}"), ("max_memory_allocated_mb", "{:,.0f}")]
HEADERS = {"train_ms": "train ms/step", "tokens_per_s": "train tokens/s", "mfu": "MFU",
           "cache_seq_per_s": "sampling seq/s (KV cache)", "nocache_seq_per_s": "seq/s (no cache)",
           "speedup": "cache speed-up", "score_ms": "decode+score ms", "same_output": "same tokens", "max_memory_allocated_mb": "peak MiB"}


def parse_args(argv=None):
    """The flags, with the defaults that depend on --preset filled in (--task, --device, --smoke)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="all (the CPU, and the GPU when there is one) | auto | "
                   "cpu | cuda; default: all, or with --preset auto (the GPU if there is one, else the CPU)")
    p.add_argument("--batch", type=int, default=None, help="sequences per step (default: the preset's SFT "
                   "batch, else 64)")
    p.add_argument("--new_tokens", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--task", default=None, help="default: the preset's task, else add2")
    p.add_argument("--preset", default=None, help="the model size, batch and task of a preset, e.g. gpu")
    p.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 (autocast)")
    p.add_argument("--compile", action="store_true", help="torch.compile the training forward (compile_plan)")
    p.add_argument("--compile_backend", default="inductor", help=argparse.SUPPRESS)
    p.add_argument("--smoke", action="store_true", help="toy model, batch 4, 4 new tokens, 1 repeat")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="CPU: one row per thread count, e.g. --threads 1 2 (default: PyTorch's)")
    p.add_argument("--results", default=None, help="also write results/<this>/results.json (the rows as "
                   "numbers cpu.tN.KEY / cuda.KEY and the table; chapter 9 quotes them)")
    args = p.parse_args(argv)
    if args.preset and args.preset not in PRESETS:
        p.error(f"unknown --preset {args.preset!r}; choose one of {', '.join(PRESETS)}")
    args.task = args.task or PRESETS.get(args.preset, {}).get("*", {}).get("task", "add2")
    if args.smoke:
        args.batch, args.new_tokens, args.repeats = args.batch or 4, 4, 1
    args.device = args.device or ("auto" if args.preset else "all")
    return args


def main(argv=None):
    args = parse_args(argv)
    names = ((["cpu"] + (["cuda"] if torch.cuda.is_available() else [])) if args.device == "all"
             else [args.device])
    rows, keys = [], []
    for name in names:
        for threads in (args.threads or [None]) if name == "cpu" else [None]:
            if threads:
                torch.set_num_threads(threads)
            rows.append(measure(pick_device(name), args))
            keys.append(f"cpu.t{torch.get_num_threads()}" if name == "cpu" else name)
            print(f"measured {rows[-1]['device']}", file=sys.stderr)
    table = markdown_table(rows, COLUMNS, HEADERS)
    print(table)
    if args.results:
        numbers = {f"{k}.{col}": v for k, row in zip(keys, rows) for col, v in row.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        write_results(args.results, {**numbers, "table": table + "\n"}, data=rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
