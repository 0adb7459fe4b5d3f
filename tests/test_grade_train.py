"""The end-to-end track (minirl/grade_train.py, `python -m minirl.grade --train CH`).

The default suite runs every track at smoke size (a few steps) and checks the mechanism: each
swapped-in function is really called, minirl's functions are back afterwards (also after a
failure), a function that raises, is missing, returns something the loop cannot use, or never
gets called fails the track with a clear message, and the verdict compares against the stated
threshold. The full-size tracks are long checks (minutes each), marked `long` and so left out of
the default run (pytest.ini):

    make grade-train-check          # = python -m pytest -q -m long tests/test_grade_train.py

They prove that each track passes with minirl's reference functions and fails with planted bugs
that a training run makes visible (a sign error, a misaligned mask, a causal mask that lets a
position see the future, a detach in the wrong place).
"""
import time

import pytest
import torch

import minirl.dpo
import minirl.grpo
import minirl.model
import minirl.ppo
import minirl.reinforce
import minirl.sft
from minirl import core, grade_train
from minirl.grade_train import TRACKS, Counted, StudentError, run_track, swapped, verdict

REFERENCE = grade_train.reference_functions()
# Where each exercise goes (module, attribute): what must be minirl's own again after a run.
TARGETS = {2: {"causal_mask": (minirl.model, "causal_mask"), "sft_loss": (minirl.sft, "sft_loss")},
           3: {n: (minirl.reinforce, n) for n in REFERENCE[3]},
           5: {**{n: (minirl.ppo, n) for n in REFERENCE[5] if n != "kl_penalty"},
               "kl_penalty": (minirl.ppo, "kl_estimate")},
           6: {n: (minirl.dpo, n) for n in REFERENCE[6]},
           7: {n: (minirl.grpo, n) for n in REFERENCE[7]}}
ORIGINAL = {ch: {n: getattr(m, a) for n, (m, a) in t.items()} for ch, t in TARGETS.items()}


pytestmark = pytest.mark.learning      # make test-portable runs this file under every CPU capability


def with_bug(ch, **bugs):
    """The reference functions of chapter ch with some replaced."""
    return {**REFERENCE[ch], **bugs}


def assert_restored():
    for ch, targets in TARGETS.items():
        for name, (module, attr) in targets.items():
            assert getattr(module, attr) is ORIGINAL[ch][name], f"{module.__name__}.{attr} was not put back"


# --------------------------------------------------------------------------- smoke size (default suite)

def test_tracks_cover_the_chapters():
    assert sorted(TRACKS) == [2, 3, 5, 6, 7]
    assert all(set(TRACKS[ch].exercises) == set(REFERENCE[ch]) == set(TARGETS[ch]) for ch in TRACKS)


@pytest.mark.parametrize("ch", sorted(TRACKS))
def test_smoke_calls_every_function_and_restores(ch, weak_init, tmp_path):
    threads = torch.get_num_threads()
    r = run_track(ch, REFERENCE[ch], out=tmp_path, weak=weak_init, smoke=True)
    assert set(r.calls) == set(REFERENCE[ch])
    assert all(c > 0 for c in r.calls.values()), r.calls       # the loop really used each function
    assert TRACKS[ch].metric in r.outcome, r.message
    assert r.passed == (r.outcome[TRACKS[ch].metric] >= TRACKS[ch].threshold)
    assert TRACKS[ch].goal in r.message
    assert (tmp_path / f"ch{ch:02d}" / "summary.json").exists()  # its run folder is under `out`
    assert torch.get_num_threads() == threads                   # the pinned thread count ends with the run
    assert_restored()


def test_swapped_restores_after_an_exception():
    def fake(*a, **k):
        return None
    with pytest.raises(RuntimeError):
        with swapped({(minirl.grpo, "grpo_loss"): fake}):
            assert minirl.grpo.grpo_loss is fake
            raise RuntimeError
    assert minirl.grpo.grpo_loss is ORIGINAL[7]["grpo_loss"]


def test_counted_counts_and_names_the_function():
    c = Counted("f", lambda x: 1 / x)
    assert c(2) == 0.5 and c.calls == 1
    with pytest.raises(StudentError, match=r"your f raised ZeroDivisionError"):
        c(0)
    with pytest.raises(StudentError, match="your g is not implemented yet"):
        Counted("g", lambda: (_ for _ in ()).throw(NotImplementedError))()


def test_a_function_that_raises_fails_cleanly(weak_init, tmp_path):
    def reinforce_loss(logprobs, advantages, mask):
        raise ValueError("boom")
    r = run_track(3, with_bug(3, reinforce_loss=reinforce_loss), out=tmp_path, weak=weak_init, smoke=True)
    assert not r.passed
    assert r.message.startswith("your reinforce_loss raised ValueError: boom (line ")
    assert r.calls["reinforce_loss"] == 1
    assert_restored()


def test_a_stub_fails_as_not_implemented(weak_init, tmp_path):
    def group_advantages(rewards, group_size, scale="group"):
        raise NotImplementedError  # YOUR CODE HERE
    r = run_track(7, with_bug(7, group_advantages=group_advantages), out=tmp_path, weak=weak_init, smoke=True)
    assert not r.passed and r.message == "your group_advantages is not implemented yet"
    assert_restored()


def test_a_missing_function_fails_without_training(tmp_path):
    r = run_track(6, with_bug(6, dpo_loss=None), out=tmp_path, weak="no/such/model.pt")
    assert not r.passed and r.message == "dpo_loss not found in your file"
    assert not any(tmp_path.iterdir())


def test_an_unusable_result_fails_cleanly(weak_init, tmp_path):
    def reinforce_loss(logprobs, advantages, mask):
        return -(logprobs * advantages * mask).sum(1)           # (B,), not a scalar: backward() fails
    r = run_track(3, with_bug(3, reinforce_loss=reinforce_loss), out=tmp_path, weak=weak_init, smoke=True)
    assert not r.passed and r.message.startswith("training failed"), r.message
    assert "RuntimeError" in r.message
    assert_restored()


def test_a_function_the_loop_never_calls_fails(weak_init, tmp_path, monkeypatch):
    """If a training loop stopped looking a name up (a refactor that binds it elsewhere), the
    student's function would silently not be trained with: the track must fail instead."""
    real = minirl.reinforce.train_reinforce

    def loop_with_its_own_loss(cfg, model=None):
        with swapped({(minirl.reinforce, "reinforce_loss"): ORIGINAL[3]["reinforce_loss"]}):
            return real(cfg, model)
    monkeypatch.setattr(minirl.reinforce, "train_reinforce", loop_with_its_own_loss)
    r = run_track(3, REFERENCE[3], out=tmp_path, weak=weak_init, smoke=True)
    assert not r.passed
    assert r.calls["reinforce_loss"] == 0 and r.calls["discounted_returns"] > 0
    assert r.message == "reinforce_loss never called: the track could not swap it in"


def test_an_endless_function_times_out(weak_init, tmp_path):
    def sft_loss(logits, targets, mask):
        while True:
            time.sleep(0.05)
    t0 = time.perf_counter()
    r = run_track(2, with_bug(2, sft_loss=sft_loss), out=tmp_path, weak=weak_init, smoke=True, time_limit_s=2)
    assert not r.passed and "took over 2 s" in r.message
    assert time.perf_counter() - t0 < 30
    assert_restored()


@pytest.mark.parametrize("ch", sorted(TRACKS))
def test_verdict_compares_with_the_threshold(ch):
    t = TRACKS[ch]
    calls = {n: 1 for n in REFERENCE[ch]}
    assert verdict(t, {t.metric: t.threshold}, calls)[0]
    assert not verdict(t, {t.metric: t.threshold - 0.1}, calls)[0]
    assert verdict(t, {t.metric: t.threshold + 5}, calls)[0]
    ok, msg = verdict(t, {t.metric: t.threshold + 5}, {**calls, next(iter(calls)): 0})
    assert not ok and "never called" in msg


def test_cli_train(monkeypatch, capsys, tmp_path):
    from minirl.grade import main
    assert main(["--train", "4"]) == 2
    assert "no end-to-end track for chapter 4" in capsys.readouterr().out
    seen = {}

    def fake_run_track(ch, fns, out, seed, threads, progress):
        seen.update(ch=ch, names=sorted(fns), out=out, seed=seed, threads=threads)
        return grade_train.TrackResult(ch, ch == 3, "gain 25.0 (needs ...)", {}, {"reinforce_loss": 300}, 1.0)
    monkeypatch.setattr(grade_train, "run_track", fake_run_track)
    assert main(["--train", "3", "--seed", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "PASS gain 25.0" in out and "reinforce_loss 300x" in out and "1/1 passed" in out
    assert seen == dict(ch=3, names=["baseline_advantages", "discounted_returns", "reinforce_loss"],
                        out=str(tmp_path), seed=1, threads=2)
    assert main(["--train", "7", "--out", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


# --------------------------------------------------------------------------- full size (long checks)

# Planted bugs, each a plausible student mistake that training makes visible.
def sft_loss_mask_one_late(logits, targets, mask):
    """The mask shifted one position right: the first answer digit is never a target."""
    late = torch.cat([torch.zeros_like(mask[:, :1]), mask[:, :-1]], dim=1)
    return ORIGINAL[2]["sft_loss"](logits, targets, late)


def causal_mask_sees_the_future(T):
    """Upper instead of lower triangle: in training each position attends to the token it predicts."""
    return torch.ones(T, T, dtype=torch.bool).triu()


def reinforce_loss_sign_flipped(logprobs, advantages, mask):
    return core.masked_mean(logprobs * advantages.detach(), mask)


def ppo_policy_loss_sign_flipped(logprobs, old_logprobs, advantages, mask, clip_eps):
    return ORIGINAL[5]["ppo_policy_loss"](logprobs, old_logprobs, -advantages, mask, clip_eps)


def ppo_policy_loss_detaches_the_policy(logprobs, old_logprobs, advantages, mask, clip_eps):
    """Detaches logprobs instead of old_logprobs: the policy gets no gradient (the critic still learns)."""
    return ORIGINAL[5]["ppo_policy_loss"](logprobs.detach(), old_logprobs, advantages, mask, clip_eps)


def dpo_loss_pairs_swapped(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta, label_smoothing=0.0):
    return ORIGINAL[6]["dpo_loss"](pi_rejected, pi_chosen, ref_rejected, ref_chosen, beta, label_smoothing)


def group_advantages_sign_flipped(rewards, group_size, scale="group"):
    return -ORIGINAL[7]["group_advantages"](rewards, group_size, scale)


PLANTED = [
    (2, "sft_loss", sft_loss_mask_one_late),
    (2, "causal_mask", causal_mask_sees_the_future),
    (3, "reinforce_loss", reinforce_loss_sign_flipped),
    (5, "ppo_policy_loss", ppo_policy_loss_sign_flipped),
    (5, "ppo_policy_loss", ppo_policy_loss_detaches_the_policy),
    (6, "dpo_loss", dpo_loss_pairs_swapped),
    (7, "group_advantages", group_advantages_sign_flipped),
]


@pytest.mark.long
@pytest.mark.parametrize("ch", sorted(TRACKS))
def test_track_passes_with_the_reference(ch, weak_init, tmp_path):
    r = run_track(ch, REFERENCE[ch], out=tmp_path, weak=weak_init)
    print(f"chapter {ch}: {r.message}, {r.outcome}, {r.seconds:.0f} s")
    assert r.passed, r.message
    assert_restored()


@pytest.mark.long
@pytest.mark.parametrize("ch, name, bug", PLANTED, ids=[b.__name__ for _, _, b in PLANTED])
def test_track_fails_with_a_planted_bug(ch, name, bug, weak_init, tmp_path):
    r = run_track(ch, with_bug(ch, **{name: bug}), out=tmp_path, weak=weak_init)
    print(f"chapter {ch}, {bug.__name__}: {r.message}, {r.outcome}, {r.seconds:.0f} s")
    assert not r.passed, r.message
    assert r.calls[name] > 0
    assert_restored()
