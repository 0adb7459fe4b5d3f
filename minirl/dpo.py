"""DPO: Direct Preference Optimization (Rafailov et al. 2023).

RLHF's KL-regularised objective has a closed-form optimum; put into the Bradley-Terry model, its
partition function cancels, and maximum likelihood on pairs (x, chosen y_w, rejected y_l) becomes
(eq. 7), with h = (log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x)):

    L_DPO = - E log sigmoid(beta h)
    L     = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)    (--label_smoothing eps)
    L_IPO = E (h - 1 / (2 beta))^2                 (Azar et al. 2023, eq. 17; --loss_type ipo)

log pi(y|x) is a SUM over the response's tokens (EOS included); the implicit reward of a response
is beta (log pi(y|x) - log pi_ref(y|x)). --rpo_alpha adds the per-token NLL of the chosen answers.
DPO needs no reward model, no critic and no sampling during training: the pairs are fixed data
(from minirl.preferences, --pairs), and the reference's log-probs of a round's pairs are computed
once, up front, so only the policy is held in memory. --rounds N (online DPO) samples fresh
on-policy pairs each round, with the policy at the start of the round as the reference.
Chapter: chapters/06-dpo.md (6.1-6.2 the loss, 6.3 what it needs, 6.5 IPO, 6.6 online DPO).
"""
from __future__ import annotations

import random
import time

import torch
import torch.nn.functional as F

from .batches import encode_pairs, token_logprobs
from .config import ConfigError, RunConfig, config_field, defaults
from .core import masked_mean
from .launch import new_policy, start
from .optim import clip_grad_norm, make_optimizer, set_lr
from .preferences import PAIR_SOURCES, diagnostics, heldout_pairs, make_pairs, pair_logprobs
from .runs import Run, TrainResult

LOSS_TYPES = ("sigmoid", "ipo")


@defaults(steps=300, lr=3e-4, eval_every=25)
class DPOConfig(RunConfig):
    beta: float = config_field(3.0, "beta: strength of the implicit KL to the reference (larger = "
                                    "stay closer)", above=0)
    label_smoothing: float = config_field(0.0, "assumed probability that a preference label is "
                                                "flipped (cDPO; 0 = plain DPO)",
                                          below=0.5)
    n_pairs: int = config_field(4096, "size of the fixed preference dataset drawn from the "
                                      "training split", at_least=1)
    rpo_alpha: float = config_field(0.0, "weight of an NLL term on the chosen answers (RPO, Pang "
                                         "et al. 2024; 0 = pure DPO)")
    loss_type: str = config_field("sigmoid", "sigmoid (DPO) | ipo (squared distance of h to "
                                             "1/(2 beta))", choices=LOSS_TYPES)
    pairs: str = config_field("on_policy", "where the pairs come from: corrupt (one digit changed) "
                                           "| offset (the answer +- 1..3) | on_policy (the "
                                           "policy's own wrong samples)",
                              choices=PAIR_SOURCES)
    rounds: int = config_field(1, "online DPO: N rounds, each with fresh on-policy pairs from the "
                                  "current policy and it as the reference (1 = offline)",
                               at_least=1)
    on_policy_samples: int = config_field(8, "on_policy pairs: answers sampled per prompt",
                                          at_least=2)

    def validate(self):
        super().validate()
        if self.n_pairs < self.batch_size:
            raise ConfigError(f"--n_pairs ({self.n_pairs}) must be at least --batch_size "
                              f"({self.batch_size})")
        if self.rounds > 1 and self.pairs != "on_policy":
            raise ConfigError("--rounds > 1 samples each round's pairs from the policy: use "
                              "--pairs on_policy")
        if self.rounds > self.steps:
            raise ConfigError(f"--rounds ({self.rounds}) must be at most --steps ({self.steps})")
        if self.rounds > 1 and self.resume:
            raise ConfigError("--resume is not supported with --rounds > 1 (a round's pairs come "
                              "from the policy at the start of the round, which the checkpoint "
                              "does not keep)")


def dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta: float,
             label_smoothing: float = 0.0, loss_type: str = "sigmoid"):
    """Sigmoid DPO loss (Rafailov et al. 2023, eq. 7), with cDPO label smoothing as in TRL, or
    IPO's squared loss (Azar et al. 2023, eq. 17): mean of (h - 1/(2 beta))^2, h the log-ratio
    margin.

    All inputs (B,): sequence log-probs, i.e. SUMS over response tokens, under the policy (pi_*,
    with grad) and the frozen reference (ref_*). Returns (loss, chosen_rewards, rejected_rewards),
    the rewards being the detached implicit rewards beta (log pi - log pi_ref), each (B,).
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of "
                         f"{', '.join(LOSS_TYPES)}")
    chosen_logratio = pi_chosen - ref_chosen                                # (B,)
    rejected_logratio = pi_rejected - ref_rejected                          # (B,)
    margin = chosen_logratio - rejected_logratio                            # (B,) h, in nats
    if loss_type == "ipo":
        losses = (margin - 1 / (2 * beta)) ** 2
    else:
        h = beta * margin
        losses = -(1 - label_smoothing) * F.logsigmoid(h) - label_smoothing * F.logsigmoid(-h)
    return losses.mean(), (beta * chosen_logratio).detach(), (beta * rejected_logratio).detach()


def preference_batch(tokenizer, pairs, device="cpu"):
    """[(prompt, chosen, rejected)] -> tokens (2B, T), mask (2B, T-1): the B chosen rows, then the
    B rejected rows. Raises ValueError on a pair whose chosen and rejected responses are
    identical."""
    for p, c, r in pairs:
        if c == r:
            raise ValueError(f"preference pair for {p!r} has identical chosen and rejected "
                             f"responses ({c!r}); such a pair carries no preference, drop it from "
                             f"the data")
    prompts = [p for p, _, _ in pairs]
    return encode_pairs(tokenizer, prompts + prompts,
                        [c for _, c, _ in pairs] + [r for _, _, r in pairs], device)


def sequence_logprob(logprobs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """logprobs (B, T-1), mask (B, T-1) -> (B,): log pi(response | prompt), the SUM of the
    log-probs of the response tokens (EOS included). Not the mean: DPO compares whole-sequence
    probabilities."""
    return (logprobs * mask).sum(dim=1)


def train_dpo(cfg: DPOConfig, model=None, pairs=None) -> TrainResult:
    """DPO on a fixed preference dataset: `pairs` if given, else cfg.n_pairs from cfg.pairs's
    source; with cfg.rounds > 1, fresh on-policy pairs and a new reference every round."""
    tok, task, device = start(cfg)
    model = model if model is not None else new_policy(cfg, tok, task, device)
    rng = random.Random(cfg.seed)
    began = time.perf_counter()     # the clock includes making the first pairs (sampling them)
    held = heldout_pairs(task)
    held_ref = pair_logprobs(model, tok, held)                         # (2N,) against the start

    def new_round():            # -> this round's pairs and their reference log-probs (2N,), once
        data = list(pairs) if pairs is not None else make_pairs(
            cfg.pairs, task, cfg.n_pairs, rng, model, tok, cfg.on_policy_samples, 1.0)
        if not data:
            raise ConfigError("no preference pairs: the policy answered every sampled prompt "
                              "right")
        preference_batch(tok, data)                                         # fail early on bad data
        return data, pair_logprobs(model, tok, data)

    data, ref_all = new_round()
    if cfg.rounds == 1 and len(data) < cfg.batch_size:
        raise ConfigError(f"{len(data)} preference pairs, fewer than --batch_size {cfg.batch_size}")
    per_round = -(-cfg.steps // cfg.rounds)                                 # ceil
    run = Run("dpo", cfg, tok, task, since=began, show=("loss", "eval_accuracy"),
              plot=("eval_accuracy", "loss", "reward_margin", "heldout_pref_accuracy"))
    optimizer = make_optimizer(model, cfg)
    run.keep(model, optimizer, rng,
             evaluate=lambda: diagnostics(model, tok, task, held, held_ref, cfg.beta))
    model.train()
    for step in run.steps():
        if step and step % per_round == 0:          # online DPO: a new round
            data, ref_all = new_round()
        idx = rng.sample(range(len(data)), min(cfg.batch_size, len(data)))
        batch = [data[i] for i in idx]
        B = len(idx)
        tokens, mask = preference_batch(tok, batch, device)                 # (2B, T), (2B, T-1)
        set_lr(optimizer, cfg, step)
        tok_logp = token_logprobs(model, tokens)                            # (2B, T-1)
        logp = sequence_logprob(tok_logp, mask)                             # (2B,)
        ref_c, ref_r = ref_all[idx], ref_all[[i + len(data) for i in idx]]  # (B,), (B,)
        dpo, chosen_r, rejected_r = dpo_loss(logp[:B], logp[B:], ref_c, ref_r, cfg.beta,
                                             cfg.label_smoothing, cfg.loss_type)
        nll = -masked_mean(tok_logp[:B], mask[:B])                          # chosen answers only
        loss = dpo + cfg.rpo_alpha * nll if cfg.rpo_alpha > 0 else dpo
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(model, cfg.grad_clip)
        optimizer.step()

        # --- logging (skip on first read) ---
        if (step + 1) % cfg.log_every == 0:
            run.add(loss=dpo.item(), chosen_nll=nll.item(),
                    reward_margin=(chosen_r - rejected_r).mean().item(),
                    preference_accuracy=(chosen_r > rejected_r).float().mean().item(),
                    chosen_reward=chosen_r.mean().item(), rejected_reward=rejected_r.mean().item(),
                    grad_norm=grad_norm, n_pairs=len(data))
        run.step(step + 1)
    return run.finish(model, {"beta": cfg.beta, "pairs": cfg.pairs, "loss_type": cfg.loss_type,
                              "rounds": cfg.rounds})


CLI = (DPOConfig, train_dpo,
       "DPO: direct preference optimisation on (correct, mistaken) answer pairs")
