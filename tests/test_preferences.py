"""Preference pairs (corrupt, offset, on-policy), IPO, the cached reference, online DPO and its diagnostics."""
import json
import math
import random

import pytest
import torch

from minirl.config import ConfigError
from minirl.dpo import DPOConfig, dpo_loss, preference_batch, sequence_logprob, train_dpo
from minirl.preferences import digit_accuracy, make_pairs, on_policy_pairs, offset_answer, sequence_logprobs
from minirl.batches import token_logprobs


# --- IPO --------------------------------------------------------------------------------------------
def test_ipo_hand_value_and_finite_target():
    """L = (h - 1/(2 beta))^2 with h the log-ratio margin in nats: beta 0.5 -> target 1."""
    pc, pr = torch.tensor([-1.0, -2.0], requires_grad=True), torch.tensor([-3.0, -2.0])
    rc, rr = torch.tensor([-1.5, -2.0]), torch.tensor([-2.5, -2.5])
    loss, _, _ = dpo_loss(pc, pr, rc, rr, beta=0.5, loss_type="ipo")
    h = [(-1.0 + 1.5) - (-3.0 + 2.5), (-2.0 + 2.0) - (-2.0 + 2.5)]      # [1.0, -0.5]
    assert loss.item() == pytest.approx(((h[0] - 1) ** 2 + (h[1] - 1) ** 2) / 2)
    loss.backward()
    assert pc.grad[0].item() == pytest.approx(0.0)                       # at the target: no push
    assert pc.grad[1].item() == pytest.approx(2 * (h[1] - 1) / 2)        # below it: raise pi(chosen)


def test_ipo_stops_where_sigmoid_dpo_keeps_pushing():
    """Past h = 1/(2 beta) IPO pulls the margin back; sigmoid DPO still pushes it up (never stops)."""
    rc = rr = torch.zeros(1)
    for loss_type, sign in (("ipo", -1), ("sigmoid", 1)):
        pc = torch.tensor([3.0], requires_grad=True)                      # h = 3 > 1/(2 * 0.5) = 1
        dpo_loss(pc, torch.zeros(1), rc, rr, beta=0.5, loss_type=loss_type)[0].backward()
        assert sign * -pc.grad.item() > 0, loss_type                      # descent direction of log pi(chosen)


def test_unknown_loss_type_raises():
    x = torch.zeros(2)
    with pytest.raises(ValueError, match="loss_type"):
        dpo_loss(x, x, x, x, beta=0.1, loss_type="hinge")


# --- pair sources -----------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["corrupt", "offset"])
def test_offline_sources_give_valid_distinct_labelled_pairs(source, task):
    pairs = make_pairs(source, task, 300, random.Random(0))
    assert len(pairs) == 300
    heldout = {task.prompt(a, b) for a, b in task.heldout()}
    for prompt, chosen, rejected in pairs:
        assert prompt not in heldout                                      # the training split only
        assert task.is_correct(prompt, chosen) and not task.is_correct(prompt, rejected) and chosen != rejected
        if source == "offset":
            off = int(task.read_answer(rejected)) - int(task.expected(prompt))
            assert off in (-3, -2, -1, 1, 2, 3)
        else:
            assert len(chosen) == len(rejected) and sum(x != y for x, y in zip(chosen, rejected)) == 1
    if source == "offset":                                               # both signs and all sizes occur
        offs = {int(task.read_answer(r)) - int(task.expected(p)) for p, _, r in pairs}
        assert offs == {-3, -2, -1, 1, 2, 3}


def test_offset_answer_is_written_like_the_task_and_never_negative(task):
    assert offset_answer(task, 0, 0, random.Random(1)) in {"1", "2", "3"}
    rng = random.Random(2)
    assert {int(offset_answer(task, 4, 3, rng)[::-1]) for _ in range(200)} == {4, 5, 6, 8, 9, 10}


def test_on_policy_pairs_pick_from_the_policys_own_samples(monkeypatch, task, tok):
    """Problem 1: samples right, wrong, wrong -> (right sample, the wrong one). Problem 2: all right ->
    no pair. Problem 3: all wrong -> the demonstration is chosen, a sampled mistake rejected. Problem 4:
    a sample with a special token inside (decoded as U+FFFD) is not an answer the pair could hold."""
    import minirl.preferences as prefs
    problems = [(7, 42), (1, 2), (10, 10), (20, 30)]
    texts = ["94", "95", "95", "3", "3", "3", "12", "", "02", "\ufffd5", "15", "05"]   # 3 per prompt, reversed
    monkeypatch.setattr(prefs, "sample", lambda *a, **k: type("R", (), {"texts": texts})())
    model = torch.nn.Linear(1, 1)
    pairs = on_policy_pairs(model, tok, task, problems, samples_per_prompt=3, rng=random.Random(0))
    assert pairs[0] == ("07+42=", "94", "95")
    assert len(pairs) == 3 and pairs[1][:2] == ("10+10=", "02") and pairs[1][2] == "12"   # "" is no answer
    assert pairs[2] == ("20+30=", "05", "15")
    preference_batch(tok, pairs)                                          # every pair can be encoded


def test_on_policy_pairs_from_the_weak_start(weak_init, tok, task):
    from minirl.runs import load_model
    model = load_model(weak_init, tok, task)[0]
    torch.manual_seed(0)
    pairs = make_pairs("on_policy", task, 64, random.Random(0), model, tok, samples_per_prompt=8)
    assert 32 <= len(pairs) <= 64                                         # a 30% policy errs on most prompts
    for prompt, chosen, rejected in pairs:
        assert task.is_correct(prompt, chosen) and not task.is_correct(prompt, rejected)
    with pytest.raises(ValueError, match="policy that samples"):
        make_pairs("on_policy", task, 4, random.Random(0))
    with pytest.raises(ValueError, match="pair source"):
        make_pairs("random", task, 4, random.Random(0))


# --- the cached reference and the diagnostics --------------------------------------------------------
def test_cached_sequence_logprobs_equal_the_per_batch_ones(weak_init, tok, task):
    from minirl.runs import load_model
    model = load_model(weak_init, tok, task)[0]
    pairs = make_pairs("corrupt", task, 40, random.Random(0))
    tokens, mask = preference_batch(tok, pairs)
    with torch.no_grad():
        per_batch = sequence_logprob(token_logprobs(model.eval(), tokens), mask)       # (80,)
    prompts = [p for p, _, _ in pairs]
    cached = sequence_logprobs(model, tok, prompts * 2, [c for _, c, _ in pairs] + [r for _, _, r in pairs],
                               batch_size=7)
    assert torch.allclose(cached, per_batch, atol=1e-5)


def test_digit_accuracy_counts_each_written_position(task):
    # answers (reversed): 07+42 -> "94", 50+50 -> "001"; responses "94" (both right), "011" (0, 1 wrong, 1 right)
    acc = digit_accuracy(task, ["07+42=", "50+50="], ["94", "011"])
    assert acc == [1.0, 0.5, 1.0]                                          # position 2: only the 3-digit answer


def test_dpo_logs_its_diagnostics_and_starts_at_log_2(weak_init, tmp_path):
    r = train_dpo(DPOConfig(init=weak_init, out=str(tmp_path / "d"), steps=2, batch_size=8, n_pairs=32,
                            log_every=1, eval_every=2, pairs="offset", progress=False))
    first, last = r.metrics[0], r.metrics[-1]
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5)          # policy = reference at step 1
    for key in ("heldout_logp_correct", "heldout_pref_accuracy", "heldout_margin", "digit0_accuracy",
                "digit2_accuracy"):
        assert key in last and math.isfinite(last[key])
    assert last["heldout_logp_correct"] < 0 and last["eval_accuracy"] == r.summary["eval_accuracy"]
    assert json.loads((tmp_path / "d" / "summary.json").read_text())["pairs"] == "offset"


# --- online DPO ----------------------------------------------------------------------------------------
def test_online_dpo_resamples_pairs_and_resets_the_reference_each_round(weak_init, tmp_path):
    """--rounds 2 over 4 steps: round 2 starts at step 3 with new pairs from the policy of then, and that
    policy as the reference, so its first loss is log 2 again (h = 0) after step 2's had moved off it."""
    r = train_dpo(DPOConfig(init=weak_init, out=str(tmp_path / "d"), steps=4, batch_size=8, n_pairs=32, lr=1e-3,
                            log_every=1, eval_every=4, pairs="on_policy", rounds=2, progress=False))
    losses = [m["loss"] for m in r.metrics]
    assert losses[0] == pytest.approx(math.log(2), abs=1e-5) and losses[2] == pytest.approx(math.log(2), abs=1e-5)
    assert losses[1] != pytest.approx(math.log(2), abs=1e-5)                # step 2 had moved off it
    assert all(0 < m["n_pairs"] <= 32 for m in r.metrics)


@pytest.mark.parametrize("flags,needle", [(dict(rounds=2, pairs="corrupt"), "--pairs on_policy"), (dict(rounds=5, steps=4), "rounds"),
                                          (dict(pairs="x"), "pairs"), (dict(loss_type="hinge"), "loss_type"),
                                          (dict(rounds=2, pairs="on_policy", resume=True, out="x"), "resume")])
def test_bad_preference_flags(flags, needle):
    with pytest.raises(ConfigError, match=needle):
        DPOConfig(**flags).validate()
