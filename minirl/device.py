"""Where a run executes: seeding, the device and its number formats, several processes, FLOPs.

    seed_everything      Python, NumPy and torch RNGs from one seed
    pick_device          --device auto | cpu | cuda (TF32 on for float32 matmuls on a GPU)
    amp_dtype            --dtype: bf16 autocast on a GPU that supports it, else float32
    configure_model      apply --dtype and --compile to a model
    init_distributed, data_parallel, all_reduce_sum, shard     torchrun (chapter 9)
    peak_flops, train_flops_per_token                          MFU (chapter 9)
"""
from __future__ import annotations

import os
import random
from contextlib import contextmanager

import numpy as np
import torch

from .config import ConfigError


# --- seeding and devices --------------------------------------------------------------------
def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_flush_denormal(True)   # tiny weights drifting into denormals slow CPU steps ~1.5x


@contextmanager
def cpu_threads():
    """Restore PyTorch's CPU thread count when the block ends (a run with --threads changes it)."""
    n = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(n)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda, but PyTorch sees no CUDA GPU; use --device cpu, or install "
                              "the CUDA build of torch (README, 'Installing for a GPU')")
        torch.backends.cuda.matmul.allow_tf32 = True      # TF32 tensor cores for any float32 matmul
        torch.backends.cudnn.allow_tf32 = True
        if name == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per process
            name = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return torch.device(name)


def amp_dtype(cfg_dtype: str, device: torch.device):
    """The autocast dtype for --dtype on this device (None = plain float32)."""
    if cfg_dtype == "float32" or (cfg_dtype == "auto" and device.type != "cuda"):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        if cfg_dtype == "auto":
            return None
        raise ConfigError(f"--dtype bfloat16, but {torch.cuda.get_device_name(device)} has no bf16 support; "
                          "use --dtype float32")
    return torch.bfloat16


def configure_model(model, cfg, device: torch.device):
    """Apply --dtype (autocast) and --compile to a model about to be trained on `device`."""
    model.amp_dtype = amp_dtype(cfg.dtype, device)
    if cfg.compile:
        model.forward = torch.compile(model.forward, dynamic=True)
    return model


# --- several processes (torchrun) -----------------------------------------------------------
def init_distributed(device: torch.device, batch_size: int = 1) -> tuple[int, int]:
    """(rank, world_size). Under `torchrun --nproc_per_node N`, joins the process group (NCCL on
    GPUs, gloo on CPUs); a plain `python -m minirl` run is rank 0 of 1. The global batch of
    `batch_size` rows (or prompts) is split evenly, so N must divide it."""
    import torch.distributed as dist
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if batch_size % world:
        raise ConfigError(f"world size {world} does not divide the batch of {batch_size}; "
                          f"use a --batch_size that is a multiple of {world}")
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)          # before NCCL starts: one GPU per process
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return (dist.get_rank() if world > 1 else 0), world


def data_parallel(model, world: int):
    """The model wrapped in DistributedDataParallel when there are several processes (it all-reduces
    the gradients during backward), else the model itself. On a GPU, DDP uses the model's device."""
    if world == 1:
        return model
    device = next(model.parameters()).device
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def all_reduce_sum(x: torch.Tensor, world: int) -> torch.Tensor:
    """Sum of x over all processes (x itself when there is one)."""
    if world > 1:
        import torch.distributed as dist
        x = x.clone()
        dist.all_reduce(x)
    return x


def shard(batch: list, rank: int, world: int) -> list:
    """This process's contiguous share of a global batch (every process builds the same one)."""
    if len(batch) % world:
        raise ConfigError(f"world size {world} does not divide the batch of {len(batch)}; "
                          f"use a --batch_size that is a multiple of {world}")
    n = len(batch) // world
    return batch[rank * n:(rank + 1) * n]


# --- throughput -------------------------------------------------------------------------------
# Peak dense bf16 tensor-core FLOP/s from the vendors' datasheets (SXM parts unless the name says PCIe).
# The first key found in the GPU's name wins, so a longer name comes before its prefix.
PEAK_BF16_FLOPS = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12,
                   "L4": 121e12, "A10G": 70e12, "A10": 125e12, "4090": 165e12, "3090": 71e12}


def peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of this GPU (MINIRL_PEAK_FLOPS overrides), None on a CPU or an unknown GPU."""
    if os.environ.get("MINIRL_PEAK_FLOPS"):
        return float(os.environ["MINIRL_PEAK_FLOPS"])
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)


def train_flops_per_token(model, seq_len: int) -> float:
    """Forward + backward FLOPs per token: 6 N + 12 L C T (Kaplan et al. 2020; PaLM appendix B),
    N = parameters without the position table, L layers, C width, T the sequence length."""
    c = model.config
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return 6 * n + 12 * c.n_layer * c.n_embd * seq_len
