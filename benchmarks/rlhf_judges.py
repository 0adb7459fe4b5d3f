"""How good must the reward model be? PPO against two judges of different quality, with and without
the KL leash. Writes runs/rlhf_judges/ and chapters/figures/ch05_judges.{png,svg}.

    .venv/bin/python benchmarks/rlhf_judges.py            # two judges x three KL coefficients β

Both judges share one trunk (an SFT model trained for the default 1,000 steps, 100% on add2) and
one labeller (correct = 1, each digit 7 = 0.1, noise 0.2); they differ only in how long they
train on its comparisons:
    half   20,000 labelled pairs, 1,500 Bradley-Terry steps
    full   40,000 labelled pairs, 3,000 steps   (the defaults of `python -m minirl rlhf`)
Every PPO run starts from the weak init (runs/weak) with PPO's defaults but 150 iterations, and a KL
coefficient β from --betas. Finished runs found in the output folder are reused.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import finished, read_metrics, save_figure  # noqa: E402

JUDGES = {"half": dict(pairs=20000, steps=1500), "full": dict(pairs=40000, steps=3000)}
LABELS = {"half": "half-trained judge", "full": "default judge"}


def answers_report(policy_path: str, rm_path: str) -> dict:
    """What a final policy writes, greedily, on the held-out problems, and what its judge thinks of it:
    sevens per answer, the four most frequent answers (as a person reads them), and, over the prompts it
    gets wrong, the share on which the judge scores its wrong answer above the right one."""
    from collections import Counter

    import torch

    from minirl.reward_model import sequence_reward
    from minirl.batches import encode_pairs
    from minirl.rollout import sample
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    policy = load_model(policy_path, tok, task, kind="GPT")[0].eval()
    rm = load_model(rm_path, tok, task, kind="ScalarHeadGPT")[0].eval()
    prompts = [task.prompt(a, b) for a, b in task.heldout()]
    texts = sample(policy, tok, task, prompts, greedy=True).texts
    wrong = [(p, t) for p, t in zip(prompts, texts) if not task.is_correct(p, t)]
    fooled = None
    if wrong:
        with torch.no_grad():
            sw = sequence_reward(rm, *encode_pairs(tok, [p for p, _ in wrong], [t for _, t in wrong]))
            sr = sequence_reward(rm, *encode_pairs(tok, [p for p, _ in wrong],
                                                   [task.answer(*task.operands(p)) for p, _ in wrong]))
        fooled = round((sw > sr).float().mean().item(), 3)
    return {"sevens_per_answer": round(sum(t.count("7") for t in texts) / len(texts), 2),
            "top_answers": [a for a, _ in Counter(task.read_answer(t) for t in texts).most_common(4)],
            "judge_prefers_wrong": fooled}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.05, 0.2])
    p.add_argument("--out", default=str(ROOT / "runs" / "rlhf_judges"))
    p.add_argument("--figure", default="ch05_judges", help="where the figure goes (PNG and SVG; a bare name: "
                   "chapters/figures/)")
    p.add_argument("--ppo_threads", type=int, default=1,
                   help="torch threads of the PPO runs (the judges use the default); the chapter's runs used 1")
    args = p.parse_args(argv)
    import torch

    from minirl.ppo import PPOConfig, train_ppo
    from minirl.reward_model import RewardModelConfig, train_reward_model
    from minirl.sft import SFTConfig, ensure_weak_init, train_sft
    out = Path(args.out)
    weak = ensure_weak_init(str(ROOT / "runs" / "weak"))
    if not finished(out / "judge_sft"):
        train_sft(SFTConfig(out=str(out / "judge_sft"), progress=False, overwrite=True))
    trunk = str(out / "judge_sft" / "model.pt")
    results = {}
    for name, kw in JUDGES.items():
        if not finished(out / f"rm_{name}"):
            train_reward_model(RewardModelConfig(init=trunk, sampler=weak, out=str(out / f"rm_{name}"),
                                                 progress=False, overwrite=True, **kw))
        rm = json.loads((out / f"rm_{name}" / "summary.json").read_text())
        for beta in args.betas:
            folder = out / f"ppo_{name}_b{beta:g}"
            if not finished(folder):
                threads = torch.get_num_threads()
                torch.set_num_threads(args.ppo_threads)
                train_ppo(PPOConfig(init=weak, reward_model=str(out / f"rm_{name}" / "model.pt"), kl_coef=beta,
                                    steps=150, eval_every=10, out=str(folder), progress=False, overwrite=True),
                          algo="rlhf")
                torch.set_num_threads(threads)
            rows = read_metrics(folder)
            results[(name, beta)] = rows
            last = rows[-1]
            print(json.dumps({"judge": name, "verifier_agreement": round(rm["verifier_agreement"], 3),
                              "sample_auc": round(rm["sample_auc"], 3),
                              "beta": beta, "held_out_accuracy": last["eval_accuracy"],
                              "learned_reward": round(last["score"], 2), "true_reward": round(last["true_reward"], 2),
                              "kl": round(last["kl"], 2),
                              "best_accuracy": max(r["eval_accuracy"] for r in rows if "eval_accuracy" in r),
                              **answers_report(str(folder / "model.pt"), str(out / f"rm_{name}" / "model.pt"))}))
    print(json.dumps({"start": weak, **answers_report(weak, str(out / "rm_half" / "model.pt"))}))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("score", "learned reward (the judge)"), ("eval_accuracy", "held-out accuracy (verifier, greedy)"),
              ("kl", r"KL($\pi\,\|\,\pi_\mathrm{ref}$) (nats per response)")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    styles = {"half": "--", "full": "-"}
    colors = ["tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple"]
    for ax, (key, title) in zip(axes, panels):
        for (name, beta), rows in results.items():
            pts = [(r["step"], r[key]) for r in rows if key in r]
            ax.plot(*zip(*pts), ls=styles[name], color=colors[args.betas.index(beta) % len(colors)],
                    label=f"{LABELS[name]}, β = {beta:g}")
        ax.set(title=title, xlabel="PPO iteration")
        ax.grid(alpha=0.3)
    start = json.loads((Path(weak).parent / "summary.json").read_text())["eval_accuracy"]
    axes[1].axhline(start, color="gray", ls=":", lw=1)
    axes[1].text(1, start + 0.01, "start", color="gray", fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle("RLHF from the weak init (29% held-out): the judge's quality decides, the leash limits the damage")
    fig.tight_layout()
    save_figure(fig, args.figure)


if __name__ == "__main__":
    main()
