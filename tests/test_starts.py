"""The shipped starting checkpoints (minirl/starts.py): verified on load, used by default, named on
the command line, and small."""
import json
import shutil

import pytest
import torch

from minirl import starts
from minirl.__main__ import main
from minirl.config import ConfigError
from minirl.evaluation import evaluate
from minirl.runs import load_model, read_checkpoint
from minirl.sft import WEAK_INIT, SFTConfig, ensure_weak_init
from minirl.tasks import make_task
from minirl.tokenizer import CharTokenizer


def test_every_shipped_start_matches_its_sha256_and_the_folder_stays_small():
    entries = starts.starts()
    assert {"weak", "weak-plain", "weak-barely", "weak-countdown", "strong"} <= set(entries)
    total = 0
    for name, e in entries.items():
        path = starts.start_path(name)
        assert starts.sha256(path) == e["sha256"]
        total += path.stat().st_size
        assert set(read_checkpoint(path)) == {"format", "kind", "model_config", "tokenizer", "task", "state_dict"}
    assert total <= 20 * 2**20


@pytest.mark.learning
def test_each_start_evaluates_to_its_recorded_accuracy_here():
    """Greedy evaluation of a fixed model does not depend on the CPU's kernels: the accuracy measured
    here is the one recorded when the file was made (under every capability of that machine)."""
    for name, e in starts.starts().items():
        t = read_checkpoint(starts.start_path(name))["task"]
        task = make_task(t["name"], reverse=t["reverse"], pad=t["pad"])
        model, _ = load_model(starts.start_path(name), CharTokenizer(), task)
        assert evaluate(model, CharTokenizer(), task)[0] == e["eval_accuracy"], name
        assert len(set(e["eval_accuracy_by_capability"].values())) == 1


def test_the_recorded_command_is_the_recipe():
    """The command a start was made with parses to an SFT config with exactly its recipe."""
    from minirl.__main__ import available_trainers, build_parser
    for e in starts.starts().values():
        args = build_parser(available_trainers()).parse_args(starts.argv(e))
        cfg = {k: v for k, v in vars(args).items() if k not in ("command", "preset", "dry_run")}
        assert {k: cfg[k] for k in e["recipe"]} == e["recipe"]
        assert SFTConfig(**cfg).validate() is None
    assert starts.command(starts.starts()["weak-plain"]).startswith("ATEN_CPU_CAPABILITY=default python -m minirl sft")
    assert "--no-reverse" in starts.argv(starts.starts()["weak-plain"])


def test_a_changed_file_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    shutil.copytree(starts.FOLDER, folder)
    monkeypatch.setattr(starts, "FOLDER", folder)
    monkeypatch.setattr(starts, "MANIFEST", folder / "starts.json")
    monkeypatch.setattr(starts, "_verified", {})
    assert starts.start_path("weak") == folder / "weak.pt"
    with open(folder / "weak.pt", "r+b") as f:          # flip one byte of the weights
        f.seek(-100, 2)
        byte = f.read(1)
        f.seek(-100, 2)
        f.write(bytes([byte[0] ^ 1]))
    monkeypatch.setattr(starts, "_verified", {})
    with pytest.raises(ConfigError, match="sha256"):
        starts.start_path("weak")
    with pytest.raises(ConfigError, match="no shipped start called 'nope'"):
        starts.start_path("nope")


def test_ensure_weak_init_copies_the_shipped_start_and_trains_any_other_recipe(tmp_path):
    path = ensure_weak_init(str(tmp_path / "weak"))
    assert starts.same_weights(path, starts.start_path("weak"))
    summary = json.loads((tmp_path / "weak" / "summary.json").read_text())
    assert summary["eval_accuracy"] == starts.starts()["weak"]["eval_accuracy"] and summary["start"] == "weak"
    plain = ensure_weak_init(str(tmp_path / "plain"), reverse=False, steps=295)
    assert starts.same_weights(plain, starts.start_path("weak-plain"))
    other = ensure_weak_init(str(tmp_path / "other"), steps=2)            # no shipped start has 2 steps
    assert read_checkpoint(other)["config"]["steps"] == 2
    retrained = ensure_weak_init(str(tmp_path / "re"), retrain=True, steps=2)
    assert starts.same_weights(retrained, other)                          # same recipe, same machine
    assert starts.find({"task": "add2", "seed": 0, **WEAK_INIT}) == "weak"
    assert starts.find({"task": "add2", "seed": 1, **WEAK_INIT}) is None


def test_a_start_name_works_as_init_on_the_command_line(tmp_path, capsys):
    assert main(["grpo", "--init", "weak", "--steps", "1", "--batch_size", "2", "--group_size", "2",
                 "--out", str(tmp_path / "g"), "--no-progress", "--no-plot"]) == 0
    assert main(["eval", "--init", "weak", "--n", "20", "--samples", "0"]) == 0
    assert "held-out exact match" in capsys.readouterr().out
    assert main(["grpo", "--init", "no-such-start", "--out", str(tmp_path / "h")]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "h").exists()


def test_the_starts_command_lists_and_verifies(capsys):
    assert main(["starts", "--verify"]) == 0
    out = capsys.readouterr().out
    for name, e in starts.starts().items():
        assert name in out and starts.command(e) in out
    assert out.count("sha256 ok") == len(starts.starts())


@pytest.mark.learning
def test_the_demo_starts_from_the_shipped_weak_start(tmp_path, capsys):
    from minirl.demo import run_demo
    r = run_demo(str(tmp_path / "demo"), quick=True)
    assert r["sft_accuracy"] == starts.starts()["weak"]["eval_accuracy"]
    assert starts.same_weights(tmp_path / "demo" / "sft" / "model.pt", starts.start_path("weak"))
    assert f"after SFT: held-out accuracy {r['sft_accuracy']:.1%}" in capsys.readouterr().out


def test_slim_keeps_the_weights_and_drops_the_optimizer(tmp_path):
    full = ensure_weak_init(str(tmp_path / "w"), steps=1)
    assert "optimizer" in torch.load(full, weights_only=False)
    slim = starts.slim(full, tmp_path / "slim.pt")
    assert "optimizer" not in torch.load(slim, weights_only=False) and starts.same_weights(full, slim)
