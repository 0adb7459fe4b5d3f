"""Each test here fails when one mechanism of an algorithm is taken out, even where the learning tests
would still pass: the clip of GRPO's reused batch, the DPO term itself, A2C's critic, PPO's KL leash.
tests/mutants.py takes each of them out (and more) and checks that these tests notice; the last test
here checks that every mutation in that list still matches the source it mutates.

The numbers in the comments were measured from the weak start of conftest.py (29.4% held-out), on
2 shared CPU cores, with MINIRL_TEST_THREADS=1 and =2 (the same numbers at both).
"""
import random
from pathlib import Path

import pytest
import torch

from minirl.runs import load_model
from minirl.tasks import heldout_subset

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.learning      # make test-portable runs this file under every CPU capability


# --- GRPO: with inner_steps > 1 the ratio is taken against the policy that sampled ---------------------
def test_grpo_second_inner_step_has_a_ratio_and_clips(weak_init, tok, task):
    """On the second update of one batch the policy has moved: the ratio pi / pi_old is not 1 and the
    clip cuts some tokens. If pi_old were the current policy (old = logp.detach()), the ratio would be
    exactly 1 and the clip fraction exactly 0 on every step, and inner_steps > 1 would be plain
    REINFORCE steps. Clip fraction of the second step (8 prompts x 8, lr 1e-3): 0.46 on this batch
    (held-out prompts 0-7, seed 0), 0.20 and 0.17 on two others (prompts 8-15 and 16-23, seeds 1 and
    2); threshold 0.05."""
    from minirl.grpo import GRPOConfig, group_advantages
    from tests.grpo_steps import grpo_updates
    from minirl.optim import make_optimizer
    from minirl.rollout import sample
    torch.manual_seed(0)
    model = load_model(weak_init, tok, task, kind="GPT")[0]
    G = 8
    roll = sample(model, tok, task, [task.prompt(a, b) for a, b in task.heldout()[:8]], samples_per_prompt=G)
    adv = group_advantages(roll.rewards, G)
    assert (adv != 0).any()                                             # the batch carries a signal
    first = GRPOConfig(group_size=G, inner_steps=1, lr=1e-3, lr_schedule="constant")
    probe = load_model(weak_init, tok, task, kind="GPT")[0]
    _, one, _ = grpo_updates(probe, make_optimizer(probe, first), roll, adv, None, first, task.max_answer_len + 1)
    assert float(one["ratio"]) == pytest.approx(1.0) and float(one["clip_frac"]) == 0   # one step: rho = 1
    cfg = GRPOConfig(group_size=G, inner_steps=2, lr=1e-3, lr_schedule="constant")
    _, stats, _ = grpo_updates(model, make_optimizer(model, cfg), roll, adv, None, cfg, task.max_answer_len + 1)
    assert float(stats["clip_frac"]) > 0.05, stats
    assert abs(float(stats["ratio"]) - 1) > 1e-3, stats


# --- DPO: the DPO term, not only an NLL on the chosen answers, separates chosen from rejected --------------
def heldout_preferences(model, ref, tok, task):
    """Implicit log-ratios on preference pairs built from the held-out problems (never trained on):
    -> (mean of h = [log pi/pi_ref](chosen) - [log pi/pi_ref](rejected), mean of [log pi/pi_ref](rejected))."""
    from minirl.dpo import preference_batch, sequence_logprob
    from minirl.batches import token_logprobs
    rng = random.Random(99)
    pairs = [(task.prompt(a, b), task.answer(a, b), task.wrong_answer(a, b, rng)) for a, b in task.heldout()]
    tokens, mask = preference_batch(tok, pairs)
    with torch.no_grad():
        logratio = (sequence_logprob(token_logprobs(model.eval(), tokens), mask)
                    - sequence_logprob(token_logprobs(ref.eval(), tokens), mask))          # (2B,)
    B = len(pairs)
    return float((logratio[:B] - logratio[B:]).mean()), float(logratio[B:].mean())


def test_pure_dpo_widens_the_heldout_preference_margin(weak_init, tok, task, tmp_path):
    """Pure DPO (rpo_alpha = 0), 30 steps of 32 pairs at lr 1e-4, beta 0.1. On 500 held-out pairs,
    measured (seeds 0, 1, 2):
        DPO:            margin h +1.47, +1.44, +0.95 nats; rejected log-ratio -1.42, -1.30, -0.70
        NLL on chosen   margin h +0.49, +0.46, +0.46 nats; rejected log-ratio +0.06, +0.09, +0.09
        (the DPO term removed, rpo_alpha = 1)
    DPO pushes the rejected answers below the reference; imitating the chosen ones lifts their near
    misses too. Thresholds: margin > 0.7, rejected < -0.3 (between the two groups, with room)."""
    from minirl.dpo import DPOConfig, train_dpo
    ref = load_model(weak_init, tok, task, kind="GPT")[0]
    r = train_dpo(DPOConfig(init=weak_init, out=str(tmp_path / "d"), steps=30, batch_size=32, lr=1e-4,
                            pairs="corrupt", beta=0.1, rpo_alpha=0.0, eval_every=1000, progress=False))
    margin, rejected = heldout_preferences(r.model, ref, tok, task)
    assert margin > 0.7, (margin, rejected)
    assert rejected < -0.3, (margin, rejected)


# --- A2C: the critic learns --------------------------------------------------------------------------
def test_a2c_critic_value_loss_falls(weak_init, tok, task, tmp_path):
    """The critic (started from the policy's trunk with a zero head, so V = 0) is trained by A2C: its
    value loss 0.5 (V - G)^2 on fixed held-out rollouts (a seeded subset of 100 held-out prompts x 4
    samples of the weak policy, Monte Carlo returns) falls. A critic whose optimizer never steps keeps V = 0 and the loss exactly
    where it was. Measured, 8 steps of 8 prompts x 8 at value_lr 1e-3 (seeds 0, 1, 2, every kernel
    set, 1 and 2 threads): a fall of 14.0 to 16.1% (results/learning_margins, a2c_value_fall);
    threshold: a fall of 5%."""
    from minirl.a2c import A2CConfig, td_advantages, train_a2c
    from minirl.core import masked_mean
    from minirl.model import ScalarHeadGPT
    from minirl.rollout import sample
    policy = load_model(weak_init, tok, task, kind="GPT")[0].eval()
    torch.manual_seed(123)
    ro = sample(policy, tok, task, [task.prompt(a, b) for a, b in heldout_subset(task, 100)], 4, logprobs=False)
    _, returns = td_advantages(ro.token_rewards(), torch.zeros_like(ro.mask), ro.mask, 1.0, 8)   # G_t

    def value_loss(critic):
        with torch.no_grad():
            return float(0.5 * masked_mean((critic(ro.tokens[:, :-1]) - returns) ** 2, ro.mask))

    critic = ScalarHeadGPT.from_policy(load_model(weak_init, tok, task, kind="GPT")[0])
    before = value_loss(critic)
    train_a2c(A2CConfig(init=weak_init, out=str(tmp_path / "a"), progress=False, steps=8, batch_size=8,
                        samples_per_prompt=8, lr=2e-4, value_lr=1e-3, eval_every=1000, log_every=1),
              value=critic)
    after = value_loss(critic)
    assert after < 0.95 * before, (before, after)


# --- PPO: the KL penalty holds the policy near the reference ---------------------------------------------
def test_ppo_kl_penalty_holds_the_policy_near_the_reference(weak_init, tmp_path):
    """Same seed, 10 iterations of 32 prompts x 2, with beta = 0 and beta = 0.5: the logged KL to the
    reference (nats per response, mean of the last 5 iterations). Measured from the shipped weak start
    (seeds 0, 1, 2, default and AVX2 kernels; `python benchmarks/learning_margins.py`):
        beta = 0    0.26, 0.40, 0.50        beta = 0.5   0.12, 0.08, 0.05   (ratio 0.48, 0.20, 0.11)
    A penalty with the wrong sign pushes the KL up instead (ratio above 1); a reference that is the
    policy itself (not a frozen copy) makes it 0 in both. Thresholds: KL(beta = 0) > 0.13, half the
    smallest; ratio < 0.75. The same runs check that PPO's epochs reuse the rollout against its own
    log-probs: the largest clip fraction of the 10 iterations is above 0 (0 if pi_old were the
    current policy)."""
    from minirl.ppo import PPOConfig, train_ppo

    def run(beta):
        r = train_ppo(PPOConfig(init=weak_init, out=str(tmp_path / f"b{beta}"), steps=10, batch_size=32,
                                samples_per_prompt=2, minibatches=2, kl_coef=beta, eval_every=1000,
                                progress=False, device="cpu"))
        return r.metrics

    def kl(rows):
        return sum(m["kl"] for m in rows[-5:]) / 5

    free, leashed = run(0.0), run(0.5)
    assert kl(free) > 0.13, (kl(free), kl(leashed))
    assert kl(leashed) < 0.75 * kl(free), (kl(free), kl(leashed))
    assert max(m["clip_frac"] for m in free) > 0.005


# --- the mutation list stays valid --------------------------------------------------------------------
def test_every_mutation_matches_the_source_exactly_once():
    """tests/mutants.py mutates minirl/ by replacing exact snippets; a refactor that changes one of
    them must update the list, or the mutant would silently test nothing."""
    from tests import mutants
    assert len(mutants.MUTANTS) >= 19
    names = [m.name for m in mutants.MUTANTS]
    assert len(set(names)) == len(names)
    for m in mutants.MUTANTS:
        source = (ROOT / m.file).read_text()
        assert source.count(m.find) == 1, (m.name, m.file, source.count(m.find))
        assert m.find != m.replace and m.tests, m.name
        for node in m.tests:
            path = node.split("::")[0]
            assert (ROOT / path).is_file(), (m.name, node)
            name = node.split("::")[1].split("[")[0]
            assert f"def {name}(" in (ROOT / path).read_text(), (m.name, node)
