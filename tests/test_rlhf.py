"""RLHF pipeline: all three stages end to end (tiny), PPO against a reward model, the hacking plot, bad input."""
import json

import pytest

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
    from minirl.rollout import evaluate
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
