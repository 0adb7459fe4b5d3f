"""Proximal Policy Optimization (PPO) for a language model, with a value model and a KL leash.

Four models take part (the picture of RLHF, Ouyang et al. 2022):
    policy     pi_theta        the GPT being trained (samples the rollouts)
    value      V_phi(s_t)      a ScalarHeadGPT critic, started from the policy's trunk
    reward     r(x, y)         the verifier, or a learned reward model (minirl.reward_model)
    reference  pi_ref          a frozen copy of the starting policy

Per-token reward (Ziegler et al. 2019; Stiennon et al. 2020): a KL penalty on every action and the
sequence score on the last one (its EOS; never a padding position),

    r_t = - beta * KL_t(pi_theta || pi_ref)  +  [t is the last action] * score(x, y).

Advantages by GAE (Schulman et al. 2016, eq. 16), with delta_t = r_t + gamma V(s_{t+1}) - V(s_t)
and V = 0 after the last action:

    A_t = sum_{k >= 0} (gamma lambda)^k delta_{t+k},        returns R_t = A_t + V(s_t).

Clipped surrogate (Schulman et al. 2017, eq. 7), rho_t = pi_theta(a_t|s_t) / pi_old(a_t|s_t):

    L^CLIP = - E_t[ min(rho_t A_t, clip(rho_t, 1 - eps, 1 + eps) A_t) ]

and a clipped value loss 0.5 E_t[max((V - R)^2, (V_old + clip(V - V_old, -eps_v, eps_v) - R)^2)].
Details DESIGN.md leaves open follow CleanRL's ppo.py and TRL's PPOTrainer: advantages whitened
over the batch's action tokens, token-mean losses, minibatch epochs over one rollout, global
gradient-norm clipping, approx KL = k3 of the old and new policy, early stop when it passes
--target_kl (checked after each epoch, as CleanRL), KL estimator k1 in the reward (TRL default).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import torch

from .model import ScalarHeadGPT, frozen_copy
from .rollout import evaluate, place_on_last_action, sample, token_logprobs
from .runs import (ConfigError, Run, RunConfig, TrainResult, clip_and_step, load_model, make_optimizer,
                   new_policy, opt, pick_device, read_checkpoint, seed_everything, set_lr)
from .tokenizer import CharTokenizer

KL_KINDS = ("k1", "k2", "k3")


@dataclass
class PPOConfig(RunConfig):
    steps: int = opt(300, "PPO iterations (one rollout + several epochs of updates each)")
    batch_size: int = opt(64, "prompts per rollout")
    samples_per_prompt: int = opt(2, "responses sampled per prompt (rollout size = batch_size x this)")
    lr: float = opt(3e-4, "policy learning rate")
    value_lr: float = opt(1e-3, "value model learning rate")
    warmup: int = opt(10, "iterations of linear learning-rate warmup (Adam's first steps are large)")
    epochs: int = opt(2, "passes over each rollout")
    minibatches: int = opt(2, "minibatches per epoch (must divide the rollout size)")
    clip_eps: float = opt(0.2, "policy ratio clip epsilon")
    value_clip: float = opt(0.2, "value clip around the rollout-time values (0 = no clipping)")
    gamma: float = opt(1.0, "discount")
    lam: float = opt(0.95, "GAE lambda")
    kl_coef: float = opt(0.02, "beta: weight of the per-token KL(policy || reference) penalty in the reward")
    kl_kind: str = opt("k1", "KL estimator in the reward: k1 | k2 | k3")
    target_kl: float = opt(0.0, "stop an iteration's epochs once approx KL(old || new) exceeds this (0 = off)")
    temperature: float = opt(1.0, "sampling temperature of the rollouts")
    whiten: bool = opt(True, "whiten advantages over the batch's action tokens")
    reward_model: str = opt("", "score responses with this reward model (a model.pt) instead of the verifier")
    eval_every: int = opt(10, "evaluate held-out accuracy every N iterations")
    log_every: int = opt(1, "write a metrics line every N iterations")

    def validate(self):
        super().validate()
        if self.samples_per_prompt < 1 or self.epochs < 1 or self.minibatches < 1:
            raise ConfigError("--samples_per_prompt, --epochs and --minibatches must be >= 1")
        n = self.batch_size * self.samples_per_prompt
        if n % self.minibatches:
            raise ConfigError(f"--minibatches {self.minibatches} does not divide the rollout of {n} sequences "
                              f"(batch_size x samples_per_prompt); pick a divisor of {n}")
        if not self.clip_eps > 0:
            raise ConfigError(f"--clip_eps must be > 0 (e.g. 0.2), got {self.clip_eps}")
        if self.value_clip < 0:
            raise ConfigError(f"--value_clip must be >= 0 (0 = off), got {self.value_clip}")
        if not 0.0 <= self.lam <= 1.0 or not 0.0 <= self.gamma <= 1.0:
            raise ConfigError(f"--lam and --gamma must be in [0, 1], got lam={self.lam}, gamma={self.gamma}")
        if self.kl_coef < 0:
            raise ConfigError(f"--kl_coef (beta) must be >= 0 (0 = no KL leash), got {self.kl_coef}")
        if self.kl_kind not in KL_KINDS:
            raise ConfigError(f"--kl_kind must be one of {', '.join(KL_KINDS)}, got {self.kl_kind!r}")
        if self.target_kl < 0 or not self.temperature > 0 or not self.value_lr > 0:
            raise ConfigError("--target_kl must be >= 0, --temperature and --value_lr > 0")
        if self.reward_model:
            check_reward_model(self.reward_model)


def check_reward_model(path):
    """A reward model must be a ScalarHeadGPT checkpoint (the vocabulary is checked when loading)."""
    kind = read_checkpoint(path)["kind"]
    if kind != "ScalarHeadGPT":
        raise ConfigError(f"{path} holds a {kind}, not a reward model; train one with "
                          "`python -m minirl reward-model` and pass its model.pt")


# --- pure functions -------------------------------------------------------------------------
def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over the masked entries (TRL's masked_whiten); 0 off the mask."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16).

    rewards, values, mask: (B, T-1); values[:, t] = V(s_t). The value after the last action is 0.
    Returns (advantages, returns = advantages + values), both (B, T-1) and 0 off the mask.
    The usual backward recursion A_t = delta_t + gamma lam A_{t+1} is written here as one matrix
    product with the discount matrix D[j, t] = (gamma lam)^(j - t) for j >= t (no loop over tokens).
    """
    values, mask = values * mask, mask.to(values.dtype)
    next_values = torch.cat([values[:, 1:], torch.zeros_like(values[:, :1])], dim=1)   # (B, T-1)
    deltas = (rewards + gamma * next_values - values) * mask                             # (B, T-1)
    n = mask.size(1)
    idx = torch.arange(n, device=mask.device)
    power = (idx[:, None] - idx[None, :]).clamp(min=0).to(values.dtype)                 # j - t
    discount = torch.where(idx[:, None] >= idx[None, :], (gamma * lam) ** power, 0.0)   # (T-1, T-1)
    advantages = (deltas @ discount) * mask                                              # (B, T-1)
    return advantages, (advantages + values) * mask


def ppo_policy_loss(logprobs, old_logprobs, advantages, mask, clip_eps: float):
    """Clipped surrogate (Schulman et al. 2017, eq. 7): masked mean of max(-A rho, -A clip(rho)).

    logprobs (B, T-1) carry gradients; old_logprobs and advantages are constants (detached here).
    Stats: clip_frac (share of actions where the clipped term is active), approx_kl (k3 estimate of
    KL(old || new), as CleanRL), ratio_mean.
    """
    log_ratio = logprobs - old_logprobs.detach()                                         # (B, T-1)
    ratio = torch.exp(log_ratio)
    adv = advantages.detach()
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {"clip_frac": masked_mean((clipped > unclipped).float(), mask),
                 "approx_kl": masked_mean(ratio - 1 - log_ratio, mask),
                 "ratio_mean": masked_mean(ratio, mask)}
    return loss, stats


def ppo_value_loss(values, old_values, returns, mask, clip_eps: float):
    """0.5 masked mean of max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2) (CleanRL, TRL).

    values (B, T-1) carry gradients; old_values and returns are constants. clip_eps = 0: unclipped.
    """
    old_values, returns = old_values.detach(), returns.detach()
    loss_unclipped = (values - returns) ** 2
    if clip_eps <= 0:
        return 0.5 * masked_mean(loss_unclipped, mask), {"value_clip_frac": torch.tensor(0.0)}
    v_clipped = old_values + torch.clamp(values - old_values, -clip_eps, clip_eps)
    loss_clipped = (v_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask)
    return loss, {"value_clip_frac": masked_mean((loss_clipped > loss_unclipped).float(), mask).detach()}


def kl_penalty(logprobs, ref_logprobs, kind: str = "k1") -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi (Schulman 2020, "Approximating KL"):
    k1 = log r, k2 = 0.5 (log r)^2, k3 = exp(-log r) + log r - 1 with log r = logp - ref_logp.
    k1 is unbiased but can be negative; k3 is unbiased and >= 0; k2 is biased, low-variance."""
    diff = logprobs - ref_logprobs                                                       # (B, T-1)
    if kind == "k1":
        return diff
    if kind == "k2":
        return 0.5 * diff ** 2
    if kind == "k3":
        return torch.exp(-diff) + diff - 1
    raise ValueError(f"unknown KL estimator {kind!r}; use one of {KL_KINDS}")


def ppo_token_rewards(scores, logprobs, ref_logprobs, mask, kl_coef: float, kind: str = "k1"):
    """Per-token rewards (B, T-1): -kl_coef * KL estimate on every action, plus each row's sequence
    score (B,) on its last action (its EOS), never on a padding position. 0 off the mask."""
    kl = kl_penalty(logprobs, ref_logprobs, kind) * mask                                  # (B, T-1)
    return -kl_coef * kl + place_on_last_action(scores, mask)


# --- training -------------------------------------------------------------------------------
def train_ppo(cfg: PPOConfig, model=None, reward_model=None, algo: str = "ppo") -> TrainResult:
    """PPO against the verifier, or against `reward_model` (a ScalarHeadGPT or cfg.reward_model)."""
    from .reward_model import sequence_reward
    cfg.validate()
    seed_everything(cfg.seed)
    tok, task = CharTokenizer(), cfg.make_task()
    device = pick_device(cfg.device)
    policy = model if model is not None else new_policy(cfg, tok, task, device)          # 1. policy
    if reward_model is None and cfg.reward_model:                                         # 3. reward
        reward_model, _ = load_model(cfg.reward_model, tok, task, device, kind="ScalarHeadGPT")
    if reward_model is not None:
        reward_model.eval().requires_grad_(False)
    reference = frozen_copy(policy)                                                       # 4. reference
    value = ScalarHeadGPT.from_policy(policy)                                             # 2. value
    run = Run(algo, cfg, tok, task)
    opt_pi, opt_v = make_optimizer(policy, cfg), make_optimizer(value, cfg)
    rng = random.Random(cfg.seed)
    if run.resume_state is not None and "value_state" in run.resume_state:
        value.load_state_dict(run.resume_state["value_state"])
        reference.load_state_dict(run.resume_state["reference_state"])
        opt_v.load_state_dict(run.resume_state["value_optimizer"])
    run.restore(policy, opt_pi, rng)
    n = cfg.batch_size * cfg.samples_per_prompt
    bar = run.progress()
    for step in bar:
        # --- rollout: sample, then score every token with the frozen models --------------------
        t0 = time.perf_counter()
        prompts = [task.prompt(a, b) for a, b in task.sample_train(cfg.batch_size, rng)]
        ro = sample(policy, tok, task, prompts, cfg.samples_per_prompt, cfg.temperature)
        tokens, mask, old_logprobs = ro.tokens, ro.mask, ro.logprobs                    # (B,T), (B,T-1) x2
        with torch.no_grad():
            ref_logprobs = token_logprobs(reference, tokens) * mask                       # (B, T-1)
            old_values = value(tokens[:, :-1]) * mask                                     # (B, T-1) V(s_t)
            scores = ro.rewards if reward_model is None else sequence_reward(reward_model, tokens, mask)
            kl = kl_penalty(old_logprobs, ref_logprobs, cfg.kl_kind) * mask               # (B, T-1)
            rewards = ppo_token_rewards(scores, old_logprobs, ref_logprobs, mask, cfg.kl_coef, cfg.kl_kind)
            advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
            if cfg.whiten:
                advantages = masked_whiten(advantages, mask)
        t1 = time.perf_counter()
        # --- update: several epochs of minibatch steps on this one rollout ---------------------
        policy.train(), value.train()
        lr = set_lr(opt_pi, cfg, step)                     # linear warmup, then cosine
        for opt_, lr_ in ((opt_pi, lr), (opt_v, cfg.value_lr * lr / cfg.lr)):
            for group in opt_.param_groups:
                group["lr"] = lr_
        stats, epochs_done = [], 0
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, device=tokens.device)
            for idx in perm.chunk(cfg.minibatches):
                m = mask[idx]
                logp = token_logprobs(policy, tokens[idx])                                # (b, T-1)
                pi_loss, s = ppo_policy_loss(logp, old_logprobs[idx], advantages[idx], m, cfg.clip_eps)
                v_loss, vs = ppo_value_loss(value(tokens[idx, :-1]), old_values[idx], returns[idx], m,
                                            cfg.value_clip)
                (pi_loss + v_loss).backward()     # separate models: each loss reaches only its own
                s.update(vs, policy_loss=pi_loss.detach(), value_loss=v_loss.detach(),
                         grad_norm=clip_and_step(policy, opt_pi, cfg.grad_clip))
                clip_and_step(value, opt_v, cfg.grad_clip)
                stats.append(s)
            epochs_done += 1
            if cfg.target_kl and float(torch.stack([s["approx_kl"] for s in stats[-cfg.minibatches:]]).mean()) \
                    > cfg.target_kl:
                break
        t2 = time.perf_counter()
        row = {}
        if (step + 1) % cfg.log_every == 0:
            var_r = masked_mean((returns - masked_mean(returns, mask)) ** 2, mask)
            row = {k: float(torch.stack([torch.as_tensor(s[k]) for s in stats]).float().mean()) for k in stats[0]}
            row.update(score=scores.mean(), true_reward=ro.rewards.mean(), kl=(kl.sum(1)).mean(),
                       kl_k3=(kl_penalty(old_logprobs, ref_logprobs, "k3") * mask).sum(1).mean(),
                       explained_var=1 - masked_mean((returns - old_values) ** 2, mask) / var_r.clamp(min=1e-8),
                       response_len=ro.response_lengths.mean(), epochs=epochs_done, lr=lr,
                       rollout_seconds=t1 - t0, update_seconds=t2 - t1, completions_per_s=n / (t2 - t0))
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row["eval_accuracy"], _ = evaluate(policy, tok, task)
        if row:
            row = run.log(step + 1, seconds=run.seconds, **row)
            bar.set_postfix({k: row[k] for k in ("score", "kl", "eval_accuracy", "completions_per_s") if k in row})
    bar.close()
    run.save(policy, cfg.steps, opt_pi, rng, value_state=value.state_dict(),
             reference_state=reference.state_dict(), value_optimizer=opt_v.state_dict())
    acc, samples = evaluate(policy, tok, task, n_samples=8)
    last = [r for r in run.metrics if "rollout_seconds" in r]
    timing = {k: round(sum(r[k] for r in last) / max(1, len(last)), 4) for k in ("rollout_seconds", "update_seconds")}
    summary = {"eval_accuracy": acc, "samples": samples, "reward": "reward model" if reward_model is not None
               else "verifier", "final_score": last[-1]["score"] if last else None,
               "final_kl": last[-1]["kl"] if last else None, **{f"mean_{k}": v for k, v in timing.items()}}
    if last:                                                    # whole iterations: rollout + update
        summary["completions_per_s"] = round(cfg.batch_size * cfg.samples_per_prompt / sum(timing.values()), 1)
    return run.finish(policy, summary, plot_keys=("eval_accuracy", "score", "true_reward", "kl", "clip_frac",
                                                  "approx_kl", "explained_var"))


CLI = (PPOConfig, train_ppo, "PPO with a value model and a KL leash, against the verifier or a reward model")
