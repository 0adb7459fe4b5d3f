"""The main job (`make demo`): a weak SFT model, then GRPO with a verifier reward.

    phase 1  the shipped weak start (200 SFT steps; --retrain_start trains it here instead)
    phase 2  GRPO from that model   -> the same held-out problems, now mostly right

Writes runs/demo/{sft,grpo}/ (each a full run folder, replaced when the demo runs again) and
runs/demo/curves.png: held-out accuracy of both phases against the examples the model has learned
from (SFT: batch_size demonstrations a step; GRPO: batch_size x group_size sampled completions a
step), so the two phases share one axis. The weak start: chapters/02-tiny-gpt-and-sft.md, 2.7;
GRPO: chapters/07-grpo.md.
"""
from __future__ import annotations

import time
from pathlib import Path

from .device import cpu_threads
from .evaluation import evaluate
from .grpo import GRPOConfig, train_grpo
from .plotting import plot_phases
from .runs import load_model
from .sft import WEAK_INIT, SFTConfig, train_sft
from .starts import copy_to, starts
from .tokenizer import CharTokenizer


def weak_start(out: Path, quick: bool, retrain: bool, seed: int) -> tuple[float, list[dict]]:
    """Phase 1 into out/sft: the shipped weak start (or, retrain=True, the same SFT run made here).
    -> (held-out accuracy measured now, its SFT metrics rows)"""
    if not retrain:
        task = SFTConfig().make_task()
        model, _ = load_model(copy_to("weak", out / "sft"), CharTokenizer(), task)
        return evaluate(model, CharTokenizer(), task)[0], starts()["weak"]["metrics"]
    sft_cfg = SFTConfig(out=str(out / "sft"), seed=seed, eval_every=25, overwrite=True,
                        **{**WEAK_INIT, **({"steps": 40} if quick else {})})
    with cpu_threads():                        # the weak start pins its threads, GRPO need not
        sft = train_sft(sft_cfg)
    return sft.summary["eval_accuracy"], sft.metrics


def run_demo(out: str = "runs/demo", quick: bool = False, seed: int = 0,
             retrain_start: bool = False) -> dict:
    out = Path(out)
    t0 = time.perf_counter()
    how = "trained here" if retrain_start else "shipped in minirl/checkpoints"
    print(f"phase 1/2: SFT on a little data -> a weak policy, the RL starting point ({how})")
    before, sft_metrics = weak_start(out, quick, retrain_start, seed)
    sft_cfg = SFTConfig(**WEAK_INIT)
    print(f"  after SFT: held-out accuracy {before:.1%}")
    print("phase 2/2: GRPO with the exact-match verifier as the reward")
    grpo_cfg = GRPOConfig(init=str(out / "sft" / "model.pt"), out=str(out / "grpo"), seed=seed,
                          overwrite=True, **({"steps": 4, "eval_every": 2} if quick else {}))
    grpo = train_grpo(grpo_cfg)
    per_sft = sft_cfg.batch_size                                  # demonstrations per step
    per_grpo = grpo_cfg.batch_size * grpo_cfg.group_size          # sampled completions per step
    plot_phases([(f"SFT: {per_sft} demonstrations a step", sft_metrics, per_sft),
                 (f"GRPO: {grpo_cfg.batch_size} prompts × {grpo_cfg.group_size} sampled "
                  f"completions a step",
                  grpo.metrics, per_grpo)],
                out / "curves.png",
                title="held-out exact match, 2-digit addition: SFT to a weak model, then GRPO",
                xlabel="examples learned from (SFT: demonstrations; GRPO: sampled completions)")
    after = grpo.summary["eval_accuracy"]
    print(f"\nheld-out accuracy: {before:.1%} after SFT -> {after:.1%} after GRPO "
          f"({time.perf_counter() - t0:.0f} s in all)")
    task = grpo_cfg.make_task()
    print("samples (greedy; answers are written least-significant digit first, → shows them as "
          "read):")
    for s in grpo.summary.get("samples", [])[:8]:
        print("  " + task.show(s["prompt"], s["response"]))
    print(f"plot: {out / 'curves.png'}")
    return {"sft_accuracy": before, "grpo_accuracy": after, "seconds": time.perf_counter() - t0}
