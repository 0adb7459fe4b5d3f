"""minirl.compare: the pure helpers against hand-computed values, bad input, and a smoke run of the
`compare` command (two algorithms, two seeds, a tiny budget)."""
import csv
import math
import random
import re
from fractions import Fraction

import pytest

from minirl.arms import Stage, algo_config, completions_per_step
from minirl.compare import CompareConfig, equal_time, experiment_figures, plan, run_compare
from minirl.passk import pass_at_k
from minirl.tasks import partial_credit
from minirl.memory import models_held
from minirl.report import first_crossing, markdown_table, read_csv, summarize, value_at, write_csv
from minirl.config import ConfigError
from minirl.tasks import make_task


# --- pure functions -------------------------------------------------------------------------
@pytest.mark.parametrize("n,c,k,want", [(5, 2, 1, 0.4), (5, 2, 2, 0.7), (5, 4, 2, 1.0), (4, 0, 3, 0.0),
                                        (10, 3, 5, 1 - 21 / 252), (16, 1, 8, 0.5)])
def test_pass_at_k_hand_values(n, c, k, want):
    assert pass_at_k(n, c, k) == pytest.approx(want, abs=1e-12)


def test_pass_at_k_exact_and_properties():
    for n, c, k in [(1000, 10, 100), (200, 1, 100), (64, 63, 2)]:
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12)
    n = 16
    for c in range(n + 1):
        assert pass_at_k(n, c, 1) == pytest.approx(c / n)
        vals = [pass_at_k(n, c, k) for k in range(1, n + 1)]
        assert all(a <= b + 1e-12 for a, b in zip(vals, vals[1:])), "pass@k must not decrease with k"
    # unbiased: the mean over random subsets of size k of "any correct" equals pass@k
    rng, n, c, k = random.Random(0), 10, 3, 4
    hits = sum(any(rng.sample([1] * c + [0] * (n - c), k)) for _ in range(20000)) / 20000
    assert hits == pytest.approx(pass_at_k(n, c, k), abs=0.01)
    for bad in [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)


def test_partial_credit_matches_the_task_reward():
    task, rng = make_task("add2", dense=True), random.Random(1)
    assert partial_credit("940", "94", 4) == pytest.approx(2 / 3)
    assert partial_credit("9400", "94", 4) == 0.5 and partial_credit("94000", "94", 4) == 0.0
    for bad in ["", "9a", "٩٤", None, 7, "-4"]:
        assert partial_credit(bad, "94", 4) == 0.0
    for a, b in task.sample_train(300, rng):
        ans = task.answer(a, b)
        for resp in (ans, task.wrong_answer(a, b, rng), ans[1:], ans + "1", " " + ans, "x" + ans):
            assert partial_credit(resp, ans, task.max_answer_len + 1) == task.reward(task.prompt(a, b), resp)


def test_budget_accounting_and_models_held():
    assert completions_per_step("sft", algo_config("sft")) == 64                 # demonstrations
    assert completions_per_step("dpo", algo_config("dpo")) == 2 * 64             # chosen + rejected
    assert completions_per_step("grpo", algo_config("grpo", group_size=4, batch_size=8)) == 32
    assert completions_per_step("ppo", algo_config("ppo", batch_size=8, samples_per_prompt=3)) == 24
    assert completions_per_step("reinforce", algo_config("reinforce")) == 32 * 8
    held = {a: models_held(a, algo_config(a)) for a in ("sft", "reinforce", "a2c", "ppo", "dpo", "grpo", "rlhf")}
    assert held == {"sft": 1, "reinforce": 1, "a2c": 2, "ppo": 3, "dpo": 1, "grpo": 1, "rlhf": 4}
    assert models_held("grpo", algo_config("grpo", kl_coef=0.04)) == 2             # + frozen reference


def test_updates_per_step_counts_the_policys_optimizer_steps():
    from minirl.arms import updates_per_step
    assert updates_per_step("ppo", algo_config("ppo")) == 2 * 2                 # epochs x minibatches
    assert updates_per_step("ppo", algo_config("ppo", epochs=1, minibatches=1)) == 1
    assert updates_per_step("grpo", algo_config("grpo")) == 1
    assert updates_per_step("grpo", algo_config("grpo", inner_steps=4)) == 4
    assert all(updates_per_step(a, algo_config(a)) == 1 for a in ("sft", "reinforce", "a2c", "dpo"))


def test_t_quantile_matches_the_table_values():
    from minirl.report import t_975
    # Student's t, 97.5% quantile, from standard tables
    for df, t in [(1, 12.706), (4, 2.776), (9, 2.262), (10, 2.228), (20, 2.086), (60, 2.000), (1000, 1.962)]:
        assert t_975(df) == pytest.approx(t, rel=2e-3)
    assert all(t_975(d) > t_975(d + 1) for d in range(1, 200))                  # falls toward z = 1.96


def test_curve_readers():
    xs, ys = [0, 10, 20, 30], [0.2, 0.5, 0.95, 0.9]
    assert first_crossing(xs, ys, 0.9) == 20 and first_crossing(xs, ys, 0.99) is None
    assert value_at(xs, ys, 25) == 0.95 and value_at(xs, ys, 30) == 0.9 and value_at([5], [0.1], 1) is None


def test_summarize_hand_computed():
    curves = [{"arm": "a", "seed": s, "completions": x, "seconds": t, "eval_accuracy": y}
              for s, pts in [(0, [(0, 0, 0.3), (100, 10, 0.92), (200, 20, 0.96)]),
                             (1, [(0, 0, 0.3), (100, 12, 0.6), (200, 24, 0.8)])] for x, t, y in pts]
    results = [{"arm": "a", "seed": s, "final_accuracy": f, "wall_seconds": w, "peak_memory_mb": 10.0 + s,
                "models_held": 1, "updates": 20} for s, f, w in [(0, 0.96, 20), (1, 0.8, 24)]]
    (row,) = summarize(curves, results, T=15)
    assert row["final_accuracy"] == pytest.approx(0.88)
    assert row["final_accuracy_std"] == pytest.approx((2 * 0.08 ** 2) ** 0.5, abs=1e-4)
    # 95% t-interval of the mean of 2: t(0.975, df=1) = 12.706 times sd / sqrt(2) = 12.706 * 0.08
    assert row["final_accuracy_ci95"] == pytest.approx(12.706 * 0.08, abs=1e-3) and row["updates"] == 20
    assert row["accuracy_at_15s"] == pytest.approx((0.92 + 0.6) / 2)
    assert row["reached_90"] == 1 and row["seconds_to_90"] == 10 and row["completions_to_90"] == 100
    assert row["peak_memory_mb"] == 10.5 and row["models_held"] == 1
    assert "| a | 2 |" in markdown_table([row])


def test_markdown_table_columns_formats_and_missing_values():
    rows = [{"name": "x", "share": 0.25, "n": 1200, "t": float("nan")}, {"name": "y", "share": None, "n": 3}]
    assert markdown_table(rows).splitlines() == ["| name | share | n | t |", "| --- | --- | --- | --- |",
                                                 "| x | 0.25 | 1200 | - |", "| y | - | 3 | - |"]
    md = markdown_table(rows, [("n", "{:,}"), "share", ("name", "{}")], {"n": "count"})
    assert md.splitlines()[0] == "| count | share | name |" and md.splitlines()[2] == "| 1,200 | 0.25 | x |"


def test_csv_round_trip_keeps_numbers(tmp_path):
    rows = [{"arm": "sft p=0.3", "seed": 0, "seconds": 1.25, "acc": float("nan")}, {"arm": "grpo", "seed": 1, "x": 7}]
    write_csv(tmp_path / "r.csv", rows)
    back = read_csv(tmp_path / "r.csv")
    assert back[0]["arm"] == "sft p=0.3" and back[0]["seed"] == 0 and back[0]["seconds"] == 1.25
    assert math.isnan(back[0]["acc"]) and back[0]["x"] is None and back[1] == {"arm": "grpo", "seed": 1,
                                                                              "seconds": None, "acc": None, "x": 7}


def test_plans_hold_the_budget_fixed():
    cfg = CompareConfig(completions=4096)
    for exp in ("algos", "ceiling", "countdown", "hybrid", "dense", "updates"):
        cfg.experiment = exp
        for name, stages, start in plan(cfg):
            assert sum(s.completions for s in stages) == 4096, (exp, name)
    cfg.experiment = "hybrid"
    assert [s.algo for s in plan(cfg)[2][1]] == ["sft", "grpo"]
    cfg.experiment = "dense"
    assert [s.overrides["dense_reward"] for _, (s,), _ in plan(cfg)] == [False, True]
    cfg.experiment = "updates"
    assert [(s.algo, s.overrides.get("inner_steps"), s.overrides.get("epochs")) for _, (s,), _ in plan(cfg)] == [
        ("grpo", None, None), ("grpo", 4, None), ("ppo", None, None), ("ppo", None, 1)]


# --- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize("kw,words", [
    (dict(algos="sft,ppo2"), "ppo2"), (dict(algos=" , "), "empty"), (dict(algos="sft,sft"), "twice"),
    (dict(seeds=0), "--seeds"), (dict(completions=-5), "--completions"), (dict(evals=0), "--evals"),
    (dict(experiment="everything"), "--experiment"), (dict(rl_algo="dpo"), "--rl_algo"),
    (dict(p_wrong="0,abc"), "--p_wrong"), (dict(p_wrong="0.3,1.5"), "--p_wrong"),
    (dict(task="countdown"), "--experiment countdown"), (dict(task="add9"), "--task"),
    (dict(completions=100), "less than 2 steps"), (dict(seconds=-1.0), "--seconds"),
    (dict(hybrid_p_wrong=2.0), "--hybrid_p_wrong"), (dict(device="tpu"), "--device"),
])
def test_bad_config_is_rejected_before_anything_is_written(tmp_path, kw, words):
    out = tmp_path / "cmp"
    with pytest.raises(ConfigError, match=re.escape(words)):
        run_compare(CompareConfig(out=str(out), **kw))
    assert not out.exists()


def test_missing_init_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        CompareConfig(init=str(tmp_path / "nope.pt")).validate()


def test_cli_reports_bad_algos(capsys):
    from minirl.__main__ import main
    assert main(["compare", "--algos", "sft,bogus", "--out", "/nonexistent/x"]) == 2
    assert "bogus" in capsys.readouterr().err


# --- a smoke run ----------------------------------------------------------------------------
def test_compare_smoke_run(tmp_path, weak_init):
    cfg = CompareConfig(algos="sft,grpo", seeds=2, completions=1024, evals=2, init=weak_init, out=str(tmp_path),
                        pass_samples=4, pass_prompts=16)
    r = run_compare(cfg)
    out = tmp_path / "algos"
    for name in ("curves.csv", "results.csv", "table.csv", "table.md", "summary.json",
                 "accuracy_vs_completions.png", "accuracy_vs_seconds.png"):
        assert (out / name).is_file(), name
    assert r.out == out and set(r.summary) >= {"eval_accuracy", "steps", "wall_seconds"}
    assert r.summary["steps"] == 2 * (1024 // 64 + 1024 // 256)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [(x["arm"], x["seed"]) for x in rows] == [("sft", "0"), ("grpo", "0"), ("sft", "1"), ("grpo", "1")]
    assert all(int(x["completions"]) == 1024 for x in rows)          # the same budget for every arm
    assert {x["arm"]: x["models_held"] for x in rows} == {"sft": "1", "grpo": "1"}
    for arm in ("sft", "grpo"):                                      # every curve starts at the shared init
        first = [c for c in r.curves if c["arm"] == arm and c["completions"] == 0]
        assert len({c["eval_accuracy"] for c in first}) == 1 and len(first) == 2
        assert max(c["completions"] for c in r.curves if c["arm"] == arm) == 1024
    assert all(0 <= row["pass@1"] <= row["pass@4"] <= 1 for row in r.table)
    redrawn = experiment_figures(cfg, read_csv(out / "curves.csv"), read_csv(out / "table.csv"),
                                 equal_time(cfg, read_csv(out / "results.csv")))
    for name, fig in r.figures.items():                              # the CSV files hold everything a figure shows
        lines = [[(list(a.get_xdata()), list(a.get_ydata())) for a in ax.lines] for ax in fig.axes]
        assert lines == [[(list(a.get_xdata()), list(a.get_ydata())) for a in ax.lines]
                         for ax in redrawn[name].axes], name
    seed0 = [c["eval_accuracy"] for c in r.curves if c["arm"] == "sft" and c["seed"] == 0]
    again = run_compare(CompareConfig(**{**cfg.to_dict(), "algos": "sft", "seeds": 1, "out": str(tmp_path / "b")}))
    assert [c["eval_accuracy"] for c in again.curves] == seed0       # same seed, same curve (CPU)


def test_hybrid_chains_stages(tmp_path, weak_init):
    cfg = CompareConfig(experiment="hybrid", seeds=1, completions=1024, evals=1, barely_steps=4, out=str(tmp_path),
                        pass_samples=2, pass_prompts=8)
    r = run_compare(cfg)
    chain = [c for c in r.curves if c["arm"] == "sft then grpo"]
    assert [c["stage"] for c in chain] == ["init", "sft", "grpo"]
    assert [c["completions"] for c in chain] == [0, 512, 1024]
    assert [c["updates"] for c in chain] == [0, 512 // 64, 512 // 64 + 512 // 256]   # SFT steps, then GRPO's
    assert chain[1]["seconds"] <= chain[2]["seconds"]
    assert (tmp_path / "hybrid" / "runs" / "sft_then_grpo_s0_1grpo" / "model.pt").is_file()


def test_updates_experiment_counts_each_arms_optimizer_updates(tmp_path, weak_init):
    cfg = CompareConfig(experiment="updates", seeds=1, completions=512, evals=1, init=weak_init, out=str(tmp_path),
                        pass_samples=2, pass_prompts=8)
    r = run_compare(cfg)
    # GRPO: 256 completions a step (1 or 4 updates); PPO: 128 a step (2 epochs x 2 minibatches, or 1)
    assert {row["arm"]: row["updates"] for row in r.table} == {
        "grpo": 2, "grpo, 4 updates per batch": 8, "ppo": 16, "ppo, 1 update per batch": 4}
    assert all(row["completions"] == 512 for row in r.results)
    assert set(r.figures) == {"completions", "seconds", "updates"}
    assert (tmp_path / "updates" / "accuracy_vs_updates.png").is_file()
    (ax,) = r.figures["updates"].axes
    assert max(max(line.get_xdata()) for line in ax.lines) == 16          # the x axis is updates, not completions
