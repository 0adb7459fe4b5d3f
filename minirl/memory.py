"""Memory during training: what a block of code peaks at (PeakMemory), and how many networks an
algorithm keeps in memory (models_held). Chapter 8's comparison reports both for every arm;
what each algorithm holds: chapters/09-gpu-and-scale.md, 9.4.

    with PeakMemory(device) as mem:
        train(...)
    print(mem.mb)          # MB: CUDA's max allocated on a GPU, peak resident memory added on a CPU
"""
from __future__ import annotations

import os
import threading

import torch


class PeakMemory:
    """Peak memory of a block of code, in MB: CUDA's max allocated on a GPU; on a CPU the peak
    resident memory of this process above its level at the start (sampled every 5 ms; Linux)."""

    def __init__(self, device):
        self.device = device
        self.mb = None

    @staticmethod
    def _rss():
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def _poll(self):
        while not self._stop.wait(0.005):
            self._peak = max(self._peak, self._rss() or 0)

    def __enter__(self):
        try:                                    # hand memory freed by earlier runs back to the OS
            import ctypes
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._start = self._rss()
        if self._start is not None and self.device.type != "cuda":
            self._peak = self._start
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2 ** 20
        elif self._start is not None:
            self._stop.set()
            self._thread.join()
            self.mb = max(self._peak, self._rss() or 0) / 2 ** 20 - self._start / 2 ** 20
        return False


def models_held(algo: str, cfg) -> int:
    """Networks in memory during training: policy, critic/value, reference, reward model. DPO holds
    only its policy: the reference's log-probs of its fixed pairs are computed once, before training
    (two numbers per pair), so no second network is kept."""
    return {"sft": 1, "reinforce": 1, "a2c": 2, "ppo": 3 + bool(getattr(cfg, "reward_model", "")),
            "rlhf": 4, "dpo": 1, "grpo": 1 + (getattr(cfg, "kl_coef", 0) > 0)}[algo]
