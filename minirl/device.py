"""Where a run executes: seeding, the device and its number formats, several processes, FLOPs.

    seed_everything      Python, NumPy and torch RNGs from one seed
    pick_device          --device auto | cpu | cuda (TF32 on for float32 matmuls on a GPU)
    amp_dtype            --dtype: bf16 autocast on a GPU with native bf16 (capability >= 8.0)
    configure_model      apply --dtype and --compile to a model
    init_distributed, data_parallel, all_reduce_sum, shard     torchrun (chapter 9)
    rank_rng_states, restore_rank_rng                          exact --resume under torchrun
    peak_flops, train_flops_per_token                          MFU (chapter 9; meters.TokenMeter)

Every decision about a GPU (dtype, peak FLOP/s, what to compile) is a pure function of the GPU's
name and compute capability (`choose_amp_dtype`, `peak_flops_for`, `compile_plan`), so that the
tests check them for a T4, V100, A100, L4, L40 and H100 on a machine without any GPU.
Chapter: chapters/09-gpu-and-scale.md (9.2 the fast path, 9.3 MFU, 9.5 torchrun).
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
    torch.set_flush_denormal(True)   # tiny weights drifting into denormals make CPU steps slower


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
            raise ConfigError("--device cuda, but PyTorch sees no CUDA GPU; use --device cpu, or "
                              "install the CUDA build of torch (README, 'Installing for a GPU')")
        torch.backends.cuda.matmul.allow_tf32 = True      # TF32 tensor cores for any float32 matmul
        torch.backends.cudnn.allow_tf32 = True
        if name == "cuda" and "LOCAL_RANK" in os.environ:  # torchrun: one GPU per process
            name = f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return torch.device(name)


def gpu_properties(device: torch.device) -> tuple[str, tuple[int, int]]:
    """(name, compute capability) of a CUDA device, e.g. ("NVIDIA A100-SXM4-80GB", (8, 0))."""
    return torch.cuda.get_device_name(device), tuple(torch.cuda.get_device_capability(device))


def choose_amp_dtype(cfg_dtype: str, device_type: str, capability=None, name: str = "this GPU"):
    """--dtype -> the autocast dtype (None = plain float32), from the device's properties alone.
    bf16 needs compute capability >= 8.0 (Ampere) for native bf16 tensor cores; below that
    (T4 7.5, V100 7.0) torch.cuda.is_bf16_supported() can still say True, meaning emulated, slow
    bf16, so --dtype auto stays float32 there and --dtype bfloat16 is an error. (float16 would
    need a GradScaler in every trainer; minirl does not offer it.) A CPU may use bfloat16."""
    if cfg_dtype == "float32" or (cfg_dtype == "auto" and device_type != "cuda"):
        return None
    if device_type == "cuda" and tuple(capability) < (8, 0):
        if cfg_dtype == "auto":
            return None
        cc = f"{capability[0]}.{capability[1]}"
        raise ConfigError(f"--dtype bfloat16, but {name} (compute capability {cc}) has no native "
                          "bf16 support; use --dtype float32")
    return torch.bfloat16


def amp_dtype(cfg_dtype: str, device: torch.device):
    """The autocast dtype for --dtype on this device (None = plain float32): choose_amp_dtype."""
    if device.type != "cuda":
        return choose_amp_dtype(cfg_dtype, device.type)
    name, capability = gpu_properties(device)
    return choose_amp_dtype(cfg_dtype, "cuda", capability, name)


def compile_plan(device_type: str, capability=None) -> dict:
    """What --compile compiles on this device. The forward without a KV cache (training, scoring
    log-probs) has few distinct shapes: compiled once, with dynamic shapes. The decode step with
    a cache stays eager: its cache position changes every token, so torch.compile would build a
    graph per position until its recompile limit, then fall back to eager anyway; compiling it
    needs a static-shape cache (attention over all max_len slots, masked). Triton, which
    generates the GPU kernels, needs compute capability >= 7.0."""
    if device_type == "cuda" and tuple(capability) < (7, 0):
        raise ConfigError(f"--compile needs a GPU of compute capability >= 7.0 (Triton); this one "
                          f"has {capability[0]}.{capability[1]}: drop --compile")
    return {"full_forward": True, "decode_step": False, "dynamic": True}


def configure_model(model, cfg, device: torch.device):
    """Apply --dtype (autocast) and --compile (compile_plan) to a model to train on `device`."""
    model.amp_dtype = amp_dtype(cfg.dtype, device)
    if cfg.compile:
        capability = gpu_properties(device)[1] if device.type == "cuda" else None
        plan = compile_plan(device.type, capability)
        model.compiled_forward = torch.compile(model.compute, dynamic=plan["dynamic"])
    return model


def rank_rng_states(world: int):
    """Under torchrun: every process's (CPU, CUDA) RNG states, gathered for rank 0's checkpoint, so
    that --resume gives each process its own sampling stream back (None with one process). A
    collective: every process must call it, at the same steps."""
    if world == 1:
        return None
    import torch.distributed as dist
    cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() else None
    mine = (torch.get_rng_state(), cuda)
    states = [None] * world
    dist.all_gather_object(states, mine)
    return states


def restore_rank_rng(resume_state: dict | None, rank: int):
    """After Run.restore: this process's own RNG states, from a torchrun checkpoint's rank_rng."""
    states = (resume_state or {}).get("rank_rng")
    if states is None:
        return
    cpu, cuda = states[rank]
    torch.set_rng_state(cpu)
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(cuda)


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
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device] if device.type == "cuda" else None)


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
# Peak dense tensor-core FLOP/s from the vendors' datasheets (SXM parts unless the name says PCIe).
# The first key found in the GPU's name wins, so a longer name comes before its prefix ("L40S",
# "L40", then "L4"). float32 on Ampere and later runs as TF32 (pick_device), at half the bf16 peak
# on every GPU listed; older GPUs without bf16 run float32 on plain CUDA cores (PEAK_FP32_FLOPS).
PEAK_BF16_FLOPS = {"H200": 989e12, "H100 PCIe": 756e12, "H100 NVL": 835e12, "H100": 989e12,
                   "A100": 312e12, "L40S": 362e12, "L40": 181e12, "L4": 121e12, "A10G": 70e12,
                   "A10": 125e12, "4090": 165e12, "3090": 71e12}
PEAK_FP32_FLOPS = {"V100-PCIE": 14e12, "V100": 15.7e12, "T4": 8.1e12}


def peak_flops_for(name: str, capability, amp=torch.bfloat16) -> float | None:
    """Peak FLOP/s of a GPU (by name and compute capability) in the number format a run uses:
    bf16 autocast (amp=torch.bfloat16), else float32, i.e. TF32 from capability 8.0 on. None
    for a GPU not in the tables: no MFU is invented."""
    first = lambda table: next((v for k, v in table.items() if k in name), None)  # noqa: E731
    if amp is torch.bfloat16:
        return first(PEAK_BF16_FLOPS) if tuple(capability) >= (8, 0) else None
    if tuple(capability) >= (8, 0):
        bf16 = first(PEAK_BF16_FLOPS)
        return bf16 / 2 if bf16 else None
    return first(PEAK_FP32_FLOPS)


def peak_flops(device: torch.device, amp=torch.bfloat16) -> float | None:
    """Peak FLOP/s of this GPU for autocast dtype `amp` (None = float32): peak_flops_for.
    MINIRL_PEAK_FLOPS overrides; None on a CPU or an unknown GPU."""
    if os.environ.get("MINIRL_PEAK_FLOPS"):
        return float(os.environ["MINIRL_PEAK_FLOPS"])
    if device.type != "cuda":
        return None
    return peak_flops_for(*gpu_properties(device), amp)


def train_flops_per_token(model, seq_len: int) -> float:
    """Forward + backward FLOPs per token: 6 N + 12 L C T (Kaplan et al. 2020; PaLM appendix B),
    N = parameters without the position table, L layers, C width, T the sequence length."""
    c = model.config
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return 6 * n + 12 * c.n_layer * c.n_embd * seq_len
