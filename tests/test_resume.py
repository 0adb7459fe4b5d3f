"""--save_every and --resume: a run interrupted after its last checkpoint, then resumed, ends
exactly where the uninterrupted run ends (same metrics, same weights), for every trainer."""
import pytest
import torch

import minirl.runs
from minirl.__main__ import available_trainers
from minirl.runs import read_checkpoint, read_metrics

WALL_CLOCK = {"seconds", "tokens_per_s", "mfu", "step_seconds", "completions_per_s", "rollout_seconds",
              "update_seconds", "eval_seconds"}
SMALL = {
    "sft": dict(),
    "reinforce": dict(batch_size=8),
    "a2c": dict(batch_size=8),
    "ppo": dict(batch_size=8, minibatches=2),
    "dpo": dict(batch_size=16, n_pairs=128),
    "grpo": dict(batch_size=4, inner_steps=2),
    "reward-model": dict(batch_size=16, pairs=128, heldout_pairs=16),
}


def steady(rows):
    return [{k: v for k, v in r.items() if k not in WALL_CLOCK} for r in rows]


class Interrupt(KeyboardInterrupt):
    pass


@pytest.mark.parametrize("command", list(SMALL))
def test_an_interrupted_run_resumes_exactly(command, weak_init, tmp_path, monkeypatch):
    cls, train, _ = available_trainers()[command]
    kw = dict(steps=6, eval_every=3, log_every=1, progress=False, **SMALL[command])
    if command != "sft":
        kw["init"] = weak_init
    whole = train(cls(out=str(tmp_path / "whole"), **kw))

    out = str(tmp_path / "cut")
    original = minirl.runs.Run.step

    def step_then_stop(self, step, *args, **kwargs):
        original(self, step, *args, **kwargs)
        if step == 4:                     # after the checkpoint of step 3, before the end
            raise Interrupt()
    monkeypatch.setattr(minirl.runs.Run, "step", step_then_stop)
    with pytest.raises(Interrupt):
        train(cls(out=out, save_every=3, **kw))
    monkeypatch.setattr(minirl.runs.Run, "step", original)
    assert read_checkpoint(tmp_path / "cut" / "model.pt")["step"] == 3
    assert [r["step"] for r in read_metrics(out)] == [1, 2, 3, 4]           # the run got past its checkpoint

    resumed = train(cls(out=out, save_every=3, resume=True, **kw))
    assert steady(read_metrics(out)) == steady(read_metrics(whole.out))
    assert steady(resumed.metrics) == steady(whole.metrics)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_finished_run_is_not_overwritten_without_overwrite(weak_init, tmp_path):
    from minirl.config import ConfigError
    from minirl.grpo import GRPOConfig, train_grpo
    kw = dict(init=weak_init, out=str(tmp_path / "g"), steps=1, batch_size=2, progress=False)
    train_grpo(GRPOConfig(**kw))
    before = (tmp_path / "g" / "metrics.jsonl").read_text()
    with pytest.raises(ConfigError, match="--overwrite"):
        train_grpo(GRPOConfig(**{**kw, "steps": 2}))
    assert (tmp_path / "g" / "metrics.jsonl").read_text() == before       # nothing touched
    res = train_grpo(GRPOConfig(**{**kw, "steps": 2}, overwrite=True))
    assert res.summary["steps"] == 2 and read_metrics(tmp_path / "g")[-1]["step"] == 2


def test_config_json_records_where_when_and_with_what(weak_init, tmp_path):
    import json
    from minirl.grpo import GRPOConfig, train_grpo
    train_grpo(GRPOConfig(init=weak_init, out=str(tmp_path / "g"), steps=1, batch_size=2, progress=False))
    meta = json.loads((tmp_path / "g" / "config.json").read_text())["run"]
    assert meta["folder"] == str((tmp_path / "g").resolve())
    assert meta["torch"] == torch.__version__ and meta["started"].startswith("20")
    assert meta["command"] and "git_commit" in meta
