"""What a run measures besides the algorithm's own numbers (runs.Run uses both): tokens per second
and MFU between log rows, and a warning when every reward has been the same for a while."""
from __future__ import annotations

import time
import warnings

import torch

from .device import all_reduce_sum, peak_flops, train_flops_per_token


class ConstantRewardWatch:
    """Warns (once) when every reward in a batch has been the same for `patience` steps in a row:
    then G_t - b carries no information about which action was better, and the gradient is
    noise."""

    def __init__(self, patience: int):
        self.patience = patience
        self.count = 0
        self.warned = False

    def update(self, rewards: torch.Tensor):
        constant = bool((rewards == rewards.flatten()[0]).all())
        self.count = self.count + 1 if constant else 0
        if self.count >= self.patience and not self.warned:
            self.warned = True
            warnings.warn(f"every reward was {float(rewards.flatten()[0]):g} for {self.count} "
                          "steps in a row: the policy gradient carries no signal; check the task's "
                          "reward, or start from a policy that sometimes succeeds (e.g. --init a "
                          "weak SFT checkpoint)", stacklevel=3)


class TokenMeter:
    """Training tokens per second and MFU between two log rows, held-out evaluation left out
    (`run.eval_seconds`). MFU counts the real tokens, not the padding (chapter 9, 9.3)."""

    def __init__(self, model, run, pad_id: int, world: int = 1):
        self.model, self.run, self.pad_id, self.world = model, run, pad_id, world
        self.peak = peak_flops(run.device, model.amp_dtype)    # of the format this run computes in
        self.tokens = 0
        self.real = 0
        self.seq_len = 0
        self.t_last = time.perf_counter()
        self.evals_last = 0.0

    def add(self, inputs: torch.Tensor):
        """Count one step's (B, T) model inputs."""
        self.tokens += inputs.numel() * self.world
        self.seq_len = inputs.size(1)
        if self.peak:
            self.real = self.real + (inputs != self.pad_id).sum()

    def rates(self) -> dict:
        """{"tokens_per_s", and "mfu" on a GPU whose peak is known} since the last call."""
        if self.run.device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        dt = now - self.t_last - (self.run.eval_seconds - self.evals_last)
        self.t_last = now
        self.evals_last = self.run.eval_seconds
        out = {"tokens_per_s": self.tokens / dt}
        if self.peak:
            real_per_s = all_reduce_sum(self.real, self.world).item() / dt
            flops = train_flops_per_token(self.model, self.seq_len)
            out["mfu"] = flops * real_per_s / (self.peak * self.world)
        self.tokens = 0
        self.real = 0
        return out

    @staticmethod
    def summary(metrics: list[dict]) -> dict:
        """The run's median tokens/s (and MFU) over its log rows, for summary.json."""
        out = {}
        for key, digits in (("tokens_per_s", 0), ("mfu", 4)):
            values = sorted(m[key] for m in metrics if key in m)
            if values:
                out[key] = round(values[len(values) // 2], digits or None)
        return out
