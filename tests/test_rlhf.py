"""RLHF pipeline: all three stages end to end (tiny), PPO against a reward model, the hacking plot, bad input,
and two learning tests: PPO raises a learned reward (in the default run) and the whole pipeline raises
held-out accuracy against the true verifier (`-m long`: `make test-long`)."""
import json
from pathlib import Path

import pytest
import torch

from minirl.plotting import plot_reward_hacking
from minirl.rlhf import RLHFConfig, reward_hacking, train_rlhf
from minirl.config import ConfigError

TINY = ["--steps", "2", "--batch_size", "8", "--minibatches", "2", "--eval_every", "2", "--rm_steps", "3", "--rm_sft_steps", "2",
        "--rm_pairs", "64", "--no-progress", "--device", "cpu"]


def test_rlhf_cli_all_three_stages(tmp_path):
    from minirl.__main__ import main
    out = tmp_path / "rlhf"
    assert main(["rlhf", "--sft_steps", "3", "--out", str(out)] + TINY) == 0
    for stage in ("sft", "rm_sft", "reward_model", "."):
        for f in ("config.json", "metrics.jsonl", "model.pt", "summary.json"):
            assert (out / stage / f).is_file(), (stage, f)
    s = json.loads((out / "summary.json").read_text())
    assert s["algo"] == "rlhf" and s["reward"] == "reward model"
    for key in ("learned_reward", "true_reward", "eval_accuracy", "rm_heldout_pair_accuracy", "final_kl"):
        assert s[key] is not None, key
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert all("score" in r and "true_reward" in r and "kl" in r for r in rows)
    # the summary reports the stages' own numbers: the judge's, the last rollout's, the saved policy's
    judge = json.loads((out / "reward_model" / "summary.json").read_text())
    assert s["rm_heldout_pair_accuracy"] == judge["heldout_pair_accuracy"]
    assert (s["learned_reward"], s["true_reward"], s["final_kl"]) == (rows[-1]["score"], rows[-1]["true_reward"],
                                                                     rows[-1]["kl"])
    from minirl.evaluation import evaluate
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    assert s["eval_accuracy"] == evaluate(load_model(out / "model.pt", tok, task)[0], tok, task)[0]


def test_reward_hacking_runs_and_plots(weak_init, tmp_path):
    from minirl.reward_model import RewardModelConfig, train_reward_model
    train_reward_model(RewardModelConfig(init=weak_init, out=str(tmp_path / "rm"), steps=2, batch_size=8,
                                         pairs=16, heldout_pairs=8, progress=False))
    runs = reward_hacking(str(tmp_path / "hack"), weak_init, str(tmp_path / "rm" / "model.pt"),
                          kl_coefs=(0.0, 0.5), steps=1, batch_size=8, eval_every=1, progress=False)
    assert set(runs) == {0.0, 0.5} and all(len(rows) == 1 for rows in runs.values())
    assert (tmp_path / "hack" / "beta_0" / "summary.json").is_file()
    fig = plot_reward_hacking(runs, tmp_path / "hack.png")
    assert (tmp_path / "hack.png").stat().st_size > 0 and len(fig.axes) == 4


@pytest.mark.parametrize("flags,needle", [(dict(kl_coef=-1.0), "kl_coef"), (dict(rm_steps=0), "rm_steps"),
                                          (dict(sevens=-1.0), "sevens"), (dict(lam=2.0), "lam"),
                                          (dict(rm_sft_steps=-1), "rm_sft_steps")])
def test_bad_config_fails_before_any_stage(tmp_path, flags, needle):
    out = tmp_path / "never"
    with pytest.raises(ConfigError, match=needle):
        train_rlhf(RLHFConfig(out=str(out), progress=False, **flags))
    assert not out.exists()


def test_policy_checkpoint_is_not_a_reward_model(weak_init, tmp_path):
    with pytest.raises(ConfigError, match="not a reward model"):
        train_rlhf(RLHFConfig(out=str(tmp_path / "x"), init=weak_init, reward_model=weak_init, progress=False))
    assert not (tmp_path / "x").exists()


def test_resume_keeps_finished_stages_and_continues_ppo(tmp_path):
    from minirl.__main__ import main
    timing = ("seconds", "rollout_seconds", "update_seconds", "completions_per_s")
    args = ["rlhf", "--sft_steps", "3", "--lr_schedule", "constant"] + TINY[2:]
    assert main(args + ["--steps", "4", "--out", str(tmp_path / "full")]) == 0
    assert main(args + ["--steps", "2", "--out", str(tmp_path / "part")]) == 0
    stages = [tmp_path / "part" / s / "model.pt" for s in ("sft", "rm_sft", "reward_model")]
    stamps = [p.stat().st_mtime_ns for p in stages]
    assert main(args + ["--steps", "4", "--out", str(tmp_path / "part"), "--resume"]) == 0
    assert [p.stat().st_mtime_ns for p in stages] == stamps               # stages 1 and 2 were not redone
    rows = [[{k: v for k, v in json.loads(line).items() if k not in timing}
             for line in open(tmp_path / d / "metrics.jsonl")] for d in ("full", "part")]
    assert len(rows[0]) == 4 and rows[0] == rows[1]


# --- learning -------------------------------------------------------------------------------
def judged_score(judge, policy, tok, task, k: int = 4) -> float:
    """Mean learned reward of `policy`'s samples (temperature 1, k per held-out prompt, a fixed draw)."""
    from minirl.reward_model import sequence_reward
    from minirl.rollout import sample
    torch.manual_seed(1234)
    ro = sample(policy.eval(), tok, task, [task.prompt(a, b) for a, b in task.heldout()], k, logprobs=False)
    with torch.no_grad():
        return sequence_reward(judge.eval(), ro.tokens, ro.mask).mean().item()


@pytest.mark.learning
def test_rlhf_judge_beats_chance_and_ppo_raises_its_reward(weak_init, tmp_path, tok, task):
    """Stages 2 and 3 at a small size from the weak start: a judge on the stage-1 trunk (--rm_sft_steps 0),
    200 steps on 2,000 labelled pairs, then 20 PPO iterations of 32 prompts x 2 against it (beta = 0.2).
    A judge this small ranks the policy's own samples barely above chance, so PPO need not raise the
    verifier's accuracy here (that is the long test below); what it must raise is the reward it is
    given. Measured over seeds 0, 1, 2 with 2 threads: judge pair accuracy 0.714, 0.736, 0.720, verifier
    agreement 0.760, 0.780, 0.767, learned-reward gain +0.101, +0.101, +0.060; with 1 thread: 0.730, 0.718,
    0.696, 0.780, 0.770, 0.725, gain +0.181, +0.106, +0.075 (a fresh draw of the 2,000 samples moves the
    mean by about 0.006; greedy held-out accuracy ended at 0.11-0.21 in these runs: a judge this small
    is exploited). Thresholds: pair accuracy and verifier agreement 3 standard deviations above a coin
    flip (500 held-out pairs, about half with exactly one correct answer); gain 0.03, half the smallest."""
    from minirl.runs import load_model
    out = tmp_path / "rlhf"
    res = train_rlhf(RLHFConfig(init=weak_init, out=str(out), rm_sft_steps=0, rm_steps=200, rm_pairs=2000, steps=20,
                                batch_size=32, eval_every=20, progress=False, device="cpu"))
    s = res.summary
    assert s["rm_heldout_pair_accuracy"] > 0.5 + 3 * (0.25 / 500) ** 0.5, s          # 0.567
    assert s["rm_verifier_agreement"] > 0.5 + 3 * (0.25 / 250) ** 0.5, s             # 0.595
    judge = load_model(out / "reward_model" / "model.pt", tok, task)[0]
    before = judged_score(judge, load_model(weak_init, tok, task)[0], tok, task)
    after = judged_score(judge, res.model, tok, task)
    assert after > before + 0.03, (before, after)


@pytest.mark.learning
@pytest.mark.long
def test_rlhf_defaults_raise_heldout_accuracy_against_the_verifier(weak_init, tmp_path):
    """The whole pipeline at its defaults from the weak start (29.4% held-out): a judge trunk trained to
    full strength (1,000 SFT steps), a judge on 40,000 labelled pairs (3,000 steps), 150 PPO iterations
    against it with beta = 0.2; several minutes on 2 cores, so it runs only with `-m long` (`make
    test-long`). The verifier never takes part in training: the gain is measured by it alone. Measured
    with 2 threads over seeds 0, 1, 2 (`python benchmarks/rlhf_seeds.py`, 2026-12-02; each seed trains its
    own trunk and judge): 29.4% -> 91.0%, 68.6%, 73.0% (gains +0.62, +0.39, +0.44), judge verifier
    agreement 99.7%, 99.2%, 98.2%. A half-trained judge (20,000 pairs, 1,500 steps) left the policy at
    28.2% (benchmarks/rlhf_judges.py). Margin 0.2: about half the smallest measured gain, and far above
    what the half-trained judge gives."""
    res = train_rlhf(RLHFConfig(init=weak_init, out=str(tmp_path / "rlhf"), progress=False, device="cpu"))
    s = res.summary
    start = json.loads((Path(weak_init).parent / "summary.json").read_text())["eval_accuracy"]
    assert s["rm_verifier_agreement"] > 0.95 and s["rm_sample_auc"] > 0.9, s
    assert s["eval_accuracy"] > start + 0.2, (start, s["eval_accuracy"])
