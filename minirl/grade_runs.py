"""The runs of the end-to-end grading track (grade_train.py): for each chapter, which of minirl's
functions the student's functions replace, the training run that uses them, and what is measured
afterwards.
"""
from __future__ import annotations

import torch

import minirl.dpo
import minirl.grpo
import minirl.model
import minirl.ppo
import minirl.reinforce
import minirl.sft

from .checkpoint import load_model
from .dpo import DPOConfig
from .evaluation import evaluate
from .grpo import GRPOConfig
from .launch import new_policy
from .ppo import PPOConfig
from .preferences import diagnostics, heldout_pairs, pair_logprobs
from .reinforce import ReinforceConfig
from .sft import SFTConfig
from .tokenizer import CharTokenizer

# --------------------------------------------------------------------------- the runs
# The trainers are called through their modules (minirl.sft.train_sft), as the functions they use
# are looked up in theirs: a swap is a module attribute, seen by whoever looks the name up.
# Each run_*(flags, weak) -> (swaps, adapters, train, measure), given the trainer's config flags and
# the weak start's checkpoint. `swaps` maps an exercise name to the (module, attribute) it replaces;
# `adapters` maps the names whose signature or return type differs a little from minirl's to a
# wrapper; train() runs inside the swap and returns the trained model; measure(model) runs after
# it, with minirl's functions back, and returns the outcome in percent (points).

def _adapt_causal_mask(fn):
    def causal_mask(T, device=None):                     # minirl's takes the device too
        m = fn(T)
        return m if device is None else m.to(device)
    return causal_mask


def _adapt_ppo_policy_loss(fn):
    def ppo_policy_loss(*args, **kwargs):
        # stats may be floats: the loop stacks tensors
        loss, stats = fn(*args, **kwargs)
        return loss, {k: torch.as_tensor(v, dtype=torch.float32).detach() for k, v in stats.items()}
    return ppo_policy_loss


def _adapt_group_advantages(fn):
    def group_advantages(rewards, group_size, scale="group", baseline="mean", world=1):
        if baseline != "mean" or world != 1:     # the exercise has GRPO's mean baseline only
            raise ValueError("the track runs GRPO with baseline='mean' on one process")
        return fn(rewards, group_size, scale)
    return group_advantages


def _adapt_dpo_loss(fn):
    def dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta, label_smoothing=0.0,
                 loss_type="sigmoid"):
        if loss_type != "sigmoid":               # the exercise is DPO's sigmoid loss (not IPO)
            raise ValueError("the track runs DPO with loss_type='sigmoid'")
        return fn(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta, label_smoothing)
    return dpo_loss


def _accuracy(model, cfg):
    return 100 * evaluate(model, CharTokenizer(), cfg.make_task())[0]


def _start_accuracy(weak, cfg):
    model, _ = load_model(weak, CharTokenizer(), cfg.make_task())
    return _accuracy(model, cfg)


def run_sft(flags, weak):
    cfg = SFTConfig(**flags)

    def train():
        torch.manual_seed(cfg.seed)
        model = new_policy(cfg, CharTokenizer(), cfg.make_task(), torch.device(cfg.device))
        for m in model.modules():          # the readable attention path: it calls causal_mask
            if hasattr(m, "flash"):
                m.flash = False
        return minirl.sft.train_sft(cfg, model=model).model
    swaps = {"causal_mask": (minirl.model, "causal_mask"), "sft_loss": (minirl.sft, "sft_loss")}
    return swaps, {"causal_mask": _adapt_causal_mask}, train, \
        lambda model: {"accuracy": _accuracy(model, cfg)}


def run_reinforce(flags, weak):
    cfg = ReinforceConfig(init=weak, **flags)
    start = _start_accuracy(weak, cfg)
    swaps = {n: (minirl.reinforce, n)
             for n in ("discounted_returns", "baseline_advantages", "reinforce_loss")}
    return swaps, {}, lambda: minirl.reinforce.train_reinforce(cfg).model, \
        lambda model: {"start": start, "accuracy": (acc := _accuracy(model, cfg)),
                       "gain": acc - start}


def run_ppo(flags, weak):
    cfg = PPOConfig(init=weak, **flags)
    start = _start_accuracy(weak, cfg)
    swaps = {n: (minirl.ppo, n)
             for n in ("gae", "ppo_policy_loss", "ppo_value_loss", "ppo_token_rewards")}
    swaps["kl_penalty"] = (minirl.ppo, "kl_estimate")
    adapters = {"ppo_policy_loss": _adapt_ppo_policy_loss}
    return swaps, adapters, lambda: minirl.ppo.train_ppo(cfg).model, \
        lambda model: {"start": start, "accuracy": _accuracy(model, cfg)}


def run_dpo(flags, weak):
    cfg = DPOConfig(init=weak, **flags)
    tok = CharTokenizer()
    reference, _ = load_model(weak, tok, cfg.make_task())
    swaps = {n: (minirl.dpo, n) for n in ("sequence_logprob", "dpo_loss")}

    def measure(model):     # the implicit reward ranks the right answer first on held-out pairs
        task = cfg.make_task()
        held = heldout_pairs(task)
        d = diagnostics(model, tok, task, held, pair_logprobs(reference, tok, held), cfg.beta)
        return {"preference_accuracy": 100 * d["heldout_pref_accuracy"],
                "start": _accuracy(reference, cfg),
                "accuracy": 100 * d["eval_accuracy"]}
    return swaps, {"dpo_loss": _adapt_dpo_loss}, lambda: minirl.dpo.train_dpo(cfg).model, measure


def run_grpo(flags, weak):
    cfg = GRPOConfig(init=weak, **flags)
    start = _start_accuracy(weak, cfg)
    swaps = {n: (minirl.grpo, n) for n in ("group_advantages", "grpo_loss")}
    adapters = {"group_advantages": _adapt_group_advantages}
    return swaps, adapters, lambda: minirl.grpo.train_grpo(cfg).model, \
        lambda model: {"start": start, "accuracy": _accuracy(model, cfg)}
