"""REINFORCE: the policy-gradient theorem as code (Williams 1992).

For a policy pi_theta and an episode (s_0, a_0, r_0, ..., s_{T-1}, a_{T-1}, r_{T-1}), the gradient
of the expected return J(theta) = E[G_0] is, by the log-derivative trick grad p = p grad log p,

    grad J = E[ sum_t grad log pi_theta(a_t | s_t) * (G_t - b(s_t)) ]        (Williams 1992;
    G_t    = sum_{k >= 0} gamma^k r_{t+k}        (the return-to-go)           Sutton & Barto 2018, 13.3-13.4)

Only rewards that come after an action can be credited to it, hence G_t rather than G_0. The
baseline b may be anything that does not depend on the action a_t: since
E_{a ~ pi}[grad log pi(a|s)] = sum_a grad pi(a|s) = grad 1 = 0, subtracting b(s) changes no
expectation (the estimate stays unbiased), but a b close to E[G_t] shrinks the size of the terms
being averaged, hence their variance. Here b is a running mean of the return (an exponential
moving average), updated *after* it is used, so it never depends on the batch it scores.

The surrogate whose gradient is that estimate (A = advantage, a constant):

    L(theta) = - (1 / |A|) sum_{(b,t) in actions} log pi_theta(a_{b,t} | s_{b,t}) * A_{b,t}

One update, two environments, the same (B, T) tensors + mask:
  - the arithmetic task: the GPT is the policy, an action is a token, the verifier's reward sits
    on the last action (EOS) -- so with gamma = 1 every token of a response gets the same G_t;
  - `Corridor` (minirl.env), a classic toy, with a tabular softmax policy (`train_reinforce_corridor`).
"""
from __future__ import annotations

import random
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn

from .env import Corridor
from .rollout import evaluate, sample, token_logprobs
from .runs import (ConfigError, Run, RunConfig, TrainResult, clip_and_step, make_optimizer, new_policy,
                   opt, pick_device, seed_everything, set_lr)
from .tokenizer import CharTokenizer


@dataclass
class PGConfig(RunConfig):
    """Fields shared by the policy-gradient trainers (REINFORCE here, A2C in a2c.py)."""
    steps: int = opt(300, "policy iterations (sample, then one gradient step)")
    batch_size: int = opt(32, "prompts per iteration")
    samples_per_prompt: int = opt(8, "responses sampled per prompt (batch = batch_size x this)")
    temperature: float = opt(1.0, "sampling temperature (1 = on-policy; the gradient assumes it)")
    gamma: float = opt(1.0, "discount factor in [0, 1] (1: every token of a response shares its reward)")
    lr: float = opt(2e-4, "AdamW learning rate of the policy")
    eval_every: int = opt(20, "evaluate held-out accuracy every N steps")
    warn_constant_steps: int = opt(20, "warn when every reward in the batch was equal this many steps in a row")

    def validate(self):
        super().validate()
        if not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"--gamma must be in [0, 1], got {self.gamma}")
        if self.samples_per_prompt <= 0:
            raise ConfigError(f"--samples_per_prompt must be a positive integer, got {self.samples_per_prompt}")
        if not self.temperature > 0:
            raise ConfigError(f"--temperature must be > 0, got {self.temperature}")
        if self.warn_constant_steps <= 0:
            raise ConfigError(f"--warn_constant_steps must be positive, got {self.warn_constant_steps}")


@dataclass
class ReinforceConfig(PGConfig):
    baseline: str = opt("mean", "mean (running mean of the return) | none (plain REINFORCE)")
    baseline_decay: float = opt(0.9, "running mean: b <- decay * b + (1 - decay) * mean return")

    def validate(self):
        super().validate()
        if self.baseline not in ("mean", "none"):
            raise ConfigError(f"--baseline must be mean or none, got {self.baseline!r}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError(f"--baseline_decay must be in [0, 1), got {self.baseline_decay}")


# --- pure functions -------------------------------------------------------------------------
def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Returns-to-go G_t = sum_{k >= 0} gamma^k r_{t+k}, summed over the actions of each row.

    rewards, mask (B, T-1) -> (B, T-1), 0 off-mask. Rewards off the mask are ignored. Written as one
    matrix product: G = R @ D^T with D[t, k] = gamma^(k - t) for k >= t, else 0 (the backward
    recursion G_t = r_t + gamma G_{t+1} unrolled). Actions are contiguous (DESIGN.md), so k - t
    counts actions.
    """
    T = rewards.size(1)
    pos = torch.arange(T, device=rewards.device)
    lag = (pos[None, :] - pos[:, None]).to(rewards.dtype)                  # (T, T): lag[t, k] = k - t
    discount = torch.where(lag >= 0, gamma ** lag.clamp(min=0), torch.zeros_like(lag))   # (T, T)
    return (rewards * mask) @ discount.T * mask                           # (B, T-1)


def reinforce_loss(logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """- mean over actions of log pi(a_t | s_t) * A_t. logprobs, advantages, mask: (B, T-1).

    The advantages are constants (detached): the gradient flows through log pi only.
    """
    return -(logprobs * advantages.detach() * mask).sum() / mask.sum().clamp(min=1)


def baseline_advantages(returns: torch.Tensor, mask: torch.Tensor, baseline: float) -> torch.Tensor:
    """A_t = G_t - b on the actions, 0 elsewhere. returns, mask (B, T-1); b a number fixed *before*
    this batch was sampled (a running mean of past returns), so it cannot depend on these actions."""
    return (returns - baseline) * mask


def update_baseline(baseline: float, returns: torch.Tensor, mask: torch.Tensor, decay: float) -> float:
    """Running mean of the return: b <- decay * b + (1 - decay) * (mean of G_t over this batch's actions)."""
    return decay * baseline + (1 - decay) * masked_mean_std(returns, mask)[0]


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    n = mask.sum().clamp(min=1)
    mean = (x * mask).sum() / n
    return float(mean), float((((x - mean) * mask) ** 2).sum() / n) ** 0.5


class ConstantRewardWatch:
    """Warns (once) when every reward in a batch has been the same for `patience` steps in a row:
    then G_t - b carries no information about which action was better, and the gradient is noise."""

    def __init__(self, patience: int):
        self.patience, self.count, self.warned = patience, 0, False

    def update(self, rewards: torch.Tensor):
        constant = bool((rewards == rewards.flatten()[0]).all())
        self.count = self.count + 1 if constant else 0
        if self.count >= self.patience and not self.warned:
            self.warned = True
            warnings.warn(f"every reward was {float(rewards.flatten()[0]):g} for {self.count} steps in a row: "
                          "the policy gradient carries no signal; check the task's reward, or start from a "
                          "policy that sometimes succeeds (e.g. --init a weak SFT checkpoint)", stacklevel=2)


# --- the arithmetic task: the GPT as the policy ----------------------------------------------
def train_reinforce(cfg: ReinforceConfig, model=None) -> TrainResult:
    cfg.validate()
    seed_everything(cfg.seed)
    tok, task = CharTokenizer(), cfg.make_task()
    device = pick_device(cfg.device)
    model = model if model is not None else new_policy(cfg, tok, task, device)   # --init checked here
    run = Run("reinforce", cfg, tok, task)
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)
    run.restore(model, optimizer, rng)
    baseline = float((run.resume_state or {}).get("baseline", 0.0))
    watch = ConstantRewardWatch(cfg.warn_constant_steps)
    model.train()
    bar = run.progress()
    for step in bar:
        pairs = task.sample_train(cfg.batch_size, rng)
        ro = sample(model, tok, task, [task.prompt(a, b) for a, b in pairs], cfg.samples_per_prompt,
                    cfg.temperature, logprobs=False)                       # no grad, KV cache
        watch.update(ro.rewards)
        returns = discounted_returns(ro.token_rewards(), ro.mask, cfg.gamma)   # (B, T-1)
        advantages = baseline_advantages(returns, ro.mask, baseline)       # (B, T-1)
        logprobs = token_logprobs(model, ro.tokens)                        # (B, T-1), with grad
        loss = reinforce_loss(logprobs, advantages, ro.mask)
        loss.backward()
        lr = set_lr(optimizer, cfg, step)
        gnorm = clip_and_step(model, optimizer, cfg.grad_clip)
        if cfg.baseline == "mean":                                         # updated after use
            baseline = update_baseline(baseline, returns, ro.mask, cfg.baseline_decay)
        row = {}
        if (step + 1) % cfg.log_every == 0:
            adv_mean, adv_std = masked_mean_std(advantages, ro.mask)
            row = dict(reward=ro.rewards.mean(), baseline=baseline, adv_mean=adv_mean, adv_std=adv_std,
                       loss=loss.item(), grad_norm=gnorm, lr=lr, response_len=ro.response_lengths.mean())
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row["eval_accuracy"], _ = evaluate(model, tok, task)
            model.train()
        if row:
            row = run.log(step + 1, rollouts=(step + 1) * len(ro.rewards), seconds=run.seconds, **row)
            bar.set_postfix({k: v for k, v in row.items() if k in ("reward", "eval_accuracy")})
    bar.close()
    run.save(model, cfg.steps, optimizer, rng, baseline=baseline)
    acc, samples = evaluate(model, tok, task, n_samples=8)
    return run.finish(model, {"eval_accuracy": acc, "samples": samples, "gamma": cfg.gamma},
                      plot_keys=("eval_accuracy", "reward", "adv_std"))


# --- the classic env: a tabular softmax policy on the Corridor ---------------------------------
class TabularPolicy(nn.Module):
    """pi(a | s) = softmax(theta[s]): one row of logits per state. states (...) -> logits (..., A)."""

    def __init__(self, n_states: int, n_actions: int):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n_states, n_actions))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.logits[states]


@torch.no_grad()
def corridor_episodes(policy: nn.Module, n: int, length: int, generator=None, greedy: bool = False):
    """Play n Corridor episodes side by side (the env is Python, so this loops over time steps, not
    over tokens). -> states, actions (B, T) long; rewards, mask (B, T) float; T = longest episode.
    states[:, t] is s_t, the state before action t; mask is 1 on the actions actually taken."""
    envs = [Corridor(length) for _ in range(n)]
    T = envs[0].max_steps
    states = torch.zeros(n, T, dtype=torch.long)
    actions = torch.zeros(n, T, dtype=torch.long)
    rewards, mask = torch.zeros(n, T), torch.zeros(n, T)
    s = torch.tensor([e.reset() for e in envs])
    alive = [True] * n
    for t in range(T):
        logits = policy(s)                                                 # (n, A)
        a = logits.argmax(-1) if greedy else torch.multinomial(logits.softmax(-1), 1, generator=generator)[:, 0]
        for i, env in enumerate(envs):
            if alive[i]:
                states[i, t], actions[i, t], mask[i, t] = s[i], a[i], 1.0
                s[i], rewards[i, t], done, _ = env.step(int(a[i]))
                alive[i] = not done
        if not any(alive):
            T = t + 1
            break
    return states[:, :T], actions[:, :T], rewards[:, :T], mask[:, :T]


def train_reinforce_corridor(length: int = 6, iterations: int = 100, episodes: int = 16, lr: float = 0.1,
                             gamma: float = 0.9, baseline_decay: float = 0.9, seed: int = 0) -> list[dict]:
    """REINFORCE with a running-mean baseline on the Corridor. Same discounted_returns and
    reinforce_loss as the LLM. -> one dict per iteration: mean return, episode length, greedy return."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = TabularPolicy(length, Corridor.n_actions)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    baseline, history = 0.0, []
    for it in range(iterations):
        states, actions, rewards, mask = corridor_episodes(policy, episodes, length, gen)
        returns = discounted_returns(rewards, mask, gamma)                 # (B, T)
        advantages = baseline_advantages(returns, mask, baseline)
        logprobs = torch.log_softmax(policy(states), -1).gather(-1, actions[..., None])[..., 0]   # (B, T)
        loss = reinforce_loss(logprobs, advantages, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        baseline = update_baseline(baseline, returns, mask, baseline_decay)
        g = corridor_episodes(policy, 1, length, greedy=True)
        history.append(dict(iteration=it + 1, episodes=(it + 1) * episodes, ret=float(returns[:, 0].mean()),
                            length=float(mask.sum(1).mean()),
                            greedy_return=float(discounted_returns(g[2], g[3], gamma)[0, 0])))
    return history


def corridor_optimal_return(length: int, gamma: float) -> float:
    """Always walking right reaches the goal with the (length-1)-th action: G_0 = gamma^(length-2)."""
    return gamma ** (length - 2)


CLI = (ReinforceConfig, train_reinforce, "REINFORCE with a running-mean baseline (Williams 1992)")
