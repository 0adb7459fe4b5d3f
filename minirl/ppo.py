"""Proximal Policy Optimization (PPO) for a language model, with a value model and a KL leash.

Four models take part (the picture of RLHF, Ouyang et al. 2022; chapter 5, section 5.5):
    1. policy     pi_theta        the GPT being trained (samples the rollouts)
    2. reward     r(x, y)         the verifier, or a learned reward model (minirl.reward_model)
    3. reference  pi_ref          a frozen copy of the starting policy
    4. value      V_phi(s_t)      a ScalarHeadGPT critic, started from the policy's trunk

    r_t = - beta * KL_t(pi_theta || pi_ref)  +  [t is the last action] * score(x, y)
    A_t = sum_{k >= 0} (gamma lambda)^k delta_{t+k},  delta_t = r_t + gamma V(s_{t+1}) - V(s_t)
    L^CLIP = - E_t[min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t)],  rho_t = pi_theta / pi_old

The per-token reward puts the KL penalty on every action (estimator k1; why k1 and not k2 or k3:
section 5.4) and the score on the last one (its EOS, never padding). GAE (Schulman et al. 2016,
eq. 16; section 5.3) takes V = 0 after the last action; the clipped surrogate (Schulman et al.
2017, eq. 7; section 5.2) comes with a clipped value loss (section 5.3). The details follow
CleanRL's ppo.py and TRL's PPOTrainer: whitening and --normalize_reward in section 5.4, the
minibatch epochs and the --target_kl early stop in section 5.5.
"""
from __future__ import annotations

import random
import time

import torch

from .batches import token_logprobs
from .checkpoint import load_model, read_checkpoint
from .config import ConfigError, RunConfig, config_field, defaults
from .core import (
    KL_KINDS,
    clipped_surrogate,
    explained_variance,
    gae,
    kl_estimate,
    masked_mean,
    masked_whiten,
    place_on_last_action,
)
from .launch import new_policy, start
from .model import ScalarHeadGPT, frozen_copy
from .optim import clip_grad_norm, make_optimizer, set_lr
from .reward_model import reward_normalizer, sequence_reward
from .rollout import sample
from .runs import Run, TrainResult


@defaults(steps=300, lr=3e-4, warmup=10, eval_every=10, log_every=1)
class PPOConfig(RunConfig):
    samples_per_prompt: int = config_field(2, "responses sampled per prompt (rollout size = "
                                              "batch_size x this)", at_least=1)
    value_lr: float = config_field(1e-3, "value model learning rate", above=0)
    epochs: int = config_field(2, "passes over each rollout", at_least=1)
    minibatches: int = config_field(2, "minibatches per epoch (must divide the rollout size)",
                                    at_least=1)
    clip_eps: float = config_field(0.2, "policy ratio clip epsilon", above=0, below=1)
    value_clip: float = config_field(0.2, "value clip around the rollout-time values (0 = no "
                                          "clipping)")
    gamma: float = config_field(1.0, "discount factor in [0, 1]", at_most=1)
    lam: float = config_field(0.95, "GAE lambda (0 = one-step TD error, 1 = Monte Carlo "
                                    "return)", at_most=1)
    kl_coef: float = config_field(0.02, "beta: weight of the per-token KL(policy || reference) "
                                        "penalty in the reward (0 = no KL leash)")
    kl_kind: str = config_field("k1", "KL estimator in the reward: k1 (the one whose gradient "
                                      "there is the KL's) | k2 | k3 (k3's value is unbiased, but "
                                      "in the reward its gradient is grad KL(pi||ref) - grad "
                                      "KL(ref||pi), nearly 0 near the reference; chapter 5, "
                                      "section 5.4)",
                                choices=KL_KINDS)
    target_kl: float = config_field(0.0, "stop an iteration's epochs once approx KL(old || new) "
                                         "exceeds this (0 = off)")
    temperature: float = config_field(1.0, "sampling temperature of the rollouts", above=0)
    whiten: bool = config_field(True, "whiten advantages over the batch's action tokens")
    reward_model: str = config_field("", "score responses with this reward model (a model.pt) "
                                         "instead of the verifier")
    normalize_reward: bool = config_field(False, "with --reward_model: optimise (score - mean) / "
                                                 "std, both measured once on the start policy's "
                                                 "samples (Ziegler et al. 2019)")

    def validate(self):
        super().validate()
        n = self.batch_size * self.samples_per_prompt
        if n % self.minibatches:
            raise ConfigError(f"--minibatches {self.minibatches} does not divide the rollout of "
                              f"{n} sequences (batch_size x samples_per_prompt); pick a divisor "
                              f"of {n}")
        if self.reward_model:
            check_reward_model(self.reward_model)


def check_reward_model(path):
    """A reward model must be a ScalarHeadGPT checkpoint (the vocabulary is checked when
    loading)."""
    kind = read_checkpoint(path)["kind"]
    if kind != "ScalarHeadGPT":
        raise ConfigError(f"{path} holds a {kind}, not a reward model; train one with "
                          "`python -m minirl reward-model` and pass its model.pt")


# --- pure functions (the shared ones -- masked_mean, kl_estimate, ... -- are in core.py) ---------
def ppo_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps: float):
    """Clipped surrogate (Schulman et al. 2017, eq. 7): masked mean of -min(rho A, clip(rho) A).

    logprobs (B, T-1) carry gradients; old_logprobs and advantages are constants (detached).
    Stats: clip_frac (share of actions where the clipped term is the smaller one, so the gradient
    is cut), approx_kl (k3 estimate of KL(old || new), as CleanRL), ratio_mean.
    """
    per_token, ratio, clipped = clipped_surrogate(logprobs, old_logprobs, advantages, clip_eps)
    loss = masked_mean(per_token, mask)
    with torch.no_grad():
        log_ratio = logprobs - old_logprobs
        stats = {"clip_frac": masked_mean(clipped, mask),
                 "approx_kl": masked_mean(ratio - 1 - log_ratio, mask),
                 "ratio_mean": masked_mean(ratio, mask)}
    return loss, stats


def ppo_value_loss(values, old_values, returns, mask, clip_eps: float):
    """0.5 masked mean of max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2) (CleanRL, TRL).

    values (B, T-1) carry gradients; old_values and returns are constants. clip_eps = 0: unclipped.
    """
    old_values = old_values.detach()
    returns = returns.detach()
    loss_unclipped = (values - returns) ** 2
    if clip_eps <= 0:
        return 0.5 * masked_mean(loss_unclipped, mask), {"value_clip_frac": torch.tensor(0.0)}
    v_clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    loss_clipped = (v_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask)
    return loss, {"value_clip_frac":
                  masked_mean((loss_clipped > loss_unclipped).float(), mask).detach()}


def ppo_token_rewards(scores, logprobs, ref_logprobs, mask, kl_coef: float, kind: str = "k1"):
    """Per-token rewards (B, T-1): -kl_coef * KL estimate on every action, plus each row's sequence
    score (B,) on its last action (its EOS), never on a padding position. 0 off the mask."""
    kl = kl_estimate(logprobs, ref_logprobs, kind) * mask                                 # (B, T-1)
    return -kl_coef * kl + place_on_last_action(scores, mask)


# --- training -------------------------------------------------------------------------------
def train_ppo(cfg: PPOConfig, model=None, reward_model=None, algo: str = "ppo") -> TrainResult:
    """PPO against the verifier, or against `reward_model` (a ScalarHeadGPT or cfg.reward_model)."""
    tok, task, device = start(cfg)
    policy = model if model is not None else new_policy(cfg, tok, task, device)  # 1. policy
    if reward_model is None and cfg.reward_model:                                # 2. reward
        reward_model, _ = load_model(cfg.reward_model, tok, task, device, kind="ScalarHeadGPT")
    if reward_model is not None:
        reward_model.eval().requires_grad_(False)
    reference = frozen_copy(policy)                                              # 3. reference
    value = ScalarHeadGPT.from_policy(policy)                                    # 4. value
    run = Run(algo, cfg, tok, task, show=("score", "kl", "eval_accuracy", "completions_per_s"),
              plot=("eval_accuracy", "score", "true_reward", "kl", "clip_frac", "approx_kl",
                    "explained_variance"))
    opt_pi = make_optimizer(policy, cfg)
    opt_v = make_optimizer(value, cfg)
    rng = random.Random(cfg.seed)
    norm = (0.0, 1.0)                        # the score PPO sees: (reward model - mean) / std
    if reward_model is not None and cfg.normalize_reward:   # measured on the start policy
        norm = reward_normalizer(reward_model, reference, tok, task, seed=cfg.seed)
    run.keep(policy, opt_pi, rng, value_state=value, reference_state=reference,
             value_optimizer=opt_v)
    n = cfg.batch_size * cfg.samples_per_prompt
    for step in run.steps():
        # 1. rollout: sample responses with the policy (their log-probs are pi_old)
        t0 = time.perf_counter()
        prompts = [task.prompt(a, b) for a, b in task.sample_train(cfg.batch_size, rng)]
        rollout = sample(policy, tok, task, prompts, cfg.samples_per_prompt, cfg.temperature)
        tokens = rollout.tokens                                                 # (B, T)
        mask = rollout.mask                                                     # (B, T-1)
        old_logprobs = rollout.logprobs                                         # (B, T-1)
        with torch.no_grad():
            # 2. score every token with the frozen models: reference log-probs, values, the score
            ref_logprobs = token_logprobs(reference, tokens) * mask             # (B, T-1)
            old_values = value(tokens[:, :-1]) * mask                           # (B, T-1) V(s_t)
            scores = rollout.rewards if reward_model is None else (
                sequence_reward(reward_model, tokens, mask) - norm[0]) / norm[1]
            # 3. per-token rewards (score - beta KL), then GAE advantages and returns
            rewards = ppo_token_rewards(scores, old_logprobs, ref_logprobs, mask, cfg.kl_coef,
                                        cfg.kl_kind)
            advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
            if cfg.whiten:
                advantages = masked_whiten(advantages, mask)
        t1 = time.perf_counter()
        # 4. update: several epochs of minibatch steps on this one rollout
        policy.train()
        value.train()
        set_lr(opt_pi, cfg, step)                     # linear warmup, then cosine
        set_lr(opt_v, cfg, step, peak=cfg.value_lr)   # the value model: the same schedule
        stats = []
        epochs_done = 0
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, device=tokens.device)
            for idx in perm.chunk(cfg.minibatches):
                m = mask[idx]
                logp = token_logprobs(policy, tokens[idx])                      # (b, T-1)
                pi_loss, s = ppo_policy_loss(logp, old_logprobs[idx], advantages[idx], m,
                                             cfg.clip_eps)
                v_loss, vs = ppo_value_loss(value(tokens[idx, :-1]), old_values[idx], returns[idx],
                                            m, cfg.value_clip)
                opt_pi.zero_grad(set_to_none=True)
                opt_v.zero_grad(set_to_none=True)
                (pi_loss + v_loss).backward()     # separate models: each loss reaches only its own
                grad_norm = clip_grad_norm(policy, cfg.grad_clip)
                clip_grad_norm(value, cfg.grad_clip)
                opt_pi.step()
                opt_v.step()
                stats.append({**s, **vs, "policy_loss": pi_loss.detach(),
                              "value_loss": v_loss.detach(), "grad_norm": grad_norm})
            epochs_done += 1
            recent_kl = torch.stack([s["approx_kl"] for s in stats[-cfg.minibatches:]]).mean()
            if cfg.target_kl and float(recent_kl) > cfg.target_kl:      # 5. early stop (CleanRL)
                break
        t2 = time.perf_counter()

        # --- logging (skip on first read): per sequence, the KL summed over its tokens, in nats
        if (step + 1) % cfg.log_every == 0:
            run.add(**{k: float(torch.stack([torch.as_tensor(s[k]) for s in stats]).float().mean())
                       for k in stats[0]})                       # the minibatches' mean
            kl = kl_estimate(old_logprobs, ref_logprobs, cfg.kl_kind) * mask  # (B, T-1)
            kl_k3 = kl_estimate(old_logprobs, ref_logprobs, "k3") * mask      # another estimator
            run.add(score=scores.mean(), true_reward=rollout.rewards.mean(), kl=kl.sum(1).mean(),
                    kl_k3=kl_k3.sum(1).mean(),
                    explained_variance=explained_variance(old_values, returns, mask),
                    response_len=rollout.response_lengths.mean(), epochs=epochs_done,
                    rollout_seconds=t1 - t0, update_seconds=t2 - t1,
                    completions_per_s=n / (t2 - t0))
        run.step(step + 1)
    last = [r for r in run.metrics if "rollout_seconds" in r]
    timing = {k: round(sum(r[k] for r in last) / max(1, len(last)), 4)
              for k in ("rollout_seconds", "update_seconds")}
    summary = {"reward": "reward model" if reward_model is not None else "verifier",
               "final_score": last[-1]["score"] if last else None,
               "final_kl": last[-1]["kl"] if last else None,
               **{f"mean_{k}": v for k, v in timing.items()}}
    if reward_model is not None:      # score = (reward model - mean) / std
        summary["reward_normalizer"] = {"mean": norm[0], "std": norm[1]}
    if last:                          # whole iterations: rollout + update
        summary["completions_per_s"] = round(cfg.batch_size * cfg.samples_per_prompt
                                             / sum(timing.values()), 1)
    return run.finish(policy, summary)


CLI = (PPOConfig, train_ppo,
       "PPO with a value model and a KL leash, against the verifier or a reward model")
