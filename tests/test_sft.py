"""SFT: the masked loss by hand, training that learns, determinism, resume, checkpoints, bad input."""
import json
import math

import pytest
import torch

from minirl.config import ConfigError
from minirl.runs import load_model, read_checkpoint
from minirl.sft import SFTConfig, sft_loss, train_sft


def test_sft_loss_by_hand():
    logits = torch.zeros(1, 3, 4)
    logits[0, 1] = torch.tensor([math.log(3.0), 0.0, 0.0, 0.0])   # p(target 0) = 3/6
    targets = torch.tensor([[1, 0, 2]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    expected = (-math.log(0.5) - math.log(0.25)) / 2               # mean over the two masked positions
    assert sft_loss(logits, targets, mask).item() == pytest.approx(expected)


def test_sft_loss_ignores_masked_positions_and_does_not_edit_inputs():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    mask = torch.tensor([[0, 0, 1, 1, 0], [0, 1, 1, 0, 0.]])
    before = (logits.clone(), targets.clone(), mask.clone())
    a = sft_loss(logits, targets, mask)
    changed = logits.clone()
    changed[mask == 0] = 100 * torch.randn_like(changed[mask == 0])
    assert torch.allclose(a, sft_loss(changed, targets, mask))
    assert all(torch.equal(x, y) for x, y in zip(before, (logits, targets, mask)))


def tiny(tmp_path, **kw):
    base = dict(steps=30, batch_size=32, eval_every=15, log_every=5, n_layer=2, n_embd=64, n_head=2,
                progress=False, out=str(tmp_path / "sft"), task="add1")
    return SFTConfig(**{**base, **kw})


@pytest.mark.learning
@pytest.mark.curves
def test_sft_learns_and_writes_the_run_contract(tmp_path):
    """The weak start's recipe trained here (200 SFT steps of the default model on add2, with the
    suite's threads) writes every file of a run and learns: the loss halves, and held-out accuracy
    goes from 0% to the weak band (the recipe gave 37.6-41.0% under two CPU kernel sets and thread
    counts: results/starts)."""
    out = tmp_path / "weak"
    train_sft(SFTConfig(out=str(out), steps=200, lr_schedule="constant", eval_every=50, progress=False))
    for f in ("config.json", "metrics.jsonl", "model.pt", "summary.json", "curves.png"):
        assert (out / f).is_file(), f
    s = json.loads((out / "summary.json").read_text())
    assert {"algo", "task", "seed", "steps", "wall_seconds", "eval_accuracy"} <= set(s)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in rows if "loss" in m]
    assert losses[-1] < 0.5 * losses[0]
    assert 0.15 <= s["eval_accuracy"] <= 0.6       # from 0% at random init to the weak-init band


TIMINGS = {"seconds", "tokens_per_s", "mfu"}    # wall-clock measurements: the only fields that may differ


def strip(rows):
    return [{k: v for k, v in m.items() if k not in TIMINGS} for m in rows]


def test_same_seed_same_metrics(tmp_path):
    a = train_sft(tiny(tmp_path, out=str(tmp_path / "a")))
    b = train_sft(tiny(tmp_path, out=str(tmp_path / "b")))
    c = train_sft(tiny(tmp_path, out=str(tmp_path / "c"), seed=1))
    assert strip(a.metrics) == strip(b.metrics)
    assert strip(a.metrics) != strip(c.metrics)


def test_resume_continues_to_the_same_place(tmp_path):
    full = train_sft(tiny(tmp_path, out=str(tmp_path / "full"), steps=40, lr_schedule="constant", eval_every=10))
    train_sft(tiny(tmp_path, out=str(tmp_path / "part"), steps=20, lr_schedule="constant", eval_every=10))
    resumed = train_sft(tiny(tmp_path, out=str(tmp_path / "part"), steps=40, lr_schedule="constant", eval_every=10,
                             resume=True))
    assert strip(resumed.metrics) == strip(full.metrics)
    assert read_checkpoint(tmp_path / "part" / "model.pt")["step"] == 40


def test_checkpoint_round_trip_and_init(tmp_path, tok):
    r = train_sft(tiny(tmp_path))
    model, ckpt = load_model(tmp_path / "sft" / "model.pt", tok)
    x = torch.randint(0, tok.vocab_size, (2, 9))
    assert torch.equal(model(x), r.model(x))
    assert ckpt["task"] == {"name": "add1", "reverse": True, "pad": True}
    r2 = train_sft(tiny(tmp_path, out=str(tmp_path / "ft"), init=str(tmp_path / "sft" / "model.pt"), steps=1,
                        eval_every=1))
    assert r2.model.config == r.model.config


def test_checkpoint_errors(tmp_path, tok):
    from minirl.tokenizer import CharTokenizer
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(tmp_path / "junk.pt")
    train_sft(tiny(tmp_path, steps=1, eval_every=1))
    with pytest.raises(ConfigError, match="another vocabulary"):
        load_model(tmp_path / "sft" / "model.pt", CharTokenizer("0123456789+="))
    from minirl.tasks import make_task
    with pytest.raises(ConfigError, match="block_size"):
        small = tiny(tmp_path, steps=1, eval_every=1, out=str(tmp_path / "small"), block_size=12)
        train_sft(small)
        load_model(tmp_path / "small" / "model.pt", tok, make_task("mul4"))


@pytest.mark.parametrize("kw,match", [
    (dict(lr=-1.0), "--lr"), (dict(batch_size=0), "--batch_size"), (dict(steps=0), "--steps"),
    (dict(task="sub2"), "--task must be one of"), (dict(block_size=6), "block_size 6 is too small"),
    (dict(p_wrong=1.5), "p_wrong"), (dict(device="tpu"), "--device"), (dict(n_embd=30, n_head=4), "divisible"),
    (dict(resume=True, out=""), "--resume needs --out"),
])
def test_bad_config_fails_before_writing(tmp_path, kw, match):
    cfg = tiny(tmp_path, **kw)
    if "out" in kw:
        cfg.out = kw["out"]
    with pytest.raises(ConfigError, match=match):
        train_sft(cfg)
    assert not (tmp_path / "sft").exists()


def test_missing_init_fails_before_writing(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        train_sft(tiny(tmp_path, init=str(tmp_path / "missing" / "model.pt")))
    assert not (tmp_path / "sft").exists()


def test_the_weak_start_recipe_does_not_depend_on_the_callers_thread_count(tmp_path):
    """The weak-start recipe pins two threads (float sums depend on how they are split): retrained
    from a caller with one thread or with two, it is the same model. (Its first 20 steps: any
    difference in rounding would already show in the weights.)"""
    import torch
    from minirl.sft import ensure_weak_init
    before = torch.get_num_threads()
    paths = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            paths.append(ensure_weak_init(str(tmp_path / f"t{threads}"), retrain=True, steps=20))
            assert torch.get_num_threads() == threads                    # restored after the pinned run
    finally:
        torch.set_num_threads(before)
    a, b = (read_checkpoint(p)["state_dict"] for p in paths)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert read_checkpoint(paths[0])["config"]["threads"] == 2


def test_a_run_with_threads_sets_them_for_the_process(tmp_path):
    """--threads N sets PyTorch's thread count for the whole process: a command-line run ends with
    it. In the suite, conftest's _pinned_threads gives the next test the suite's count back."""
    import torch
    from minirl.sft import SFTConfig, train_sft
    other = 1 if torch.get_num_threads() != 1 else 2
    train_sft(SFTConfig(steps=1, eval_every=1, n_layer=1, n_embd=32, progress=False, plot=False, threads=other,
                        out=str(tmp_path / "threads")))
    assert torch.get_num_threads() == other


def test_the_next_test_runs_with_the_suites_thread_count():
    import torch
    from tests.conftest import THREADS
    assert torch.get_num_threads() == THREADS


def test_no_plot_skips_only_the_figure(tmp_path):
    """--no-plot (plot=False: the comparison's arms, sweeps) writes every file of a run but curves.png."""
    from minirl.sft import SFTConfig, train_sft
    out = tmp_path / "noplot"
    train_sft(SFTConfig(steps=2, eval_every=1, n_layer=1, n_embd=32, progress=False, plot=False, out=str(out)))
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["config.json", "metrics.jsonl", "model.pt",
                                                                    "summary.json"]


def test_the_carry_teacher_reaches_the_trainer_and_needs_addition(tmp_path):
    """--teacher carry --p_wrong 1 trains on different demonstrations than the random teacher (so
    different weights), and is refused on a task that is not addition."""
    small = dict(steps=2, batch_size=8, eval_every=2, n_layer=1, n_embd=32, n_head=2, progress=False, p_wrong=1.0)
    weights = {}
    for teacher in ("random", "carry"):
        train_sft(SFTConfig(out=str(tmp_path / teacher), teacher=teacher, **small))
        weights[teacher] = read_checkpoint(tmp_path / teacher / "model.pt")["state_dict"]
    assert any(not torch.equal(weights["random"][k], weights["carry"][k]) for k in weights["carry"])
    with pytest.raises(ConfigError, match="not addition"):
        train_sft(SFTConfig(out=str(tmp_path / "c"), task="countdown", teacher="carry", **small))
    assert not (tmp_path / "c").exists()
