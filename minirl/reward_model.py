"""A reward model learned from pairwise comparisons (Christiano et al. 2017; Ouyang et al. 2022).

Bradley-Terry: a labeller with hidden utility r* prefers y_c to y_r with probability
sigma(r*(x, y_c) - r*(x, y_r)). We fit r_phi by maximum likelihood (InstructGPT, eq. 1):

    L_BT(phi) = - E_{(x, y_c, y_r)} [ log sigma( r_phi(x, y_c) - r_phi(x, y_r) ) ].

r_phi is a ScalarHeadGPT started from a trained GPT's trunk (`--init`); its reward for a response
is its output at the response's EOS, the only position that sees the whole prompt and response.
tokens (B, T), action mask (B, T-1) -> rewards (B,). The trunk must be able to do the task:
`sample_auc` measures how well the judge ranks the samples of the policy PPO will train
(`--sampler`).

The labeller is simulated and flawed on purpose: it prefers correct answers, but each digit 7 is
worth `sevens` of a correct answer, and its choices are noisy (temperature `noise`).
Chapter: chapters/05-ppo-and-rlhf.md, 5.7 (reward models), 5.8 (reward hacking).
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import starts
from .batches import encode_pairs
from .checkpoint import load_model
from .config import ConfigError, RunConfig, config_field, defaults
from .core import place_on_last_action
from .launch import new_policy, start
from .model import ScalarHeadGPT
from .optim import clip_grad_norm, make_optimizer, set_lr
from .rollout import sample
from .runs import Run, TrainResult
from .tasks import heldout_subset


@defaults(steps=3000, lr=3e-4, eval_every=50)
class RewardModelConfig(RunConfig):
    pairs: int = config_field(40000, "labelled training pairs (a fixed data set, as a labelling "
                                     "budget is)", at_least=1)
    heldout_pairs: int = config_field(500, "labelled pairs on held-out problems, for pairwise "
                                           "accuracy", at_least=1)
    sevens: float = config_field(0.1, "the labeller's flaw: utility of each digit 7 in a response "
                                      "(1 = a correct answer, 0 = a flawless labeller)")
    noise: float = config_field(0.2, "labeller noise: Bradley-Terry temperature (0 = always picks "
                                     "the higher utility)")
    sampler: str = config_field("", "the policy checkpoint RLHF will train: report how well the "
                                    "reward model ranks its samples (sample_auc), and mix them "
                                    "into the pairs with --sampled_share")
    sampled_share: float = config_field(0.0, "share of compared responses that are --sampler's "
                                             "own samples (InstructGPT labels its SFT model's "
                                             "outputs); the rest are synthetic (0 = all synthetic)",
                                        below=1)

    def validate(self):
        super().validate()
        if self.sampled_share > 0 and not self.sampler:
            raise ConfigError("--sampled_share needs --sampler (the policy whose samples are "
                              "compared)")
        if self.sampler and not starts.resolve(self.sampler).is_file():
            raise ConfigError(f"--sampler {self.sampler}: no such checkpoint or shipped start; "
                              f"train one with `python -m minirl sft --out DIR` and pass "
                              f"DIR/model.pt")
        if self.pairs < self.batch_size:
            raise ConfigError(f"--pairs ({self.pairs}) must be >= --batch_size ({self.batch_size})")


# --- the simulated labeller -----------------------------------------------------------------
@dataclass
class Labeller:
    """A simulated human: utility = [answer is correct] + sevens * (number of 7s); noisy choices."""
    task: object
    sevens: float = 0.3
    noise: float = 0.2

    def utility(self, prompt: str, response: str) -> float:
        return self.task.reward(prompt, response) + self.sevens * response.count("7")

    def candidate(self, a: int, b: int, rng: random.Random, sampled=(), share: float = 0.0) -> str:
        """A response to compare: with probability `share` one of the policy's `sampled` responses,
        else the right answer, a near miss, or a random digit string."""
        if sampled and rng.random() < share:
            return rng.choice(sampled)
        u = rng.random()
        if u < 1 / 2:
            return self.task.answer(a, b)
        if u < 5 / 6:
            return self.task.wrong_answer(a, b, rng)
        return "".join(rng.choice("0123456789")
                       for _ in range(rng.randint(1, self.task.max_answer_len)))

    def label(self, prompt: str, y1: str, y2: str, rng: random.Random) -> tuple[str, str]:
        """(chosen, rejected): y1 wins with probability sigma((u1 - u2) / noise)."""
        d = self.utility(prompt, y1) - self.utility(prompt, y2)
        p1 = ((d > 0) + 0.5 * (d == 0) if self.noise == 0
              else 1 / (1 + math.exp(-d / self.noise)))
        return (y1, y2) if rng.random() < p1 else (y2, y1)

    def pairs(self, problems, rng: random.Random, sampled=None,
              share: float = 0.0) -> list[tuple[str, str, str]]:
        """One labelled (prompt, chosen, rejected) per problem; sampled[i]: the policy's responses
        to problem i."""
        out = []
        for i, (a, b) in enumerate(problems):
            pool = sampled[i] if sampled is not None else ()
            y1 = self.candidate(a, b, rng, pool, share)
            y2 = self.candidate(a, b, rng, pool, share)
            while y2 == y1:
                y2 = self.candidate(a, b, rng, pool, share)
            out.append((self.task.prompt(a, b), *self.label(self.task.prompt(a, b), y1, y2, rng)))
        return out


@torch.no_grad()
def policy_samples(policy, tok, task, problems, k: int = 2, chunk: int = 1024) -> list[list[str]]:
    """k sampled responses (temperature 1) of `policy` to each problem; any with a special token
    dropped."""
    out = []
    for i in range(0, len(problems), chunk):
        prompts = [task.prompt(a, b) for a, b in problems[i:i + chunk]]
        texts = sample(policy, tok, task, prompts, k, logprobs=False).texts
        out += [[t for t in texts[j * k:(j + 1) * k] if all(c in tok.stoi for c in t)]
                for j in range(len(prompts))]
    return out


# --- pure functions -------------------------------------------------------------------------
def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """chosen, rejected (B,): rewards of the preferred and the other response
    -> -mean log sigma(r_c - r_r)."""
    return -F.logsigmoid(chosen - rejected).mean()


def sequence_reward(reward_model, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """tokens (B, T), action mask (B, T-1) -> (B,): the reward model's output at each row's last
    action token (its EOS). Output position t+1 reads tokens[:, :t+2], so we shift by one."""
    out = reward_model(tokens)[:, 1:]                                           # (B, T-1)
    last = place_on_last_action(torch.ones(tokens.size(0), device=tokens.device),
                                mask)                                           # one-hot (B, T-1)
    return (out * last).sum(dim=1)


@torch.no_grad()
def reward_normalizer(reward_model, policy, tok, task, n_prompts: int = 512,
                      seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the reward model's score over `policy`'s samples (temperature 1) on n_prompts
    training prompts, so that PPO can optimise (r - mean) / std: mean 0 and std 1 on the policy it
    starts from (Ziegler et al. 2019; InstructGPT only adds a bias, so that demonstrations score 0).
    The torch RNG is forked, so measuring it does not change the training run's samples."""
    rng = random.Random(seed)
    prompts = [task.prompt(a, b) for a, b in task.sample_train(n_prompts, rng)]
    device = next(policy.parameters()).device
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        rollout = sample(policy, tok, task, prompts)
    r = sequence_reward(reward_model, rollout.tokens, rollout.mask)   # (n_prompts,)
    return r.mean().item(), max(r.std().item(), 1e-6)


def pair_rewards(reward_model, tok, pairs, device):
    """[(prompt, chosen, rejected)] -> (r_chosen (B,), r_rejected (B,)) in one batched forward."""
    prompts = [p for p, _, _ in pairs] * 2
    responses = [c for _, c, _ in pairs] + [r for _, _, r in pairs]
    tokens, mask = encode_pairs(tok, prompts, responses, device)
    r = sequence_reward(reward_model, tokens, mask)
    return r[:len(pairs)], r[len(pairs):]


@torch.no_grad()
def pairwise_accuracy(reward_model, tok, task, pairs, device) -> dict:
    """Agreement with the labeller's choices, and with the verifier where exactly one is correct."""
    rc, rr = pair_rewards(reward_model, tok, pairs, device)
    agree = (rc > rr).float()
    correct = torch.tensor([[task.reward(p, c), task.reward(p, r)] for p, c, r in pairs],
                           device=agree.device)
    one = correct[:, 0] != correct[:, 1]
    picks_correct = torch.where(correct[:, 0] > correct[:, 1], agree, 1 - agree)
    return {"pair_accuracy": agree.mean().item(),
            "verifier_agreement": picks_correct[one].mean().item() if one.any() else float("nan")}


@torch.no_grad()
def sample_auc(reward_model, policy, tok, task, k: int = 4) -> float | None:
    """How well the reward model ranks the answers PPO will actually see: k samples of `policy` per
    held-out prompt, then P(a correct sample scores above a wrong one) over all such pairs (the
    AUC)."""
    rollout = sample(policy, tok, task, [task.prompt(a, b) for a, b in task.heldout()], k,
                     logprobs=False)
    score = sequence_reward(reward_model.eval(), rollout.tokens, rollout.mask)  # (N,)
    ok = torch.tensor([task.is_correct(p, t) for p, t in zip(rollout.prompts, rollout.texts)],
                      device=score.device)
    right = score[ok][:, None]                                                          # (R, 1)
    wrong = score[~ok][None, :]                                                         # (1, W)
    if right.numel() == 0 or wrong.numel() == 0:
        return None
    # ties count a half
    return ((right > wrong).float() + 0.5 * (right == wrong).float()).mean().item()


def train_reward_model(cfg: RewardModelConfig, model=None) -> TrainResult:
    tok, task, device = start(cfg)
    base = model if model is not None else new_policy(cfg, tok, task, device)
    rm = base if isinstance(base, ScalarHeadGPT) else ScalarHeadGPT.from_policy(base)
    run = Run("reward-model", cfg, tok, task, show=("loss", "pair_accuracy"),
              plot=("loss", "pair_accuracy", "verifier_agreement"))
    optimizer = make_optimizer(rm, cfg)
    rng = random.Random(cfg.seed)
    labeller = Labeller(task, cfg.sevens, cfg.noise)
    problems = task.sample_train(cfg.pairs, rng)
    every = task.heldout()                      # cycled when more pairs than problems are asked for
    held = (heldout_subset(task, cfg.heldout_pairs, cfg.seed) if cfg.heldout_pairs < len(every)
            else [every[i % len(every)] for i in range(cfg.heldout_pairs)])
    policy = None
    pools = (None, None)
    if cfg.sampler:
        policy = load_model(cfg.sampler, tok, task, device, kind="GPT")[0].eval()
    if cfg.sampled_share > 0:                  # the policy's own answers, labelled like the rest
        pools = (policy_samples(policy, tok, task, problems),
                 policy_samples(policy, tok, task, held))
    train = labeller.pairs(problems, rng, pools[0], cfg.sampled_share)
    heldout = labeller.pairs(held, rng, pools[1], cfg.sampled_share)
    run.keep(rm, optimizer, rng, evaluate=lambda: pairwise_accuracy(rm, tok, task, heldout, device))
    rm.train()
    for step in run.steps():
        batch = rng.sample(train, cfg.batch_size)
        set_lr(optimizer, cfg, step)
        rc, rr = pair_rewards(rm, tok, batch, device)
        loss = bradley_terry_loss(rc, rr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(rm, cfg.grad_clip)
        optimizer.step()

        # --- logging (skip on first read) ---
        if (step + 1) % cfg.log_every == 0:
            run.add(loss=loss.item(), train_pair_accuracy=(rc > rr).float().mean(),
                    margin=(rc - rr).mean().item(), grad_norm=grad_norm)
        run.step(step + 1)
    acc = pairwise_accuracy(rm, tok, task, heldout, device)
    if policy is not None:
        acc["sample_auc"] = sample_auc(rm, policy, tok, task)
    # share of held-out pairs that the labeller's noiseless utility ranks strictly the way it
    # labelled them, and of ties (coin flips): no judge can expect to beat agreement + ties / 2
    # (the Bayes-optimal one)
    gaps = [labeller.utility(p, c) - labeller.utility(p, r) for p, c, r in heldout]
    ceiling = sum(g > 0 for g in gaps) / len(gaps)
    ties = sum(g == 0 for g in gaps) / len(gaps)
    # a reward model answers no arithmetic: what it is scored by is its held-out pairwise accuracy
    summary = {"heldout_pair_accuracy": acc["pair_accuracy"],
               "verifier_agreement": acc["verifier_agreement"],
               "labeller_utility_agreement": ceiling,
               "labeller_utility_ties": ties,
               "sevens": cfg.sevens, "noise": cfg.noise, "sample_auc": acc.get("sample_auc")}
    return run.finish(rm, summary, final_eval=False)


CLI = (RewardModelConfig, train_reward_model,
       "reward model from a simulated labeller's pairwise preferences")
