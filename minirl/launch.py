"""What every trainer does first: check the flags, seed the RNGs, build the tokenizer, the task
(the environment) and the device, and the policy a run starts from (docs/conventions.md,
Trainers)."""
from __future__ import annotations

import torch

from .checkpoint import load_model
from .config import RunConfig
from .device import configure_model, pick_device, seed_everything
from .model import GPT, GPTConfig
from .tokenizer import CharTokenizer


def start(cfg: RunConfig):
    """What every trainer does first: check every flag, seed every RNG, and build the tokenizer,
    the task and the device. -> (tokenizer, task, device)"""
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    return CharTokenizer(), cfg.make_task(), pick_device(cfg.device)


def new_policy(cfg: RunConfig, tokenizer, task, device) -> GPT:
    """The policy a run starts from: --init's weights, or a fresh GPT of the configured size."""
    if cfg.init:
        model, _ = load_model(cfg.init, tokenizer, task, device, kind="GPT")
    else:
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=cfg.block_size,
                              n_layer=cfg.n_layer, n_head=cfg.n_head,
                              n_embd=cfg.n_embd)).to(device)
    return configure_model(model, cfg, device)
