"""DPO: Direct Preference Optimization (Rafailov et al. 2023).

RLHF maximises a reward while staying close to a reference policy:

    max_pi  E_{x, y~pi} [ r(x, y) ] - beta * KL( pi(.|x) || pi_ref(.|x) )

whose optimum has a closed form, pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x). Solved for the
reward, r(x, y) = beta log(pi*(y|x) / pi_ref(y|x)) + beta log Z(x). Put that into the Bradley-Terry
model of preferences, P(y_w > y_l | x) = sigmoid(r(x, y_w) - r(x, y_l)): the intractable Z(x)
cancels, and maximum likelihood on preference pairs (x, chosen y_w, rejected y_l) becomes
(Rafailov et al. 2023, eq. 7)

    L_DPO = - E log sigmoid( beta [ (log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

log pi(y|x) is the log-probability of the whole response: a SUM over its tokens (EOS included).
The implicit reward of a response is r_hat(x, y) = beta (log pi(y|x) - log pi_ref(y|x)).
With label smoothing eps (conservative DPO, Mitchell 2023; TRL's `label_smoothing`), each label is
assumed flipped with probability eps:

    L = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h),   h = the bracket above.

DPO needs: preference pairs and a frozen reference. It does not need: a reward model, a critic,
or any sampling from the policy during training (it is offline: the pairs are fixed data).
Nothing in the loss keeps log pi(chosen) from falling too ("likelihood displacement"); --rpo_alpha
adds the per-token NLL of the chosen answers (RPO, Pang et al. 2024; TRL's `rpo_alpha`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import ConfigError, RunConfig, config_field
from .core import masked_mean
from .model import frozen_copy
from .optim import clip_grad_norm, make_optimizer, set_lr
from .rollout import encode_pairs, evaluate, token_logprobs
from .runs import Run, TrainResult, new_policy, start


@dataclass
class DPOConfig(RunConfig):
    steps: int = config_field(300, "optimizer steps", at_least=1)
    batch_size: int = config_field(64, "preference pairs per step", at_least=1, at_most=65536)
    lr: float = config_field(1e-4, "peak AdamW learning rate (cosine decay to 10%)", above=0, at_most=10)
    beta: float = config_field(0.1, "beta: strength of the implicit KL to the reference (larger = stay closer)",
                               above=0, at_most=1000)
    label_smoothing: float = config_field(0.0, "assumed probability that a preference label is flipped (cDPO; "
                                                "0 = plain DPO)",
                                          below=0.5)
    n_pairs: int = config_field(4096, "size of the fixed preference dataset drawn from the training split",
                                at_least=1)
    rpo_alpha: float = config_field(0.0, "weight of an NLL term on the chosen answers (RPO, Pang et al. 2024; "
                                         "0 = pure DPO)", at_most=1000)
    eval_every: int = config_field(25, "evaluate held-out accuracy every N steps", at_least=1)

    def validate(self):
        super().validate()
        if self.n_pairs < self.batch_size:
            raise ConfigError(f"--n_pairs ({self.n_pairs}) must be at least --batch_size ({self.batch_size})")


def dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta: float, label_smoothing: float = 0.0):
    """Sigmoid DPO loss (Rafailov et al. 2023, eq. 7), with cDPO label smoothing as in TRL.

    All inputs (B,): sequence log-probs, i.e. SUMS over response tokens, under the policy (pi_*,
    with grad) and the frozen reference (ref_*). Returns (loss, chosen_rewards, rejected_rewards),
    the rewards being the detached implicit rewards beta (log pi - log pi_ref), each (B,).
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    chosen_logratio = pi_chosen - ref_chosen                                # (B,)
    rejected_logratio = pi_rejected - ref_rejected                          # (B,)
    h = beta * (chosen_logratio - rejected_logratio)                        # (B,)
    losses = -(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)
    return losses.mean(), (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()


def preference_batch(tokenizer, pairs, device="cpu"):
    """[(prompt, chosen, rejected)] -> tokens (2B, T), mask (2B, T-1): the B chosen rows, then the B
    rejected rows. Raises ValueError on a pair whose chosen and rejected responses are identical."""
    for p, c, r in pairs:
        if c == r:
            raise ValueError(f"preference pair for {p!r} has identical chosen and rejected responses "
                             f"({c!r}); such a pair carries no preference, drop it from the data")
    prompts = [p for p, _, _ in pairs]
    return encode_pairs(tokenizer, prompts + prompts, [c for _, c, _ in pairs] + [r for _, _, r in pairs],
                        device)


def sequence_logprob(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logprobs (B, T-1), mask (B, T-1) -> (B,): log pi(response | prompt), the SUM of the log-probs
    of the response tokens (EOS included). Not the mean: DPO compares whole-sequence probabilities."""
    return (logprobs * mask).sum(dim=1)


def train_dpo(cfg: DPOConfig, model=None, pairs=None) -> TrainResult:
    """DPO on a fixed preference dataset: `pairs` if given, else cfg.n_pairs from the task."""
    tok, task, device = start(cfg)
    model = model if model is not None else new_policy(cfg, tok, task, device)
    ref = frozen_copy(model)                                                # frozen reference = the start
    rng = random.Random(cfg.seed)
    pairs = list(pairs) if pairs is not None else task.preference_pairs(cfg.n_pairs, rng)
    preference_batch(tok, pairs)                                            # fail early on bad data
    if len(pairs) < cfg.batch_size:
        raise ConfigError(f"{len(pairs)} preference pairs, fewer than --batch_size {cfg.batch_size}")
    run = Run("dpo", cfg, tok, task)
    optimizer = make_optimizer(model, cfg)
    run.restore(model, optimizer, rng)
    model.train()
    save = lambda step: run.save(model, step, optimizer, rng)  # noqa: E731
    bar = run.progress()
    for step in bar:
        batch = rng.sample(pairs, cfg.batch_size)
        tokens, mask = preference_batch(tok, batch, device)                 # (2B, T), (2B, T-1)
        B = len(batch)
        lr = set_lr(optimizer, cfg, step)
        tok_logp = token_logprobs(model, tokens)                            # (2B, T-1)
        logp = sequence_logprob(tok_logp, mask)                             # (2B,)
        with torch.no_grad():
            ref_logp = sequence_logprob(token_logprobs(ref, tokens), mask)  # (2B,)
        dpo, chosen_r, rejected_r = dpo_loss(logp[:B], logp[B:], ref_logp[:B], ref_logp[B:],
                                             cfg.beta, cfg.label_smoothing)
        nll = -masked_mean(tok_logp[:B], mask[:B])                          # chosen answers only
        loss = dpo + cfg.rpo_alpha * nll if cfg.rpo_alpha > 0 else dpo
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = clip_grad_norm(model, cfg.grad_clip)
        optimizer.step()
        row = {}
        if (step + 1) % cfg.log_every == 0:
            row = dict(loss=dpo.item(), chosen_nll=nll.item(), reward_margin=(chosen_r - rejected_r).mean().item(),
                       preference_accuracy=(chosen_r > rejected_r).float().mean().item(),
                       chosen_reward=chosen_r.mean().item(), rejected_reward=rejected_r.mean().item(),
                       grad_norm=gnorm, lr=lr)
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row["eval_accuracy"], _ = evaluate(model, tok, task)
            model.train()
        run.end_step(step + 1, row, bar, show=("loss", "eval_accuracy"), save=save)
    bar.close()
    save(cfg.steps)
    acc, samples = evaluate(model, tok, task, n_samples=8)
    return run.finish(model, {"eval_accuracy": acc, "samples": samples, "beta": cfg.beta},
                      plot_keys=("eval_accuracy", "loss", "reward_margin", "preference_accuracy"))


CLI = (DPOConfig, train_dpo, "DPO: direct preference optimisation on (correct, mistaken) answer pairs")
