"""How good must the reward model be? PPO against two judges of different quality, with and without
the KL leash, 3 seeds each; and which of the judge's ingredients makes it good, one at a time.
Writes runs/rlhf_judges/, results/rlhf_judges/results.json and chapters/figures/ch05_judges.{png,svg}.

    .venv/bin/python benchmarks/rlhf_judges.py            # 5 judges; 2 judges x 3 β x 3 seeds of PPO
    .venv/bin/python benchmarks/rlhf_judges.py --smoke    # tiny runs, to check the script

Every judge has one labeller (correct = 1, each digit 7 = 0.1, noise 0.2) and differs from the default
(`python -m minirl rlhf`'s: a trunk that can add, 40,000 labelled pairs, 3,000 Bradley-Terry steps) in
one factor only, so that the judge table varies one thing per row:
    full        the default
    pairs       20,000 pairs              (steps as the default)
    steps       1,500 steps               (pairs as the default)
    half        20,000 pairs, 1,500 steps (both: the "half-trained" judge PPO is run against)
    weak_trunk  the trunk is the weak start (37.6%), not an SFT model that can add
The trunk that can add is `python -m minirl sft` at its defaults (1,000 steps, 100% on add2). Each
judge is probed on the weak start's own samples (8 at temperature 1 on 200 held-out problems): the
sample AUC, and r², the share of the judge's score variance that correctness explains. PPO
whitens its advantages, so at iteration 1, when KL = 0, a judge with a small r² hands the policy
mostly noise at unit variance. PPO runs from the shipped weak start with PPO's defaults but 150
iterations, against the half-trained and the default judge, for each β in --betas and seed in
--seeds. Finished runs in the output folder are reused.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import finished, read_metrics, save_figure, write_results  # noqa: E402

JUDGES = {"full": dict(pairs=40000, steps=3000), "pairs": dict(pairs=20000, steps=3000),
          "steps": dict(pairs=40000, steps=1500), "half": dict(pairs=20000, steps=1500),
          "weak_trunk": dict(pairs=40000, steps=3000)}
PPO_JUDGES = ("half", "full")          # the judges PPO is run against
LABELS = {"half": "half-trained judge", "full": "default judge"}
SMOKE = {"pairs": 256, "steps": 4, "heldout_pairs": 32}


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


def judge_probe(rm_path: str, policy_path: str, prompts: int = 200, n: int = 8, smoke: bool = False) -> dict:
    """A judge on the policy's own samples (n at temperature 1 on `prompts` held-out problems,
    tasks.heldout_subset): the mean and sd of its score, the share of right samples, and r², the
    squared correlation of score and correctness (the share of the score's variance that
    correctness explains; PPO's whitened advantages at iteration 1 carry about this share of
    signal)."""
    import torch

    from minirl.reward_model import sequence_reward
    from minirl.rollout import sample
    from minirl.runs import load_model
    from minirl.tasks import heldout_subset, make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    policy = load_model(policy_path, tok, task, kind="GPT")[0].eval()
    rm = load_model(rm_path, tok, task, kind="ScalarHeadGPT")[0].eval()
    pairs = heldout_subset(task, 8 if smoke else prompts)
    with torch.no_grad():
        torch.manual_seed(0)
        rollout = sample(policy, tok, task, [task.prompt(a, b) for a, b in pairs], samples_per_prompt=n,
                         logprobs=False)
        score = sequence_reward(rm, rollout.tokens, rollout.mask).float()          # what PPO sees
    right = rollout.rewards.float()
    r = torch.corrcoef(torch.stack([score, right]))[0, 1].item() if 0 < right.mean() < 1 else 0.0
    return {"score_mean": round(score.mean().item(), 3), "score_sd": round(score.std().item(), 3),
            "right_share": round(right.mean().item(), 3), "r2": round(r * r, 3)}


def stats(values) -> tuple[float, float]:
    from statistics import mean, stdev
    values = list(values)
    return mean(values), (stdev(values) if len(values) > 1 else 0.0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--betas", type=float, nargs="+", default=[0.0, 0.05, 0.2])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=150, help="PPO iterations per run")
    p.add_argument("--out", default=str(ROOT / "runs" / "rlhf_judges"))
    p.add_argument("--figure", default="ch05_judges", help="where the figure goes (PNG and SVG; a bare name: "
                   "chapters/figures/)")
    p.add_argument("--ppo_threads", type=int, default=1,
                   help="torch threads of the PPO runs (the judges use the default); the chapter's runs used 1")
    p.add_argument("--smoke", action="store_true", help="tiny judges and runs, to check the script")
    args = p.parse_args(argv)
    import torch

    from minirl.ppo import PPOConfig, train_ppo
    from minirl.reward_model import RewardModelConfig, train_reward_model
    from minirl.sft import SFTConfig, ensure_weak_init, train_sft
    out = Path(args.out)
    weak = ensure_weak_init(str(ROOT / "runs" / "weak"))
    small = SMOKE if args.smoke else {}
    if not finished(out / "judge_sft"):
        train_sft(SFTConfig(out=str(out / "judge_sft"), progress=False, overwrite=True,
                            **({"steps": 4} if args.smoke else {})))
    trunk = str(out / "judge_sft" / "model.pt")
    numbers, data = {}, {"judges": {}, "runs": {}}
    for name, kw in JUDGES.items():
        if not finished(out / f"rm_{name}"):
            train_reward_model(RewardModelConfig(init=weak if name == "weak_trunk" else trunk, sampler=weak,
                                                 out=str(out / f"rm_{name}"), progress=False, overwrite=True,
                                                 **{**kw, **small}))
        rm = json.loads((out / f"rm_{name}" / "summary.json").read_text())
        probe = judge_probe(str(out / f"rm_{name}" / "model.pt"), weak, smoke=args.smoke)
        judge = {"pairs": kw["pairs"], "steps": kw["steps"], "pair_accuracy": rm["heldout_pair_accuracy"],
                 "verifier_agreement": rm["verifier_agreement"], "sample_auc": rm["sample_auc"], **probe}
        data["judges"][name] = judge
        numbers.update({f"judge.{name}.{k}": v for k, v in judge.items()})
        print(json.dumps({"judge": name, **judge}), flush=True)
    for name in PPO_JUDGES:
        for beta in args.betas:
            finals = []
            for seed in args.seeds:
                folder = out / f"ppo_{name}_b{beta:g}_s{seed}"
                if not finished(folder):
                    threads = torch.get_num_threads()
                    torch.set_num_threads(args.ppo_threads)
                    train_ppo(PPOConfig(init=weak, reward_model=str(out / f"rm_{name}" / "model.pt"),
                                        kl_coef=beta, seed=seed, steps=2 if args.smoke else args.steps,
                                        eval_every=10, out=str(folder), progress=False, overwrite=True,
                                        **({"batch_size": 4} if args.smoke else {})),
                              algo="rlhf")
                    torch.set_num_threads(threads)
                rows = read_metrics(folder)
                last = rows[-1]
                evals = [r for r in rows if "eval_accuracy" in r]
                final = {"accuracy": last["eval_accuracy"], "score": last["score"], "kl": last["kl"],
                         "first_eval": evals[0]["eval_accuracy"], "first_eval_step": evals[0]["step"],
                         "lowest": min(r["eval_accuracy"] for r in evals),
                         "best": max(r["eval_accuracy"] for r in rows if "eval_accuracy" in r),
                         "kl_first": rows[0]["kl"],
                         **answers_report(str(folder / "model.pt"), str(out / f"rm_{name}" / "model.pt"))}
                finals.append(final)
                data["runs"][f"{name}.b{beta:g}.s{seed}"] = {"final": final, "curve": [
                    {k: r[k] for k in ("step", "score", "kl", "eval_accuracy") if k in r} for r in rows]}
                print(json.dumps({"judge": name, "beta": beta, "seed": seed, **final}), flush=True)
            for key in ("accuracy", "score", "kl", "judge_prefers_wrong", "best", "first_eval", "lowest"):
                got = [f[key] for f in finals if f[key] is not None]
                if got:
                    numbers[f"{name}.b{beta:g}.{key}.mean"], numbers[f"{name}.b{beta:g}.{key}.sd"] = stats(got)
            numbers[f"{name}.b{beta:g}.min"] = min(f["accuracy"] for f in finals)
            numbers[f"{name}.b{beta:g}.max"] = max(f["accuracy"] for f in finals)
    numbers["start"] = json.loads((Path(weak).parent / "summary.json").read_text())["eval_accuracy"]
    numbers["start_judged_wrong"] = answers_report(weak, str(out / "rm_half" / "model.pt"))["judge_prefers_wrong"]
    numbers["seeds"], numbers["steps"] = len(args.seeds), args.steps
    numbers["table"] = ppo_table(numbers, args.betas, len(args.seeds))
    numbers["judge_table"] = judge_table(data["judges"])
    if not args.smoke:
        write_results("rlhf_judges", numbers, data, threads=args.ppo_threads)
    save_figure(figure(data["runs"], args.betas, args.seeds, numbers["start"]),
                out / "judges.png" if args.smoke else args.figure)
    return numbers


def ppo_table(numbers: dict, betas, seeds: int) -> str:
    """Chapter 5's reward-hacking table: per judge and β, mean ± sd over the seeds."""
    lines = [f"| judge | $\\beta$ | learned reward | held-out accuracy (mean ± sd, {seeds} seeds) | range "
             "| KL (nats/response) | judge prefers the policy's wrong answer |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in PPO_JUDGES:
        for beta in betas:
            g = lambda k: numbers[f"{name}.b{beta:g}.{k}"]  # noqa: E731
            wrong = (f"{100 * g('judge_prefers_wrong.mean'):.0f}%"
                     if f"{name}.b{beta:g}.judge_prefers_wrong.mean" in numbers else "—")
            lines.append(f"| {LABELS[name]} | {beta:g} | {g('score.mean'):+.2f} | {100 * g('accuracy.mean'):.1f}% ± "
                         f"{100 * g('accuracy.sd'):.1f} | {100 * g('min'):.1f}–{100 * g('max'):.1f}% | "
                         f"{g('kl.mean'):.1f} | {wrong} |")
    return "\n".join(lines) + "\n"


def judge_table(judges: dict) -> str:
    """The judges, one factor changed per row against the default."""
    what = {"full": "the default of `minirl rlhf`", "pairs": "half the labelled pairs",
            "steps": "half the training steps", "half": "half the pairs and half the steps (half-trained)",
            "weak_trunk": "the weak start as trunk"}
    lines = ["| judge | trunk | labelled pairs / steps | held-out pairwise accuracy | verifier agreement "
             "| sample AUC | r² on the start's samples |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, j in judges.items():
        trunk = "weak start" if name == "weak_trunk" else "SFT that can add"
        lines.append(f"| {what[name]} | {trunk} | {j['pairs']:,} / {j['steps']:,} | {100 * j['pair_accuracy']:.1f}% "
                     f"| {100 * j['verifier_agreement']:.1f}% | {j['sample_auc']:.2f} | {j['r2']:.2f} |")
    return "\n".join(lines) + "\n"


def figure(runs: dict, betas, seeds, start: float):
    """Learned reward, held-out accuracy and KL against PPO iteration: one line per (judge, β), the
    mean over seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from statistics import mean
    panels = [("score", "learned reward (the judge)"), ("eval_accuracy", "held-out accuracy (verifier, greedy)"),
              ("kl", r"KL($\pi\,\|\,\pi_\mathrm{ref}$) (nats per response)")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    styles = {"half": "--", "full": "-"}
    colors = ["tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple"]
    for ax, (key, title) in zip(axes, panels):
        for name in PPO_JUDGES:
            for beta in betas:
                curves = [{r["step"]: r[key] for r in runs[f"{name}.b{beta:g}.s{s}"]["curve"] if key in r}
                          for s in seeds]
                steps = sorted(set.intersection(*(set(c) for c in curves)))
                ax.plot(steps, [mean(c[t] for c in curves) for t in steps], ls=styles[name],
                        color=colors[list(betas).index(beta) % len(colors)], label=f"{LABELS[name]}, β = {beta:g}")
        ax.set(title=title, xlabel="PPO iteration")
        ax.grid(alpha=0.3)
    axes[1].axhline(start, color="gray", ls=":", lw=1)
    axes[1].text(1, start + 0.01, "start", color="gray", fontsize=8)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"RLHF from the weak start ({start:.1%}), mean of {len(seeds)} seeds: the judge decides")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
