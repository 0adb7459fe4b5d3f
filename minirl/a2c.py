"""Advantage actor-critic (A2C): REINFORCE with a learned state value V(s) as the baseline.

An actor pi_theta(a|s) and a critic V_phi(s) ~ E[G_t | s_t = s] (Mnih et al. 2016, "A3C", whose
synchronous variant is A2C; Sutton & Barto 13.5). The critic replaces the return G_t by a
bootstrapped estimate; the one-step temporal-difference (TD) error

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)           (V(s_{t+1}) := 0 after the last action)

is an estimate of the advantage A(s_t, a_t) = Q(s_t, a_t) - V(s_t): unbiased when V = V^pi,
and of much lower variance than G_t - b because it looks one reward ahead, not to the episode's
end. The n-step return (the target of A3C, Mnih et al. 2016) trades back some of that bias for variance:

    G^(n)_t = sum_{k<n} gamma^k r_{t+k} + gamma^n V(s_{t+n}),   A_t = G^(n)_t - V(s_t)

(truncated at the last action, where nothing is bootstrapped). n >= episode length gives the
Monte Carlo return, i.e. REINFORCE with V(s) as its baseline. The loss (minimised):

    L = - mean_actions[ log pi(a_t|s_t) A_t ] + value_coef * 0.5 * mean_actions[(V(s_t) - G^(n)_t)^2]
        - entropy_coef * mean_actions[ H(pi(.|s_t)) ]

with A_t and the target G^(n)_t treated as constants (the critic regresses onto its target; it
must not move the target). For the LLM, values[:, t] = V(s_t) with s_t = tokens[:, :t+1], i.e. the
critic's output at position t (DESIGN.md): a value for every token, the prompt's last one included.

This file builds on reinforce.py (its config fields, returns and rollout helpers).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn as nn

from .env import Corridor
from .model import ScalarHeadGPT
from .reinforce import (ConstantRewardWatch, PGConfig, TabularPolicy, corridor_episodes, discounted_returns,
                        masked_mean_std, reinforce_loss)
from .rollout import evaluate, gather_logprobs, sample
from .runs import (ConfigError, Run, TrainResult, clip_and_step, make_optimizer, new_policy, pick_device,
                   opt, seed_everything, set_lr)
from .tokenizer import CharTokenizer


@dataclass
class A2CConfig(PGConfig):
    n_steps: int = opt(8, "TD horizon: 1 = one-step TD error; >= the longest response (add2: 4) = Monte Carlo return with V as the baseline")
    critic_lr: float = opt(3e-4, "AdamW learning rate of the critic V(s)")
    critic_init: str = opt("policy", "policy (copy the policy's trunk, new zero head) | scratch")
    critic_warmup: int = opt(0, "first iterations train only the critic (the actor waits for a usable V)")
    value_coef: float = opt(1.0, "weight of 0.5 * MSE(V, target) in the loss")
    entropy_coef: float = opt(0.0, "weight of the entropy bonus (0 = off)")

    def validate(self):
        super().validate()
        if self.critic_warmup < 0:
            raise ConfigError(f"--critic_warmup must be >= 0, got {self.critic_warmup}")
        if self.n_steps <= 0:
            raise ConfigError(f"--n_steps must be a positive integer, got {self.n_steps}")
        if not self.critic_lr > 0:
            raise ConfigError(f"--critic_lr must be > 0, got {self.critic_lr}")
        if self.critic_init not in ("policy", "scratch"):
            raise ConfigError(f"--critic_init must be policy or scratch, got {self.critic_init!r}")
        if self.value_coef < 0 or self.entropy_coef < 0:
            raise ConfigError("--value_coef and --entropy_coef must be >= 0")


# --- pure functions -------------------------------------------------------------------------
def _shift_left(x: torch.Tensor, n: int) -> torch.Tensor:
    """x (B, T) -> y with y[:, t] = x[:, t + n], 0 past the end."""
    return torch.cat([x[:, n:], torch.zeros_like(x[:, :n])], dim=1)[:, :x.size(1)]


def td_advantages(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float,
                  n_steps: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """n-step TD advantages and value targets. rewards, values, mask (B, T-1) -> two (B, T-1), 0 off-mask.

    returns[:, t]    = sum_{k<n} gamma^k r_{t+k} + gamma^n V(s_{t+n})   (no bootstrap past the last action)
    advantages[:, t] = returns[:, t] - V(s_t)                          (n = 1: the TD error delta_t)
    Both are computed from values.detach(): they are targets, not things to differentiate.
    """
    values, rewards = values.detach(), rewards * mask
    T = rewards.size(1)
    pos = torch.arange(T, device=rewards.device)
    lag = (pos[None, :] - pos[:, None]).to(rewards.dtype)                  # (T, T): lag[t, k] = k - t
    window = (lag >= 0) & (lag < n_steps)
    discount = torch.where(window, gamma ** lag.clamp(min=0), torch.zeros_like(lag))   # (T, T)
    bootstrap = _shift_left(values * mask, n_steps)                        # V(s_{t+n}); 0 after the end
    returns = (rewards @ discount.T + gamma ** n_steps * bootstrap) * mask   # (B, T-1)
    return (returns - values) * mask, returns


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """logits (B, T, V) -> entropy H(pi(.|s_t)) = -sum_a pi log pi, shape (B, T)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def a2c_loss(logprobs: torch.Tensor, values: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
             mask: torch.Tensor, entropy: torch.Tensor | None = None, value_coef: float = 1.0,
             entropy_coef: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Actor-critic loss; every input (B, T-1), means over the actions (mask).

    policy term  - mean(log pi * A)                (A detached: REINFORCE with a critic's advantage)
    value term   value_coef * 0.5 * mean((V - R)^2) (R detached: regress V onto a fixed target)
    entropy term - entropy_coef * mean(H)          (entropy optional)
    -> (loss, stats) with stats = policy_loss, value_loss, entropy (floats).
    """
    n = mask.sum().clamp(min=1)
    policy_loss = reinforce_loss(logprobs, advantages, mask)
    value_loss = 0.5 * (((values - returns.detach()) ** 2) * mask).sum() / n
    ent = (entropy * mask).sum() / n if entropy is not None else torch.zeros((), device=mask.device)
    loss = policy_loss + value_coef * value_loss - entropy_coef * ent
    return loss, dict(policy_loss=policy_loss.item(), value_loss=value_loss.item(), entropy=ent.item())


def explained_variance(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor) -> float:
    """1 - Var(R - V) / Var(R) over the actions: 1 = perfect critic, 0 = no better than a constant."""
    _, std_r = masked_mean_std(returns, mask)
    _, std_err = masked_mean_std(returns - values, mask)
    return float("nan") if std_r == 0 else 1.0 - std_err ** 2 / std_r ** 2


# --- the arithmetic task: GPT actor, ScalarHeadGPT critic ---------------------------------------
def train_a2c(cfg: A2CConfig, model=None, critic=None) -> TrainResult:
    cfg.validate()
    seed_everything(cfg.seed)
    tok, task = CharTokenizer(), cfg.make_task()
    device = pick_device(cfg.device)
    model = model if model is not None else new_policy(cfg, tok, task, device)   # --init checked here
    if critic is None:
        critic = (ScalarHeadGPT.from_policy(model) if cfg.critic_init == "policy"
                  else ScalarHeadGPT(model.config).to(device))
    run = Run("a2c", cfg, tok, task)
    optimizer = make_optimizer(model, cfg)
    critic_opt = torch.optim.AdamW(critic.parameters(), lr=cfg.critic_lr, weight_decay=cfg.weight_decay,
                                   betas=(0.9, 0.99))
    rng = random.Random(cfg.seed)
    run.restore(model, optimizer, rng)
    if run.resume_state is not None and "critic" in run.resume_state:
        critic.load_state_dict(run.resume_state["critic"])
        critic_opt.load_state_dict(run.resume_state["critic_optimizer"])
    watch = ConstantRewardWatch(cfg.warn_constant_steps)
    model.train(), critic.train()
    bar = run.progress()
    for step in bar:
        pairs = task.sample_train(cfg.batch_size, rng)
        ro = sample(model, tok, task, [task.prompt(a, b) for a, b in pairs], cfg.samples_per_prompt,
                    cfg.temperature, logprobs=False)                       # no grad, KV cache
        watch.update(ro.rewards)
        logits = model(ro.tokens[:, :-1])                                  # (B, T-1, V)
        logprobs = gather_logprobs(logits, ro.tokens[:, 1:])               # (B, T-1)
        values = critic(ro.tokens[:, :-1])                                 # (B, T-1): V(s_t)
        advantages, returns = td_advantages(ro.token_rewards(), values, ro.mask, cfg.gamma, cfg.n_steps)
        loss, stats = a2c_loss(logprobs, values, advantages, returns, ro.mask, entropy_from_logits(logits),
                               cfg.value_coef, cfg.entropy_coef)
        loss.backward()
        lr = set_lr(optimizer, cfg, step)
        if step < cfg.critic_warmup:                                       # actor waits, critic learns
            optimizer.zero_grad(set_to_none=True)
            gnorm = 0.0
        else:
            gnorm = clip_and_step(model, optimizer, cfg.grad_clip)
        clip_and_step(critic, critic_opt, cfg.grad_clip)
        row = {}
        if (step + 1) % cfg.log_every == 0:
            adv_mean, adv_std = masked_mean_std(advantages, ro.mask)
            row = dict(reward=ro.rewards.mean(), adv_mean=adv_mean, adv_std=adv_std, **stats,
                       explained_variance=explained_variance(values.detach(), returns, ro.mask),
                       grad_norm=gnorm, lr=lr, response_len=ro.response_lengths.mean())
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row["eval_accuracy"], _ = evaluate(model, tok, task)
            model.train()
        if row:
            row = run.log(step + 1, rollouts=(step + 1) * len(ro.rewards), seconds=run.seconds, **row)
            bar.set_postfix({k: v for k, v in row.items() if k in ("reward", "value_loss", "eval_accuracy")})
    bar.close()
    run.save(model, cfg.steps, optimizer, rng, critic=critic.state_dict(), critic_optimizer=critic_opt.state_dict())
    acc, samples = evaluate(model, tok, task, n_samples=8)
    return run.finish(model, {"eval_accuracy": acc, "samples": samples, "gamma": cfg.gamma, "n_steps": cfg.n_steps},
                      plot_keys=("eval_accuracy", "reward", "value_loss", "explained_variance"))


# --- the classic env: tabular actor and tabular critic on the Corridor --------------------------
class TabularValue(nn.Module):
    """V(s) = w[s]: one number per state. states (...) -> values (...)."""

    def __init__(self, n_states: int):
        super().__init__()
        self.v = nn.Parameter(torch.zeros(n_states))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.v[states]


def train_a2c_corridor(length: int = 6, iterations: int = 100, episodes: int = 16, lr: float = 0.1,
                       critic_lr: float = 0.05, gamma: float = 0.9, n_steps: int = 1, seed: int = 0) -> list[dict]:
    """One-step A2C on the Corridor with tabular actor and critic; same td_advantages and a2c_loss as
    the LLM. -> one dict per iteration: mean return, episode length, greedy return, V(start)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy, critic = TabularPolicy(length, Corridor.n_actions), TabularValue(length)
    optimizer = torch.optim.Adam([{"params": policy.parameters(), "lr": lr},
                                  {"params": critic.parameters(), "lr": critic_lr}])
    history = []
    for it in range(iterations):
        states, actions, rewards, mask = corridor_episodes(policy, episodes, length, gen)
        logprobs = torch.log_softmax(policy(states), -1).gather(-1, actions[..., None])[..., 0]   # (B, T)
        values = critic(states)                                            # (B, T)
        advantages, returns = td_advantages(rewards, values, mask, gamma, n_steps)
        loss, stats = a2c_loss(logprobs, values, advantages, returns, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        g = corridor_episodes(policy, 1, length, greedy=True)
        history.append(dict(iteration=it + 1, episodes=(it + 1) * episodes,
                            ret=float(discounted_returns(rewards, mask, gamma)[:, 0].mean()),
                            length=float(mask.sum(1).mean()), value_start=float(critic.v.detach()[0]),
                            greedy_return=float(discounted_returns(g[2], g[3], gamma)[0, 0]), **stats))
    return history


CLI = (A2CConfig, train_a2c, "advantage actor-critic with a V(s) critic (Mnih et al. 2016)")
