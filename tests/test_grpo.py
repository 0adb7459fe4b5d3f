"""GRPO: group advantages, the clipped loss and its aggregations, training, CLI, bad input."""
import json
import math

import pytest
import torch

from minirl.grpo import GRPOConfig, group_advantages, grpo_loss, train_grpo
from minirl.config import ConfigError


# --- group_advantages -----------------------------------------------------------------------
def test_group_advantages_hand_values():
    # group [1, 0, 0, 0]: mean 0.25, unbiased std sqrt((0.75^2 + 3 * 0.25^2) / 3) = 0.5
    adv = group_advantages(torch.tensor([1.0, 0, 0, 0, 2, 4, 6, 8]), group_size=4)
    s2 = math.sqrt((9 + 1 + 1 + 9) / 3)                                     # second group: mean 5
    expected = [0.75 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001, -0.25 / 0.5001,
                -3 / (s2 + 1e-4), -1 / (s2 + 1e-4), 1 / (s2 + 1e-4), 3 / (s2 + 1e-4)]
    assert torch.allclose(adv, torch.tensor(expected), atol=1e-5)


def test_group_advantages_scale_none_is_centring_only():
    adv = group_advantages(torch.tensor([1.0, 0, 0, 0, 2, 4, 6, 8]), group_size=4, scale="none")
    assert torch.allclose(adv, torch.tensor([0.75, -0.25, -0.25, -0.25, -3, -1, 1, 3]))


def test_group_advantages_sum_to_zero_per_group_and_groups_are_consecutive():
    g = torch.Generator().manual_seed(0)
    rewards = torch.rand(6 * 5, generator=g)
    adv = group_advantages(rewards, group_size=5)
    assert torch.allclose(adv.view(6, 5).sum(dim=1), torch.zeros(6), atol=1e-5)
    # shuffling inside a group permutes its advantages; other groups are untouched
    perm = torch.cat([torch.tensor([4, 3, 2, 1, 0]), torch.arange(5, 30)])
    assert torch.allclose(group_advantages(rewards[perm], 5), adv[perm], atol=1e-6)


@pytest.mark.parametrize("value", [0.0, 1.0, 0.3])
def test_equal_rewards_give_zero_not_nan(value):
    adv = group_advantages(torch.tensor([value] * 4 + [1.0, 0.0, 1.0, 0.0]), group_size=4)
    assert not torch.isnan(adv).any()
    assert torch.equal(adv[:4], torch.zeros(4))
    assert adv[4] > 0 > adv[5]


def test_group_advantages_bad_input():
    with pytest.raises(ValueError, match="multiple of group_size"):
        group_advantages(torch.zeros(10), group_size=4)
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        group_advantages(torch.zeros(4), group_size=1)
    with pytest.raises(ValueError, match="scale"):
        group_advantages(torch.zeros(4), group_size=2, scale="global")
    with pytest.raises(ValueError, match="baseline"):
        group_advantages(torch.zeros(4), group_size=2, baseline="median")


# --- RLOO and REINFORCE++ baselines -------------------------------------------------------------
def test_rloo_hand_values_and_direct_leave_one_out():
    # group [1, 0, 0, 0]: the other three of response 0 average 0 -> A = 1; of the others 1/3 -> -1/3
    adv = group_advantages(torch.tensor([1.0, 0, 0, 0]), 4, scale="none", baseline="loo")
    assert torch.allclose(adv, torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]))
    g = torch.Generator().manual_seed(3)
    r = torch.rand(5 * 6, generator=g)
    direct = torch.tensor([float(r[i]) - (sum(float(r[j]) for j in range(i // 6 * 6, i // 6 * 6 + 6) if j != i) / 5)
                           for i in range(30)])
    assert torch.allclose(group_advantages(r, 6, scale="none", baseline="loo"), direct, atol=1e-6)
    # ... which is GRPO's centring times G / (G - 1)
    assert torch.allclose(group_advantages(r, 6, scale="none", baseline="loo"),
                          group_advantages(r, 6, scale="none") * 6 / 5, atol=1e-6)


def test_rloo_baseline_does_not_depend_on_the_own_reward():
    """The leave-one-out baseline b_i = r_i - A_i is the same whatever r_i is (so E[grad log pi * b_i]
    = 0 and the estimate is unbiased); GRPO's group mean moves with r_i."""
    r = torch.tensor([0.0, 1.0, 0.0, 1.0])
    for i in range(4):
        changed = r.clone()
        changed[i] = 5.0
        b = r - group_advantages(r, 4, scale="none", baseline="loo")
        b_changed = changed - group_advantages(changed, 4, scale="none", baseline="loo")
        assert b_changed[i] == pytest.approx(float(b[i]))
        grpo_b = changed - group_advantages(changed, 4, scale="none")
        assert grpo_b[i] != pytest.approx(float((r - group_advantages(r, 4, scale="none"))[i]))


def test_batch_scale_divides_by_one_std_for_the_whole_batch():
    r = torch.tensor([1.0, 0, 0, 0, 2, 4, 6, 8])
    centred = [0.75, -0.25, -0.25, -0.25, -3, -1, 1, 3]
    std = math.sqrt(sum(c * c for c in centred) / 7)                # unbiased, the batch mean is 0
    adv = group_advantages(r, 4, scale="batch")
    assert torch.allclose(adv, torch.tensor([c / (std + 1e-4) for c in centred]), atol=1e-6)
    assert adv.std().item() == pytest.approx(1.0, abs=1e-3)
    # one std for all: the groups keep their relative sizes (per-group scaling would make them equal)
    assert adv[4].item() / adv[0].item() == pytest.approx(-3 / 0.75)
    assert torch.equal(group_advantages(torch.tensor([1.0, 1, 0, 1]), 2, scale="batch")[:2], torch.zeros(2))


# --- GSPO: one clipped, length-normalised ratio per sequence ---------------------------------------
def test_gspo_hand_example():
    """Sequence 0 (3 actions) has log-ratios 0.1, 0.2, 0.3: s = e^0.2 = 1.221 > 1.2 with A = 1, so it
    is clipped (loss -1.2, no gradient). Sequence 1 (1 action) has s = e^-0.1 with A = -2: not clipped,
    loss -s A = 2 e^-0.1, gradient on its action d(-s A / 2)/dlogp = -A s / 2 = e^-0.1."""
    old = torch.zeros(2, 5)
    logp = torch.tensor([[9.0, 0.1, 0.2, 0.3, 9.0], [9.0, -0.1, 9.0, 9.0, 9.0]], requires_grad=True)
    loss, stats = grpo_loss(logp, old, None, torch.tensor([1.0, -2.0]), MASK, 0.2, 0.2, 0.0, "gspo")
    assert loss.item() == pytest.approx((-1.2 + 2 * math.exp(-0.1)) / 2, abs=1e-6)
    assert stats["clip_frac"].item() == 0.5
    assert stats["ratio"].item() == pytest.approx((math.exp(0.2) + math.exp(-0.1)) / 2)    # mean of s_i
    loss.backward()
    assert torch.allclose(logp.grad[0], torch.zeros(5))                 # clipped sequence: no gradient
    assert logp.grad[1, 1].item() == pytest.approx(math.exp(-0.1), abs=1e-6)
    assert (logp.grad[1, [0, 2, 3, 4]] == 0).all()                       # padding and prompt: none


def test_gspo_clips_whole_sequences_where_grpo_clips_tokens():
    """Log-ratios +0.5 and -0.5 on one sequence's two actions: GRPO clips the first token alone
    (A > 0), GSPO sees s = e^0 = 1 and clips nothing."""
    old = torch.zeros(1, 3)
    logp = torch.tensor([[0.0, 0.5, -0.5]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    _, grpo_stats = grpo_loss(logp, old, None, torch.ones(1), mask, 0.2, 0.2, 0.0, "grpo")
    _, gspo_stats = grpo_loss(logp, old, None, torch.ones(1), mask, 0.2, 0.2, 0.0, "gspo")
    assert grpo_stats["clip_frac"].item() == 0.5 and gspo_stats["clip_frac"].item() == 0


def test_gspo_with_one_inner_step_has_grpos_gradient():
    g = torch.Generator().manual_seed(2)
    mask = (torch.rand(8, 6, generator=g) > 0.3).float()
    mask[:, 0] = 1
    lp = torch.log_softmax(torch.randn(8, 6, generator=g), dim=0)
    ref = lp - 0.3 * torch.rand(8, 6, generator=g)
    adv = group_advantages(torch.tensor([1.0, 0, 0, 1, 1, 1, 0, 1]), 4)
    grads = []
    for kind in ("grpo", "gspo"):
        leaf = lp.clone().requires_grad_(True)
        grpo_loss(leaf, leaf.detach(), ref, adv, mask, 0.2, 0.2, 0.1, kind)[0].backward()
        grads.append(leaf.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-7)


def test_gspo_needs_one_advantage_per_sequence():
    with pytest.raises(ValueError, match="one advantage per sequence"):
        grpo_loss(torch.zeros(2, 5), torch.zeros(2, 5), None, torch.zeros(2, 5), MASK, 0.2, 0.2, 0.0, "gspo")


# --- grpo_loss --------------------------------------------------------------------------------
MASK = torch.tensor([[0, 1, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=torch.float)   # 3 actions, then 1


def test_loss_types_on_a_hand_example():
    logp = torch.full((2, 5), -1.0)                      # ratio 1, no KL: per-token loss is -A
    adv = torch.tensor([1.0, -2.0])
    values = {t: grpo_loss(logp, logp, None, adv, MASK, 0.2, 0.2, 0.0, t, max_response_len=4)[0].item()
              for t in ("grpo", "dapo", "dr_grpo")}
    assert values["grpo"] == pytest.approx((-1 + 2) / 2)          # mean of sequence means
    assert values["dapo"] == pytest.approx((-3 + 2) / 4)          # token mean over the batch
    assert values["dr_grpo"] == pytest.approx((-3 + 2) / (2 * 4))  # sum / (B * max length)


def test_one_inner_step_equals_reinforce_with_group_baseline():
    g = torch.Generator().manual_seed(1)
    rewards = torch.tensor([1.0, 0, 0, 1, 1, 1, 0, 1])
    adv = group_advantages(rewards, 4)
    mask = (torch.rand(8, 6, generator=g) > 0.3).float()
    mask[:, 0] = 1
    logits = torch.randn(8, 6, generator=g)
    lp1 = torch.log_softmax(logits.clone().requires_grad_(True), dim=0)
    leaf1 = lp1.detach().clone().requires_grad_(True)
    loss, stats = grpo_loss(leaf1, leaf1.detach(), None, adv, mask, 0.2, 0.2, 0.0, "grpo")
    loss.backward()
    leaf2 = lp1.detach().clone().requires_grad_(True)
    reinforce = -((adv[:, None] * leaf2 * mask).sum(1) / mask.sum(1)).mean()
    reinforce.backward()
    assert torch.allclose(leaf1.grad, leaf2.grad, atol=1e-7)
    assert loss.item() == pytest.approx(-(adv[:, None] * mask).sum(1).div(mask.sum(1)).mean().item(), abs=1e-6)
    assert stats["clip_frac"] == 0 and stats["ratio"] == pytest.approx(1.0)


def test_clipping_stops_the_gradient_only_on_the_profitable_side():
    old = torch.zeros(2, 5)
    mask = MASK
    # ratio e^0.5 = 1.65 > 1.2: with A > 0 the clip is active (no gradient), with A < 0 it is not
    for a, grad_zero in ((1.0, True), (-1.0, False)):
        logp = torch.full((2, 5), 0.5, requires_grad=True)
        loss, stats = grpo_loss(logp, old, None, torch.tensor([a, a]), mask, 0.2, 0.2, 0.0, "dapo")
        loss.backward()
        assert bool((logp.grad * mask == 0).all()) == grad_zero
        assert stats["clip_frac"].item() == (1.0 if grad_zero else 0.0)
    # asymmetric clip (DAPO clip-higher): ratio 1.25 is inside [0.8, 1.28] but outside [0.8, 1.2]
    logp = torch.full((2, 5), math.log(1.25))
    _, tight = grpo_loss(logp, old, None, torch.ones(2), mask, 0.2, 0.2, 0.0, "dapo")
    _, loose = grpo_loss(logp, old, None, torch.ones(2), mask, 0.2, 0.28, 0.0, "dapo")
    assert tight["clip_frac"] == 1 and loose["clip_frac"] == 0


def test_k3_kl_hand_value_and_direction():
    logp = torch.zeros(2, 5, requires_grad=True)                  # pi(a) = 1 ...
    ref = torch.full((2, 5), math.log(0.5))                       # ... pi_ref(a) = 0.5
    loss, stats = grpo_loss(logp, logp.detach(), ref, torch.zeros(2), MASK, 0.2, 0.2, 0.5, "dapo")
    k3 = 0.5 + math.log(0.5) * -1 - 1                             # exp(d) - d - 1 with d = log 0.5
    assert stats["kl"].item() == pytest.approx(k3, abs=1e-6)
    assert loss.item() == pytest.approx(0.5 * k3, abs=1e-6)
    loss.backward()
    assert (logp.grad[MASK.bool()] > 0).all()                     # descent lowers logp towards ref


def test_grpo_loss_does_not_modify_inputs_and_bad_input():
    logp, adv = torch.randn(2, 5), torch.tensor([1.0, -1.0])
    copies = (logp.clone(), adv.clone(), MASK.clone())
    grpo_loss(logp, logp - 0.1, logp + 0.1, adv, MASK, 0.2, 0.28, 0.1, "grpo")
    assert all(torch.equal(a, b) for a, b in zip(copies, (logp, adv, MASK)))
    with pytest.raises(ValueError, match="loss_type"):
        grpo_loss(logp, logp, None, adv, MASK, 0.2, 0.2, 0.0, "ppo")
    with pytest.raises(ValueError, match="kl_coef"):
        grpo_loss(logp, logp, logp, adv, MASK, 0.2, 0.2, -0.1, "grpo")
    with pytest.raises(ValueError, match="ref_logprobs"):
        grpo_loss(logp, logp, None, adv, MASK, 0.2, 0.2, 0.1, "grpo")


# --- training -------------------------------------------------------------------------------
TINY = dict(steps=4, batch_size=4, group_size=4, eval_every=2, log_every=1, progress=False)
VOLATILE = ("seconds", "step_seconds", "completions_per_s", "eval_seconds")


@pytest.mark.learning
def test_train_grpo_improves_from_weak_init(weak_init, tmp_path):
    """60 steps of 16 prompts x 8 from the shipped weak start, measured by the expected accuracy (the
    mean probability of the right answer on held-out prompts, 0.134 at the start): it has no sampling
    noise, so a small run suffices. Gains over seeds 0, 1, 2, under the default and AVX2 kernels:
    +0.048 to +0.050 (after 30 steps only +0.010 to +0.019;
    `python benchmarks/learning_margins.py`, results/learning_margins); margin 0.024, half the smallest."""
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    from tests.test_ppo import expected_accuracy
    tok, task = CharTokenizer(), make_task("add2")
    before = expected_accuracy(load_model(weak_init, tok, task)[0], tok, task)
    r = train_grpo(GRPOConfig(init=weak_init, out=str(tmp_path / "g"), steps=60, batch_size=16, group_size=8,
                              eval_every=60, log_every=1, progress=False))
    after = expected_accuracy(r.model, tok, task)
    assert after > before + 0.024, (before, after)
    rows = [m for m in r.metrics if "reward_mean" in m]
    assert len(rows) == 60 and 0 < rows[0]["zero_adv_groups"] < 1
    for key in ("zero_adv_groups", "clip_frac", "kl_per_token", "step_seconds", "completions_per_s"):
        assert key in rows[-1], key
    assert json.loads((tmp_path / "g" / "summary.json").read_text())["algo"] == "grpo"


def test_train_grpo_is_deterministic_and_uses_reference_and_inner_steps(weak_init, tmp_path):
    cfg = dict(TINY, init=weak_init, kl_coef=0.1, inner_steps=2, loss_type="dapo", clip_eps_high=0.28)
    a = train_grpo(GRPOConfig(out=str(tmp_path / "a"), **cfg)).metrics
    b = train_grpo(GRPOConfig(out=str(tmp_path / "b"), **cfg)).metrics
    strip = [[{k: v for k, v in m.items() if k not in VOLATILE} for m in ms] for ms in (a, b)]
    assert strip[0] == strip[1]
    assert any(m["kl_per_token"] > 0 for m in a)                  # the policy moved away from the reference


@pytest.mark.learning
def test_kl_is_measured_against_the_frozen_start(weak_init, tmp_path):
    """With one inner step, the policy equals the reference only before its first update: the k3 KL is
    0 on step 1 and positive after. (A reference that is the policy itself would give 0 on every step.)"""
    rows = train_grpo(GRPOConfig(out=str(tmp_path / "k"), **dict(TINY, init=weak_init, kl_coef=0.1))).metrics
    assert rows[0]["kl_per_token"] == pytest.approx(0.0, abs=1e-6)
    assert rows[-1]["kl_per_token"] > 1e-4, [m["kl_per_token"] for m in rows]


def test_cli_tiny_run(weak_init, tmp_path, capsys):
    from minirl.__main__ import main
    out = tmp_path / "cli"
    rc = main(["grpo", "--init", weak_init, "--out", str(out), "--steps", "2", "--batch_size", "2",
               "--group_size", "2", "--loss_type", "dr_grpo", "--scale", "none", "--no-progress"])
    assert rc == 0
    assert {"config.json", "metrics.jsonl", "model.pt", "summary.json"} <= {p.name for p in out.iterdir()}
    assert "held-out accuracy" in capsys.readouterr().out
    from minirl.evaluation import evaluate
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")                       # the saved policy's held-out accuracy
    summary = json.loads((out / "summary.json").read_text())
    assert summary["eval_accuracy"] == evaluate(load_model(out / "model.pt", tok, task)[0], tok, task)[0]


@pytest.mark.parametrize("flags,message", [
    (["--group_size", "1"], "group_size"),
    (["--kl_coef", "-0.1"], "kl_coef"),
    (["--loss_type", "ppo"], "loss_type"),
    (["--clip_eps", "0"], "clip_eps"),
])
def test_cli_bad_input_fails_early(flags, message, tmp_path, capsys):
    from minirl.__main__ import main
    out = tmp_path / "never"
    assert main(["grpo", "--out", str(out), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_config_bad_values_raise_config_error():
    for bad in (dict(group_size=1), dict(kl_coef=-1.0), dict(loss_type="x"), dict(scale="global"), dict(baseline="x"),
                dict(inner_steps=0), dict(temperature=0.0)):
        with pytest.raises(ConfigError):
            GRPOConfig(**bad).validate()


@pytest.mark.learning
@pytest.mark.parametrize("flags", [dict(baseline="loo", scale="none"), dict(scale="batch"),
                                   dict(loss_type="gspo", inner_steps=2)])
def test_every_estimator_trains_end_to_end(weak_init, tmp_path, flags):
    """RLOO, REINFORCE++'s batch scale and GSPO run through train_grpo, record their flags, and
    update the policy (the saved weights differ from the start)."""
    from minirl.runs import load_model
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    res = train_grpo(GRPOConfig(init=weak_init, out=str(tmp_path / "run"), **{**TINY, "steps": 2}, **flags))
    assert all(math.isfinite(m["loss"]) for m in res.metrics if "loss" in m)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert all(config[k] == v for k, v in flags.items())
    tok, task = CharTokenizer(), make_task("add2")
    start, end = (load_model(p, tok, task)[0].state_dict() for p in (weak_init, tmp_path / "run" / "model.pt"))
    assert any(not torch.equal(start[k], end[k]) for k in start)


@pytest.mark.parametrize("loss_type,inner_steps", [("grpo", 1), ("dapo", 1), ("dr_grpo", 2), ("gspo", 2)])
def test_skipping_zero_signal_groups_gives_the_full_batch_update(tok, task, loss_type, inner_steps):
    """--skip_zero_groups sends only the groups with unequal rewards through the network and rescales
    the loss to the whole batch's denominator: the loss, the updated weights and the logged entropy
    are those of the full batch (beta = 0), while the network sees fewer rows."""
    import copy
    from minirl.grpo_rows import informative_rows
    from tests.grpo_steps import grpo_updates
    from minirl.model import GPT, GPTConfig
    from minirl.optim import make_optimizer
    from minirl.rollout import sample
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_embd=32, n_head=2))
    prompts = [task.prompt(a, b) for a, b in [(12, 34), (5, 6), (70, 8), (41, 41)]]
    roll = sample(model, tok, task, prompts, samples_per_prompt=4, logprobs=True)
    roll.rewards = torch.tensor([1.0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1])   # groups 2 and 4: no signal
    adv = group_advantages(roll.rewards, 4)
    assert informative_rows(adv, 4).tolist() == [True] * 4 + [False] * 4 + [True] * 4 + [False] * 4
    results = []
    for skip in (False, True):
        cfg = GRPOConfig(group_size=4, loss_type=loss_type, inner_steps=inner_steps, skip_zero_groups=skip)
        m = copy.deepcopy(model)
        seen = []
        m.register_forward_hook(lambda mod, args, out: seen.append(args[0].size(0)))
        loss, stats, _ = grpo_updates(m, make_optimizer(m, cfg), roll, adv, None, cfg, task.max_answer_len + 1)
        results.append((loss, stats["entropy"], m.state_dict(), seen))
    (loss0, ent0, w0, seen0), (loss1, ent1, w1, seen1) = results
    assert seen0[0] == 16 and seen1[0] == 8                       # half the rows: the informative groups
    assert loss1 == pytest.approx(loss0.item(), abs=1e-6) and ent1 == pytest.approx(ent0.item(), abs=1e-5)
    assert all(torch.allclose(w0[k], w1[k], atol=1e-6) for k in w0)
    assert any(not torch.equal(w0[k], model.state_dict()[k]) for k in w0)    # and the update moved the weights


def test_skipping_keeps_one_group_when_none_has_signal():
    from minirl.grpo_rows import informative_rows
    assert informative_rows(torch.zeros(8), 4).tolist() == [True] * 4 + [False] * 4
    assert informative_rows(torch.tensor([0.0, 0, 1, -1]), 2).tolist() == [False, False, True, True]


def test_the_old_beta_flag_still_works_and_names_kl_coef(capsys):
    """GRPO's KL weight is --kl_coef, as in PPO (DPO keeps its beta); --beta still sets it, with a
    note on stderr, and is hidden from --help."""
    from minirl.__main__ import available_trainers, build_parser, parse
    parser = build_parser(available_trainers())
    args = parse(parser, ["grpo", "--beta", "0.04"])
    assert args.kl_coef == 0.04 and "--beta is now --kl_coef" in capsys.readouterr().err
    assert parse(parser, ["grpo"]).kl_coef == 0.0
    assert "--beta" not in parser.commands["grpo"].format_help()
    assert parse(parser, ["dpo", "--beta", "0.5"]).beta == 0.5                  # DPO's own beta
