"""The controlled DPO experiments of chapter 6's lab appendix (chapters/lab/06-dpo.md: pair source x
loss, the beta x learning-rate grid, online DPO): DPO from the one weak start, several seeds, with SFT on
the chosen answers as the control. Prints a markdown table and writes runs/dpo_experiments/results.json.

    .venv/bin/python benchmarks/dpo_experiments.py                   # 3 sources x 3 losses x 3 seeds + SFT
    .venv/bin/python benchmarks/dpo_experiments.py --results dpo_pairs   # the same, into results/dpo_pairs
    .venv/bin/python benchmarks/dpo_experiments.py --steps 2 --seeds 0 --sources offset --losses ipo   # smoke
    .venv/bin/python benchmarks/dpo_experiments.py --grid --sources on_policy --losses sigmoid --no-control \
        --out runs/dpo_grid                # beta in {0.03, 0.1, 0.3, 1} x lr in {1e-5, 3e-5, 1e-4}, warm-up 30
    .venv/bin/python benchmarks/dpo_experiments.py --sources on_policy --losses sigmoid ipo --rounds 4 \
        --no-control --out runs/dpo_online   # online DPO: 4 rounds of fresh pairs from the current policy
    .venv/bin/python benchmarks/dpo_experiments.py --sources on_policy --losses sigmoid --rounds 8 --steps 600 \
        --n_pairs 2048 --beta 3 --lr 3e-4 --threads 2 --no-control --out runs/dpo_online   # the README's online DPO
    .venv/bin/python benchmarks/dpo_experiments.py --group_stats runs/weak/model.pt   # signal in its samples
    .venv/bin/python benchmarks/dpo_experiments.py --table_only --at 23 48   # a saved table at other wall times

Every DPO run is `python -m minirl dpo --init runs/weak/model.pt --seed S --steps N --pairs SOURCE` plus
the loss's flags (sigmoid: none; ipo: --loss_type ipo; sigmoid+nll: --rpo_alpha 1), 64 pairs a step,
beta 0.1 and lr 1e-4 unless --beta / --lr say otherwise (LAB_DEFAULTS: the lab tables' settings).
The control is `python -m minirl sft --init
runs/weak/model.pt --seed S --steps N --batch_size 64 --lr 1e-4`: the same number of steps on the
right answers (the chosen side of the corrupt and offset pairs) without any rejected answer.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import cli_run, grouped, markdown_table, results_json, write_results  # noqa: E402

SOURCES = ("corrupt", "offset", "on_policy")
LOSSES = {"sigmoid": [], "ipo": ["--loss_type", "ipo"], "sigmoid+nll": ["--rpo_alpha", "1"]}


LAB_DEFAULTS = {"beta": 0.1, "lr": 1e-4}     # the settings these tables were made with (DPO's own
                                             # defaults are now chapter 6's working recipe)


def run_all(args, out: Path) -> list[dict]:
    from minirl.sft import ensure_weak_init
    init = args.init or ensure_weak_init(str(ROOT / "runs" / "weak"))
    common = ["--init", init, "--steps", str(args.steps), "--eval_every", str(args.eval_every)]
    given = (("rounds", args.rounds if args.rounds > 1 else None), ("beta", args.beta), ("lr", args.lr),
             ("n_pairs", args.n_pairs))
    set_here = [(k, v) for k, v in given if v is not None]                # flags given here, in every DPO job
    shared = [x for k, v in set_here for x in (f"--{k}", f"{v:g}")]
    shared += [x for k, v in LAB_DEFAULTS.items() if k not in dict(set_here) for x in (f"--{k}", f"{v:g}")]
    tag = "".join(f" {k}={v:g}" for k, v in set_here)                     # ' rounds=4 beta=3': in the run's name
    jobs = [(f"{s}/{loss}{tag}", ["dpo", "--pairs", s, *LOSSES[loss], *shared])
            for s in args.sources for loss in args.losses]
    if args.grid:                           # every source x loss at every beta x lr, with a linear warm-up
        jobs = [(f"{s}/{loss} beta={b:g} lr={lr:g}", ["dpo", "--pairs", s, *LOSSES[loss], "--beta", f"{b:g}",
                                                      "--lr", f"{lr:g}", "--warmup", str(args.warmup)])
                for s in args.sources for loss in args.losses for b in args.betas for lr in args.lrs]
    if args.control:
        jobs.append(("SFT on the right answers (control)", ["sft", "--batch_size", "64", "--lr", "1e-4"]))
    results = []
    for name, flags in jobs:
        for seed in args.seeds:
            slug = name.split(" (")[0] if args.grid or tag else name.split(" ")[0]
            folder = out / f"{slug.replace('/', '_').replace('+', '_').replace(' ', '_').replace('=', '')}_s{seed}"
            rows, summary = cli_run(folder, *flags, *common, "--seed", str(seed), threads=args.threads)
            last = next((r for r in reversed(rows) if "heldout_pref_accuracy" in r), {})
            results.append({"run": name, "seed": seed, "final_accuracy": summary["eval_accuracy"],
                            "min_accuracy": min(r["eval_accuracy"] for r in rows if "eval_accuracy" in r),
                            "heldout_pref_accuracy": last.get("heldout_pref_accuracy"),
                            "heldout_logp_correct": last.get("heldout_logp_correct"),
                            "wall_seconds": summary["wall_seconds"],
                            "curve": [(r["seconds"], r["eval_accuracy"]) for r in rows if "eval_accuracy" in r]})
            print(json.dumps({k: v for k, v in results[-1].items() if k != "curve"}), flush=True)
    return results


def at_time(curve, seconds: float) -> float | None:
    """Held-out accuracy of the last evaluation at or before `seconds` (None before the first)."""
    seen = [a for t, a in curve if t <= seconds + 1e-9]
    return seen[-1] if seen else None


def table(results: list[dict], at: list[float] | None = None) -> str:
    """One row per arm; each "at T s" column is each seed's accuracy at wall time T (equal wall time,
    where the final column is equal steps); T = the fastest run of the table unless `at` lists times."""
    times = at or [min(r["wall_seconds"] for r in results)]
    rows = []
    for name in dict.fromkeys(r["run"] for r in results):
        runs = [r for r in results if r["run"] == name]
        mean = lambda k: sum(r[k] for r in runs) / len(runs) if all(r[k] is not None for r in runs) else None  # noqa
        rows.append({"run": name, "final": " / ".join(f"{100 * r['final_accuracy']:.1f}" for r in runs),
                     "mean": 100 * mean("final_accuracy"), "dip": 100 * min(r["min_accuracy"] for r in runs),
                     "pref": mean("heldout_pref_accuracy"), "logp": mean("heldout_logp_correct"),
                     "wall": mean("wall_seconds"),
                     **{f"at_{T:g}": " / ".join("–" if (a := at_time(r.get("curve", []), T)) is None
                                                else f"{100 * a:.1f}" for r in runs) for T in times}})
    return markdown_table(rows, [("run", None), ("final", None), ("mean", "{:.1f}"), ("dip", "{:.1f}"),
                                 ("pref", "{:.2f}"), ("logp", "{:.2f}"), ("wall", "{:.0f}"),
                                 *[(f"at_{T:g}", None) for T in times]],
                          headers={"final": "held-out % per seed", "mean": "mean %", "dip": "lowest % seen",
                                   "pref": "held-out pref. acc.", "logp": "log pi(right)", "wall": "s per run",
                                   **{f"at_{T:g}": f"held-out % at {T:.0f} s" for T in times}})


def group_stats(paths: list[str], problems: int = 2048, samples: int = 8) -> list[dict]:
    """How much signal a policy's own samples carry: for `problems` training problems (seed 0) and
    `samples` answers each at temperature 1, the share of right answers and of problems whose
    answers are all wrong (online DPO pairs them with the demonstration; GRPO's gradient is 0) or
    all right (no pair at all)."""
    import random

    import torch

    from minirl.rollout import sample
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    task, tok, out = make_task("add2"), CharTokenizer(), []
    for path in paths:
        model = load_model(path, tok, task, kind="GPT")[0].eval()
        torch.manual_seed(0)
        prompts = [task.prompt(a, b) for a, b in task.sample_train(problems, random.Random(0))]
        r = sample(model, tok, task, prompts, samples_per_prompt=samples, logprobs=False).rewards.view(-1, samples)
        right = r.sum(1)                                                     # (problems,)
        out.append({"model": path, "sample_accuracy": r.mean().item(), "all_wrong": (right == 0).float().mean().item(),
                    "all_right": (right == samples).float().mean().item()})
        print(json.dumps(out[-1]), flush=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    p.add_argument("--losses", nargs="+", default=list(LOSSES), choices=list(LOSSES))
    p.add_argument("--no-control", dest="control", action="store_false", help="skip the SFT control")
    p.add_argument("--grid", action="store_true", help="the beta x lr grid (with --warmup) for each source x loss")
    p.add_argument("--betas", type=float, nargs="+", default=[0.03, 0.1, 0.3, 1.0])
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-5, 3e-5, 1e-4])
    p.add_argument("--warmup", type=int, default=30, help="warm-up steps of the grid's runs")
    p.add_argument("--rounds", type=int, default=1, help="online DPO: rounds of fresh on-policy pairs (1 = offline)")
    p.add_argument("--beta", type=float, default=None, help="DPO's beta, in every run but the grid's (default: 0.1)")
    p.add_argument("--lr", type=float, default=None, help="DPO's lr, in every run but the grid's (default: 1e-4)")
    p.add_argument("--n_pairs", type=int, default=None,
                   help="problems sampled per round (online) or pairs (offline), in every run but the grid's")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--eval_every", type=int, default=25)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--init", default=None, help="the start (default: the weak start, runs/weak/model.pt)")
    p.add_argument("--out", default=str(ROOT / "runs" / "dpo_experiments"))
    p.add_argument("--at", type=float, nargs="+", default=None, metavar="SECONDS",
                   help="wall times of the equal-time columns (default: the fastest run's)")
    p.add_argument("--table_only", action="store_true", help="only print the table of --out's results.json")
    p.add_argument("--results", default=None, metavar="NAME", help="also write results/NAME/results.json "
                   "(the table, and per arm the final accuracy per seed and its mean) for the chapters")
    p.add_argument("--group_stats", nargs="+", metavar="MODEL", default=None,
                   help="only print each model's share of right samples and of all-wrong / all-right problems")
    args = p.parse_args(argv)
    if args.group_stats:
        return group_stats(args.group_stats)
    out = Path(args.out)
    results = results_json(out, args.table_only, lambda: run_all(args, out))
    print(table(results, args.at))
    if args.results:
        write_results(args.results, numbers(results, args.at),
                      data=[{k: v for k, v in r.items() if k != "curve"} for r in results], threads=args.threads)
    return results


def slug(run: str) -> str:
    """'corrupt/sigmoid+nll' -> corrupt.sigmoid_nll; 'SFT on the right answers (control)' -> control."""
    return "control" if "control" in run else run.replace("/", ".").replace("+", "_").replace(" ", "_")


def numbers(results: list[dict], at: list[float] | None = None) -> dict:
    """The chapters' numbers: the table, and per arm the final held-out accuracy per seed and its mean."""
    out = {"table": table(results, at) + "\n"}
    for name, runs in grouped(results, "run").items():
        out.update({f"{slug(name)}.s{r['seed']}": r["final_accuracy"] for r in runs})
        out[f"{slug(name)}.mean"] = sum(r["final_accuracy"] for r in runs) / len(runs)
        out[f"{slug(name)}.lowest"] = min(r["min_accuracy"] for r in runs)
    return out


if __name__ == "__main__":
    main()
