"""REINFORCE: the policy-gradient theorem as code (Williams 1992).

For a policy pi_theta and an episode (s_0, a_0, r_0, ..., s_{T-1}, a_{T-1}, r_{T-1}):

    grad J = E[ sum_t gamma^t grad log pi_theta(a_t | s_t) * (G_t - b(s_t)) ]
    G_t    = sum_{k >= 0} gamma^k r_{t+k}        (the return-to-go)

Like most implementations this code drops the gamma^t (the same with gamma = 1, every arithmetic
run; biased with gamma < 1). The baseline b is a running mean of the return, updated *after* it
is used, so it never depends on the batch it scores. The surrogate minimised (A = G_t - b, a
constant; |A| = the number of actions in the batch, so a ratio estimate, length-weighted):

    L(theta) = - (1 / |A|) sum_{(b,t) in actions} log pi_theta(a_{b,t} | s_{b,t}) * A_{b,t}

One update, two environments, the same (B, T) tensors + mask: the arithmetic task (the GPT is
the policy, an action is a token, the verifier's reward sits on the last action, the EOS) and
`Corridor` (minirl.env), a classic toy, with a tabular softmax policy (`train_reinforce_corridor`).
Chapter: chapters/03-reinforce.md (3.2-3.3 the gradient, 3.4 baselines, 3.5 the loss); other
normalisations of the sum: chapters/07-grpo.md, 7.3.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from .batches import token_logprobs
from .config import PGConfig, config_field  # noqa: F401  (PGConfig: its old home)
from .core import discounted_cumsum, gather_logprobs, masked_mean, masked_mean_std
from .env import Corridor, TabularPolicy, corridor_episodes
from .launch import new_policy, start
from .optim import clip_grad_norm, make_optimizer, set_lr
from .rollout import sample
from .runs import Run, TrainResult


@dataclass
class ReinforceConfig(PGConfig):
    baseline: str = config_field("mean", "mean (running mean of the return) | none (plain "
                                         "REINFORCE)", choices=("mean", "none"))
    baseline_decay: float = config_field(0.9, "running mean: b <- decay * b + (1 - decay) * mean "
                                              "return (0 = the last batch's mean)", below=1)


# --- pure functions -------------------------------------------------------------------------
def discounted_returns(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """Returns-to-go G_t = sum_{k >= 0} gamma^k r_{t+k}, summed over the actions of each row.

    rewards, mask (B, T-1) -> (B, T-1), 0 off-mask. Rewards off the mask are ignored. Actions are
    contiguous (docs/conventions.md), so a step along the row is a step in time.
    """
    return discounted_cumsum(rewards * mask, gamma) * mask                 # (B, T-1)


def reinforce_loss(logprobs: torch.Tensor, advantages: torch.Tensor,
                   mask: torch.Tensor) -> torch.Tensor:
    """- mean over actions of log pi(a_t | s_t) * A_t. logprobs, advantages, mask: (B, T-1).

    The advantages are constants (detached): the gradient flows through log pi only. The mean
    divides by the number of actions in the batch, a random count: a ratio estimate, slightly
    biased and length-weighted (chapter 3, section 3.5).
    """
    return -masked_mean(logprobs * advantages.detach(), mask)


def baseline_advantages(returns: torch.Tensor, mask: torch.Tensor,
                        baseline: float) -> torch.Tensor:
    """A_t = G_t - b on the actions, 0 elsewhere. returns, mask (B, T-1); b a number fixed
    *before* this batch was sampled (a running mean of past returns), so it cannot depend on these
    actions."""
    return (returns - baseline) * mask


def update_baseline(baseline: float, returns: torch.Tensor, mask: torch.Tensor,
                    decay: float) -> float:
    """Running mean of the return: b <- decay * b + (1 - decay) * (mean of G_t over this batch's
    actions)."""
    return decay * baseline + (1 - decay) * masked_mean_std(returns, mask)[0]


class RunningMean:
    """The baseline b of `--baseline mean`: a running mean of past returns (update_baseline). It
    saves and loads like a module (state_dict), so a checkpoint holds it and --resume restores
    it."""

    def __init__(self, decay: float):
        self.decay = decay
        self.value = 0.0

    def update(self, returns: torch.Tensor, mask: torch.Tensor):
        self.value = update_baseline(self.value, returns, mask, self.decay)

    def state_dict(self) -> dict:
        return {"value": float(self.value)}

    def load_state_dict(self, state: dict):
        self.value = state["value"]


# --- the arithmetic task: the GPT as the policy ----------------------------------------------
def sample_batch(model, tok, task, cfg: PGConfig, rng):
    """One rollout: cfg.batch_size training prompts, cfg.samples_per_prompt responses to each
    (no grad, KV cache; their log-probs are recomputed with grad by the update)."""
    prompts = [task.prompt(a, b) for a, b in task.sample_train(cfg.batch_size, rng)]
    return sample(model, tok, task, prompts, cfg.samples_per_prompt, cfg.temperature,
                  logprobs=False)


def rollout_stats(rollout, advantages: torch.Tensor) -> dict:
    """What the policy-gradient trainers log about a rollout: its mean reward, the advantages' mean
    and std over the actions, the mean response length."""
    adv_mean, adv_std = masked_mean_std(advantages, rollout.mask)
    return dict(reward=rollout.rewards.mean(), adv_mean=adv_mean, adv_std=adv_std,
                response_len=rollout.response_lengths.mean())


def train_reinforce(cfg: ReinforceConfig, model=None) -> TrainResult:
    tok, task, device = start(cfg)
    # --init checked here
    model = model if model is not None else new_policy(cfg, tok, task, device)
    run = Run("reinforce", cfg, tok, task, show=("eval_accuracy", "reward", "adv_std"))
    optimizer = make_optimizer(model, cfg)
    rng = random.Random(cfg.seed)
    baseline = RunningMean(cfg.baseline_decay)            # b = 0 until the first update
    run.keep(model, optimizer, rng, baseline=baseline)    # what a checkpoint holds (--resume)
    model.train()
    for step in run.steps():
        # 1. rollout: sample responses and score them, then returns and advantages
        rollout = sample_batch(model, tok, task, cfg, rng)
        returns = discounted_returns(rollout.token_rewards(), rollout.mask, cfg.gamma)  # (B, T-1)
        advantages = baseline_advantages(returns, rollout.mask, baseline.value)  # (B, T-1)
        # 2. one gradient step on the surrogate
        set_lr(optimizer, cfg, step)
        logprobs = token_logprobs(model, rollout.tokens)                   # (B, T-1), with grad
        loss = reinforce_loss(logprobs, advantages, rollout.mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(model, cfg.grad_clip)
        optimizer.step()
        if cfg.baseline == "mean":                                         # updated after use
            baseline.update(returns, rollout.mask)

        # --- logging (skip on first read) ---
        if (step + 1) % cfg.log_every == 0:
            run.add(**rollout_stats(rollout, advantages), baseline=baseline.value, loss=loss.item(),
                    grad_norm=grad_norm)
        run.step(step + 1, rewards=rollout.rewards)  # also warns if the rewards carry no signal
    return run.finish(model, {"gamma": cfg.gamma})


# --- the classic env: a tabular softmax policy on the Corridor ---------------------------------
def train_reinforce_corridor(length: int = 6, iterations: int = 100, episodes: int = 16,
                             lr: float = 0.1, gamma: float = 0.9, baseline_decay: float = 0.9,
                             seed: int = 0) -> list[dict]:
    """REINFORCE with a running-mean baseline on the Corridor. Same discounted_returns and
    reinforce_loss as the LLM. -> one dict per iteration: mean return, episode length, greedy
    return."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    policy = TabularPolicy(length, Corridor.n_actions)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    baseline = 0.0
    history = []
    for it in range(iterations):
        states, actions, rewards, mask = corridor_episodes(policy, episodes, length, gen)
        returns = discounted_returns(rewards, mask, gamma)                 # (B, T)
        advantages = baseline_advantages(returns, mask, baseline)
        logprobs = gather_logprobs(policy(states), actions)                # (B, T)
        loss = reinforce_loss(logprobs, advantages, mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        baseline = update_baseline(baseline, returns, mask, baseline_decay)
        g = corridor_episodes(policy, 1, length, greedy=True)
        history.append(dict(iteration=it + 1, episodes=(it + 1) * episodes,
                            ret=float(returns[:, 0].mean()),
                            length=float(mask.sum(1).mean()),
                            greedy_return=float(discounted_returns(g[2], g[3], gamma)[0, 0])))
    return history


CLI = (ReinforceConfig, train_reinforce, "REINFORCE with a running-mean baseline (Williams 1992)")
