"""Learning curves from metrics.jsonl rows (one PNG, one panel per metric)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_metrics(rows: list[dict], path, keys=("eval_accuracy", "loss"), title: str = "", x: str = "step"):
    keys = [k for k in keys if any(k in r for r in rows)]
    if not keys:
        return None
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.2), squeeze=False)
    for ax, k in zip(axes[0], keys):
        pts = [(r[x], r[k]) for r in rows if k in r and r[k] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 40 else None)
        ax.set_xlabel(x)
        ax.set_title(k)
        ax.grid(alpha=0.3)
        if "accuracy" in k:
            ax.set_ylim(-0.02, 1.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_phases(phases: list[tuple[str, list[dict]]], path, key: str = "eval_accuracy", title: str = ""):
    """Several runs one after another on a shared step axis (e.g. SFT then GRPO)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    offset = 0
    for name, rows in phases:
        pts = [(offset + r["step"], r[key]) for r in rows if key in r]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=name)
            offset = pts[-1][0]
        ax.axvline(offset, color="gray", lw=0.5, ls=":")
    ax.set_xlabel("step (phases back to back)")
    ax.set_ylabel(key)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
