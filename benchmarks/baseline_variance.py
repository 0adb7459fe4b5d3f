"""Does the mean-reward baseline lower REINFORCE's variance on the tiny GPT (chapter 3, §3.4)? The
score vectors of right and wrong samples, the optimal constant baseline b*, and the gradient's
variance with b = 0, b = mean reward and b = b*, at three policies; then REINFORCE trained with
`--baseline none` against `--baseline mean`.

    .venv/bin/python benchmarks/baseline_variance.py            # 3 policies x 3 seeds; 2 x 3 runs
    .venv/bin/python benchmarks/baseline_variance.py --smoke    # tiny sizes, to check the script

The policies: the shipped weak start, and the shortest SFT continuations of it (in steps of 10, constant
learning rate) whose sampled success rate p first reaches 0.3 and 0.5. For each policy and seed, N
samples at temperature 1 (8 per training prompt), and for each sample i its score vector
g_i = ∇ log π(y_i | x_i) (one backward pass per sample), its reward R_i and its length. With those,
for any constant b the one-sample estimator x_i = g_i (R_i - b) has total variance
    V(b) = mean_i (R_i - b)² ‖g_i‖² - ‖mean_i g_i R_i - b mean_i g_i‖²,
minimised by b* = Σ R_i ‖g_i‖² / Σ ‖g_i‖² (Greensmith et al. 2004) up to the small second term.
Reported: mean ‖g‖² of right and wrong samples, overall and at the most common length of the right
ones (length is a confound: longer answers sum more token scores), b*, V(0), V(p), V(b*).
Training: `python -m minirl reinforce --init WEAK --seed S --baseline none|mean` at its defaults.
Writes runs/baseline_variance/ and results/baseline_variance/results.json.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from statistics import mean, stdev

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, write_results  # noqa: E402


def sampled_success(path: str, n: int = 512, seed: int = 0) -> float:
    import torch

    from minirl.rollout import sample
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    model = load_model(path, tok, task, kind="GPT")[0].eval()
    torch.manual_seed(seed)
    prompts = [task.prompt(a, b) for a, b in task.sample_train(n // 8, random.Random(seed))]
    with torch.no_grad():
        return float(sample(model, tok, task, prompts, 8, logprobs=False).rewards.float().mean())


def one_sample_variance(rewards, norms, cross, b: float) -> float:
    """Total variance E‖x - E x‖² of x_i = g_i (R_i - b) from running sums: rewards R_i, norms
    ‖g_i‖², cross = (‖ḡ‖², ḡ·m, ‖m‖²) with ḡ = mean g_i and m = mean R_i g_i."""
    first = mean((r - b) ** 2 * q for r, q in zip(rewards, norms))      # mean ‖x_i‖²
    return first - (cross[2] - 2 * b * cross[1] + b * b * cross[0])     # minus ‖mean x‖² = ‖m - b ḡ‖²


def score_vectors(path: str, n: int, seed: int) -> dict:
    """The per-sample statistics of module docstring for one policy and seed."""
    import torch

    from minirl.batches import token_logprobs
    from minirl.rollout import sample
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    model = load_model(path, tok, task, kind="GPT")[0]
    torch.manual_seed(seed)
    prompts = [task.prompt(a, b) for a, b in task.sample_train(n // 8, random.Random(1000 + seed))]
    with torch.no_grad():
        rollout = sample(model.eval(), tok, task, prompts, 8, logprobs=False)
    params = [p for p in model.parameters() if p.requires_grad]
    s0 = [torch.zeros_like(p) for p in params]                 # Σ g_i
    s1 = [torch.zeros_like(p) for p in params]                 # Σ R_i g_i
    norms, rewards, lengths = [], rollout.rewards.float().tolist(), rollout.mask.sum(1).tolist()
    for i in range(rollout.tokens.size(0)):
        model.zero_grad()
        (token_logprobs(model, rollout.tokens[i:i + 1]) * rollout.mask[i:i + 1]).sum().backward()
        grads = [p.grad for p in params]
        norms.append(float(sum((g * g).sum() for g in grads)))
        for a, b_, g in zip(s0, s1, grads):
            a += g
            b_ += rewards[i] * g
    N = len(norms)
    cross = [float(sum((a * a).sum() for a in s0)) / N ** 2, float(sum((a * b_).sum() for a, b_ in zip(s0, s1))) / N ** 2,
             float(sum((b_ * b_).sum() for b_ in s1)) / N ** 2]          # ‖ḡ‖², ḡ·(gR)‾, ‖(gR)‾‖²

    variance = lambda b: one_sample_variance(rewards, norms, cross, b)  # noqa: E731

    right = [q for q, r in zip(norms, rewards) if r > 0]
    wrong = [q for q, r in zip(norms, rewards) if r == 0]
    modal = max(set(l for l, r in zip(lengths, rewards) if r > 0), key=lengths.count) if right else None
    p = mean(rewards)
    b_star = sum(r * q for r, q in zip(rewards, norms)) / sum(norms)
    at = lambda keep: [q for q, l, r in zip(norms, lengths, rewards) if l == modal and keep(r)]  # noqa: E731
    return {"p": p, "b_star": b_star, "V0": variance(0.0), "Vp": variance(p), "Vstar": variance(b_star),
            "norm2_right": mean(right) if right else None, "norm2_wrong": mean(wrong) if wrong else None,
            "len_right": mean(l for l, r in zip(lengths, rewards) if r > 0) if right else None,
            "len_wrong": mean(l for l, r in zip(lengths, rewards) if r == 0) if wrong else None,
            "modal_length": modal, "norm2_right_modal": mean(at(lambda r: r > 0)) if at(lambda r: r > 0) else None,
            "norm2_wrong_modal": mean(at(lambda r: r == 0)) if at(lambda r: r == 0) else None}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n", type=int, default=512, help="samples per policy and seed")
    p.add_argument("--targets", type=float, nargs="+", default=[0.3, 0.5])
    p.add_argument("--out", default=str(ROOT / "runs" / "baseline_variance"))
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args(argv)
    from minirl.sft import ensure_weak_init
    out = Path(args.out)
    weak = ensure_weak_init(str(ROOT / "runs" / "weak"))
    n = 16 if args.smoke else args.n
    policies, k = {"weak": weak}, 0
    for target in args.targets:                       # the shortest continuation reaching each target
        while True:
            k += 2 if args.smoke else 10
            folder = out / f"sft_more_{k}"
            cli_run(folder, "sft", "--init", weak, "--steps", str(k), "--lr_schedule", "constant",
                    "--eval_every", str(k))
            got = sampled_success(str(folder / "model.pt"))
            print(f"SFT +{k} steps: sampled success {got:.3f}", flush=True)
            if got >= target or args.smoke:
                policies[f"p{target:g}"] = str(folder / "model.pt")
                break
    numbers, data = {}, {"policies": {}, "runs": {}}
    for name, path in policies.items():
        per = [score_vectors(path, n, s) for s in args.seeds]
        data["policies"][name] = {"path": Path(path).parent.name, "seeds": per}
        for key in per[0]:
            vals = [x[key] for x in per if x[key] is not None]
            if vals:
                numbers[f"{name}.{key}"] = mean(vals)
                numbers[f"{name}.{key}.sd"] = stdev(vals) if len(vals) > 1 else 0.0
        ratios = [x["Vp"] / x["V0"] for x in per if x["V0"] > 0]          # V(0) = 0 when no sample is right
        if ratios:
            numbers[f"{name}.Vp_over_V0"] = mean(ratios)
            numbers[f"{name}.Vp_over_V0.min"], numbers[f"{name}.Vp_over_V0.max"] = min(ratios), max(ratios)
        print(name, {k: round(v, 4) for k, v in numbers.items() if k.startswith(name) and isinstance(v, float)}, flush=True)
    for baseline in ("none", "mean"):
        finals = []
        for seed in args.seeds:
            smoke = ["--steps", "2", "--batch_size", "8"] if args.smoke else []
            _, s = cli_run(out / f"reinforce_{baseline}_s{seed}", "reinforce", "--init", weak, "--seed", str(seed),
                           "--baseline", baseline, *smoke)
            finals.append(s["eval_accuracy"])
        data["runs"][baseline] = finals
        numbers[f"train.{baseline}.mean"] = mean(finals)
        numbers[f"train.{baseline}.sd"] = stdev(finals) if len(finals) > 1 else 0.0
        numbers[f"train.{baseline}.per_seed"] = ", ".join(f"{100 * f:.1f}" for f in finals)
    numbers["table"] = table(numbers, list(policies))
    print(numbers["table"])
    if not args.smoke:
        write_results("baseline_variance", numbers, data)
    return numbers


def table(numbers: dict, names: list[str]) -> str:
    label = {"weak": "the weak start"}
    lines = ["| policy | sampled success p | ‖∇log π‖², right / wrong | same length, right / wrong | b* | "
             "V(p) / V(0) |", "| --- | --- | --- | --- | --- | --- |"]
    for name in names:
        g = lambda k: numbers.get(f"{name}.{k}")  # noqa: E731
        f2 = lambda k: "—" if g(k) is None else f"{g(k):.2f}"  # noqa: E731
        same = f"{f2('norm2_right_modal')} / {f2('norm2_wrong_modal')}"
        ratio = ("—" if g("Vp_over_V0") is None else
                 f"{g('Vp_over_V0'):.2f} ({g('Vp_over_V0.min'):.2f}–{g('Vp_over_V0.max'):.2f})")
        lines.append(f"| {label.get(name, 'SFT continued to p ≥ ' + name[1:])} | {g('p'):.3f} | "
                     f"{f2('norm2_right')} / {f2('norm2_wrong')} | {same} | {g('b_star'):.3f} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
