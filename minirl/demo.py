"""The main job (`make demo`): a short SFT run to a weak model, then GRPO with a verifier reward.

    phase 1  SFT, 200 steps         -> about 30% held-out exact match on 2-digit addition
    phase 2  GRPO from that model   -> the same held-out problems, now mostly right

Writes runs/demo/{sft,grpo}/ (each a full run folder) and runs/demo/curves.png (both phases).
"""
from __future__ import annotations

import time
from pathlib import Path

from .grpo import GRPOConfig, train_grpo
from .plotting import plot_phases
from .sft import WEAK_INIT, SFTConfig, train_sft


def run_demo(out: str = "runs/demo", quick: bool = False, seed: int = 0) -> dict:
    out = Path(out)
    t0 = time.perf_counter()
    print("phase 1/2: SFT on a little data -> a weak policy (the RL starting point)")
    sft = train_sft(SFTConfig(out=str(out / "sft"), seed=seed, eval_every=25,
                              **{**WEAK_INIT, **({"steps": 40} if quick else {})}))
    print(f"  after SFT: held-out accuracy {sft.summary['eval_accuracy']:.1%}")
    print("phase 2/2: GRPO with the exact-match verifier as the reward")
    grpo = train_grpo(GRPOConfig(init=str(out / "sft" / "model.pt"), out=str(out / "grpo"), seed=seed,
                                 **({"steps": 4, "eval_every": 2} if quick else {})))
    plot_phases([("SFT (weak init)", sft.metrics), ("GRPO", grpo.metrics)], out / "curves.png",
                title="held-out exact match, 2-digit addition")
    before, after = sft.summary["eval_accuracy"], grpo.summary["eval_accuracy"]
    print(f"\nheld-out accuracy: {before:.1%} after SFT -> {after:.1%} after GRPO "
          f"({time.perf_counter() - t0:.0f} s in all)")
    print("samples (greedy):")
    for prompt, text, ok in grpo.summary.get("samples", [])[:8]:
        print(f"  {prompt}{text:<6} {'right' if ok else 'wrong'}")
    print(f"plot: {out / 'curves.png'}")
    return {"sft_accuracy": before, "grpo_accuracy": after, "seconds": time.perf_counter() - t0}
