"""Advantage actor-critic (A2C): REINFORCE with a learned state value V(s) as the baseline.

An actor pi_theta(a|s) and a critic V_phi(s) ~ E[G_t | s_t = s] (Mnih et al. 2016, "A3C", whose
synchronous variant is A2C; chapter 4). The advantage is the n-step TD advantage (section 4.2;
n = 1: the TD error delta_t = r_t + gamma V(s_{t+1}) - V(s_t)):

    G^(n)_t = sum_{k<n} gamma^k r_{t+k} + gamma^n V(s_{t+n}),   A_t = G^(n)_t - V(s_t)

truncated at the last action, where nothing is bootstrapped (n >= the episode's length gives the
Monte Carlo return: REINFORCE with V(s) as its baseline). The loss (minimised; section 4.4):

    L = - mean_actions[log pi(a_t|s_t) A_t] + value_coef * 0.5 * mean_actions[(V(s_t) - G^(n)_t)^2]
        - entropy_coef * mean_actions[H(pi(.|s_t))]

with A_t and the target G^(n)_t treated as constants (the critic must not move its own target).
For the LLM, values[:, t] = V(s_t) with s_t = tokens[:, :t+1], the critic's output at position t
(section 4.5; docs/conventions.md). This file builds on reinforce.py (its config fields, returns
and rollout helpers).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import torch

from .config import PGConfig, config_field
from .core import (discounted_cumsum, entropy_from_logits, explained_variance, gae, gather_logprobs,
                   masked_mean)
from .env import Corridor, TabularPolicy, TabularValue, corridor_episodes
from .launch import new_policy, start
from .model import ScalarHeadGPT
from .optim import clip_grad_norm, make_optimizer, set_lr
from .reinforce import discounted_returns, reinforce_loss, rollout_stats, sample_batch
from .runs import Run, TrainResult


@dataclass
class A2CConfig(PGConfig):
    n_steps: int = config_field(8, "TD horizon: 1 = one-step TD error; >= the longest response "
                                   "(add2: 4) = Monte Carlo return with V as the baseline",
                                at_least=1)
    advantages: str = config_field("n_step", "n_step (the n-step TD target, --n_steps) | gae "
                                             "(GAE with --gae_lambda)", choices=("n_step", "gae"))
    gae_lambda: float = config_field(0.95, "GAE's lambda with --advantages gae: 0 = one-step TD, "
                                           "1 = Monte Carlo", at_most=1)
    value_lr: float = config_field(3e-4, "AdamW learning rate of the value model (the critic V(s))",
                                   above=0)
    value_init: str = config_field("policy", "policy (copy the policy's trunk, new zero head) | "
                                             "scratch", choices=("policy", "scratch"))
    value_warmup: int = config_field(0, "first iterations train only the value model (the actor "
                                        "waits for a usable V; 0 = none)")
    RENAMED: ClassVar[dict] = {"critic_lr": "value_lr", "critic_init": "value_init",
                               "critic_warmup": "value_warmup"}     # old flags, accepted for now
    value_coef: float = config_field(1.0, "weight of 0.5 * MSE(V, target) in the loss (0 = the "
                                          "critic does not learn)")
    entropy_coef: float = config_field(0.0, "weight of the entropy bonus (0 = off)")


# --- pure functions -------------------------------------------------------------------------
def _shift_left(x: torch.Tensor, n: int) -> torch.Tensor:
    """x (B, T) -> y with y[:, t] = x[:, t + n], 0 past the end."""
    return torch.cat([x[:, n:], torch.zeros_like(x[:, :n])], dim=1)[:, :x.size(1)]


def td_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
                  n_steps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """n-step TD advantages and value targets. rewards, values, mask (B, T-1) -> two (B, T-1),
    0 off-mask.

    returns[:, t]    = sum_{k<n} gamma^k r_{t+k} + gamma^n V(s_{t+n})
                       (no bootstrap past the last action)
    advantages[:, t] = returns[:, t] - V(s_t)                          (n = 1: the TD error delta_t)
    Both are computed from values.detach(): they are targets, not things to differentiate.
    """
    values, rewards = values.detach(), rewards * mask
    # sum_{k<n} gamma^k r_{t+k}
    n_step_rewards = discounted_cumsum(rewards, gamma, window=n_steps)
    bootstrap = _shift_left(values * mask, n_steps)                   # V(s_{t+n}); 0 after the end
    returns = (n_step_rewards + gamma ** n_steps * bootstrap) * mask  # (B, T-1)
    return (returns - values) * mask, returns


def a2c_loss(logprobs: torch.Tensor, values: torch.Tensor, advantages: torch.Tensor,
             returns: torch.Tensor, mask: torch.Tensor, entropy: torch.Tensor | None = None,
             value_coef: float = 1.0, entropy_coef: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Actor-critic loss; every input (B, T-1), means over the actions (mask).

    policy term  - mean(log pi * A)                (A detached: REINFORCE with a critic's advantage)
    value term   value_coef * 0.5 * mean((V - R)^2) (R detached: regress V onto a fixed target)
    entropy term - entropy_coef * mean(H)          (entropy optional)
    -> (loss, stats) with stats = policy_loss, value_loss, entropy (floats).
    """
    policy_loss = reinforce_loss(logprobs, advantages, mask)
    value_loss = 0.5 * masked_mean((values - returns.detach()) ** 2, mask)
    ent = masked_mean(entropy, mask) if entropy is not None else torch.zeros((), device=mask.device)
    loss = policy_loss + value_coef * value_loss - entropy_coef * ent
    return loss, dict(policy_loss=policy_loss.item(), value_loss=value_loss.item(),
                      entropy=ent.item())


# --- the arithmetic task: GPT actor, ScalarHeadGPT critic ---------------------------------------
def train_a2c(cfg: A2CConfig, model=None, value=None) -> TrainResult:
    tok, task, device = start(cfg)
    # --init checked here
    model = model if model is not None else new_policy(cfg, tok, task, device)
    if value is None:                                      # V(s), the critic
        value = (ScalarHeadGPT.from_policy(model) if cfg.value_init == "policy"
                 else ScalarHeadGPT(model.config).to(device))
    run = Run("a2c", cfg, tok, task, show=("reward", "value_loss", "eval_accuracy"),
              plot=("eval_accuracy", "reward", "value_loss", "explained_variance"))
    optimizer = make_optimizer(model, cfg)
    value_opt = make_optimizer(value, cfg, lr=cfg.value_lr)
    rng = random.Random(cfg.seed)
    # --resume: restored
    run.keep(model, optimizer, rng, value=value, value_optimizer=value_opt)
    model.train()
    value.train()
    for step in run.steps():
        # 1. rollout: sample responses and score them
        rollout = sample_batch(model, tok, task, cfg, rng)
        # 2. actor and critic on the same tokens; n-step TD advantages from the critic's values
        set_lr(optimizer, cfg, step)
        set_lr(value_opt, cfg, step, peak=cfg.value_lr)    # the value model: the same schedule
        logits = model(rollout.tokens[:, :-1])                             # (B, T-1, V)
        logprobs = gather_logprobs(logits, rollout.tokens[:, 1:])          # (B, T-1)
        values = value(rollout.tokens[:, :-1])                             # (B, T-1): V(s_t)
        if cfg.advantages == "gae":    # GAE: every n-step advantage, weighted by lambda^(n-1)
            advantages, returns = gae(rollout.token_rewards(), values.detach(), rollout.mask,
                                      cfg.gamma, cfg.gae_lambda)
        else:
            advantages, returns = td_advantages(rollout.token_rewards(), values, rollout.mask,
                                                cfg.gamma, cfg.n_steps)
        loss, stats = a2c_loss(logprobs, values, advantages, returns, rollout.mask,
                               entropy_from_logits(logits), cfg.value_coef, cfg.entropy_coef)
        # 3. one step for each model (separate models: each term reaches only its own parameters)
        optimizer.zero_grad(set_to_none=True)
        value_opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(model, cfg.grad_clip)
        clip_grad_norm(value, cfg.grad_clip)
        if step >= cfg.value_warmup:    # during warm-up the actor waits
            optimizer.step()
        value_opt.step()

        # --- logging (skip on first read) ---
        if (step + 1) % cfg.log_every == 0:
            run.add(**rollout_stats(rollout, advantages), **stats, grad_norm=grad_norm,
                    explained_variance=explained_variance(values.detach(), returns, rollout.mask))
        run.step(step + 1, rewards=rollout.rewards)  # also warns if the rewards carry no signal
    return run.finish(model, {"gamma": cfg.gamma, "n_steps": cfg.n_steps})


# --- the classic env: tabular actor and tabular critic on the Corridor --------------------------
def train_a2c_corridor(length: int = 6, iterations: int = 100, episodes: int = 16,
                       lr: float = 0.1, value_lr: float = 0.05, gamma: float = 0.9,
                       n_steps: int = 1, seed: int = 0) -> list[dict]:
    """One-step A2C on the Corridor with tabular actor and critic; same td_advantages and a2c_loss
    as the LLM. -> one dict per iteration: mean return, episode length, greedy return, V(start)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = TabularPolicy(length, Corridor.n_actions)
    value = TabularValue(length)
    optimizer = torch.optim.Adam([{"params": policy.parameters(), "lr": lr},
                                  {"params": value.parameters(), "lr": value_lr}])
    history = []
    for it in range(iterations):
        states, actions, rewards, mask = corridor_episodes(policy, episodes, length, gen)
        logprobs = gather_logprobs(policy(states), actions)                # (B, T)
        values = value(states)                                             # (B, T)
        advantages, returns = td_advantages(rewards, values, mask, gamma, n_steps)
        loss, stats = a2c_loss(logprobs, values, advantages, returns, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        g = corridor_episodes(policy, 1, length, greedy=True)
        history.append(dict(iteration=it + 1, episodes=(it + 1) * episodes,
                            ret=float(discounted_returns(rewards, mask, gamma)[:, 0].mean()),
                            length=float(mask.sum(1).mean()),
                            value_start=float(value.v.detach()[0]),
                            greedy_return=float(discounted_returns(g[2], g[3], gamma)[0, 0]),
                            **stats))
    return history


CLI = (A2CConfig, train_a2c, "advantage actor-critic with a V(s) critic (Mnih et al. 2016)")
