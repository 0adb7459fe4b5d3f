"""Figures: a run's learning curves, the demo's two phases, chapter 8's comparisons, and RLHF's
reward hacking; and `save_figure`, which writes a figure for the book (PNG and SVG).

Every metric a trainer logs has a human title with its unit in METRIC_LABELS; accuracies and
shares are drawn in percent on a 0-100 axis. The run plots build a matplotlib Figure directly
(no pyplot): they change no global state, need no display, and work in any process.
"""
from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

# metric key -> panel title with its unit; a title ending in "(%)" is drawn as a percentage
METRIC_LABELS = {
    "eval_accuracy": "held-out accuracy (%)",
    "reward": "mean reward",
    "reward_mean": "mean reward",
    "true_reward": "true reward (verifier)",
    "score": "training reward (reward model or verifier)",
    "kl": "KL to reference (nats per sequence)",
    "kl_per_token": "KL to reference (nats per token)",
    "approx_kl": "KL to the sampling policy (nats per token)",
    "loss": "loss",
    "value_loss": "value loss (squared error)",
    "grad_norm": "gradient norm (before clipping)",
    "clip_frac": "clipped share of tokens (%)",
    "value_clip_frac": "clipped share of value targets (%)",
    "explained_variance": "critic's explained variance (1 = perfect)",
    "explained_var": "critic's explained variance (1 = perfect)",
    "zero_adv_groups": "groups with no signal (%)",
    "adv_mean": "mean advantage",
    "adv_std": "advantage spread (std)",
    "baseline": "baseline (running mean reward)",
    "preference_accuracy": "pairs with chosen above rejected (%)",
    "reward_margin": "implicit reward margin (chosen − rejected)",
    "chosen_reward": "implicit reward of chosen answers",
    "rejected_reward": "implicit reward of rejected answers",
    "chosen_nll": "NLL of chosen answers (nats per token)",
    "pair_accuracy": "held-out pairs ranked like the labeller (%)",
    "train_pair_accuracy": "training pairs ranked like the labeller (%)",
    "verifier_agreement": "agreement with the verifier (%)",
    "margin": "reward margin (chosen − rejected)",
    "response_len": "response length (tokens)",
    "entropy": "policy entropy (nats per token)",
    "lr": "learning rate",
    "step_seconds": "seconds per step",
    "completions_per_s": "completions per second",
    "tokens_per_s": "tokens per second",
    "mfu": "model FLOPs utilisation (%)",
    "step": "step",
    "seconds": "wall-clock seconds",
    "rollouts": "sampled responses",
}
ALWAYS_DRAWN = ("eval_accuracy",)      # a run that never gets one right still shows it


def metric_label(key: str) -> str:
    """The panel title of a metric: METRIC_LABELS, else the key with spaces (and (%) for an
    accuracy)."""
    if key in METRIC_LABELS:
        return METRIC_LABELS[key]
    return key.replace("_", " ") + (" (%)" if "accuracy" in key else "")


def is_percent(key: str) -> bool:
    return metric_label(key).endswith("(%)")


def _measured(key: str, values: list) -> bool:
    """False for a metric that was not measured: no values, or 0 all run long."""
    return bool(values) and (key in ALWAYS_DRAWN or any(v != 0 for v in values))


def plot_metrics(rows: list[dict], path=None, keys=("eval_accuracy", "loss"), title: str = "",
                 x: str = "step"):
    """Learning curves of a run (metrics.jsonl rows): one titled panel per metric in `keys`, two
    panels a row; accuracies and shares in percent on 0-100. A metric no row has, or one that is
    0 at every step (the KL of a run without a reference), gets no panel; the latter is named
    under the figure. Saves a PNG to `path` (if given) -> the Figure, or None if nothing to draw."""
    series = {}
    flat = []
    for k in keys:
        pts = [(r[x], float(r[k])) for r in rows
               if r.get(k) is not None and x in r and r[k] == r[k]]              # no NaN
        if _measured(k, [v for _, v in pts]):
            series[k] = [(px, 100 * v if is_percent(k) else v) for px, v in pts]
        elif pts:
            flat.append(k)
    if not series:
        return None
    cols = 1 if len(series) == 1 else 2
    nrows = math.ceil(len(series) / cols)
    fig = Figure(figsize=(5.2 * cols, 3.0 * nrows + (0.4 if title else 0)))
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    for ax, (k, pts) in zip(axes, series.items()):
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 40 else None)
        ax.set_title(metric_label(k), fontsize=10)
        ax.set_xlabel(metric_label(x))
        ax.grid(alpha=0.3)
        if is_percent(k):
            ax.set_ylim(-2, 102)
    for ax in axes[len(series):]:
        fig.delaxes(ax)
    if title:
        fig.suptitle(title)
    bottom = 0.0
    if flat:
        fig.text(0.01, 0.01,
                 "0 at every step, so not drawn: " + "; ".join(metric_label(k) for k in flat),
                 fontsize=8, color="gray")
        bottom = 0.35 / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if path is not None:
        save_figure(fig, path, svg=False, dpi=110)
    return fig


def plot_phases(phases: list[tuple[str, list[dict], int]], path=None, key: str = "eval_accuracy",
                title: str = "", xlabel: str = "examples learned from"):
    """Runs one after another (e.g. SFT then GRPO), each continuing from the model the one before
    left, on one axis of examples seen: phases are (name, metrics rows, examples per step), so a
    row at step s of a phase sits at (examples of the phases before) + s x examples per step.
    Saves a PNG to `path` (if given) -> the Figure."""
    fig = Figure(figsize=(7.0, 3.8))
    ax = fig.subplots()
    scale = 100 if is_percent(key) else 1
    offset = 0
    last = None
    for i, (name, rows, per_step) in enumerate(phases):
        if i:
            ax.axvline(offset, color="gray", lw=0.5, ls=":")
        pts = [(offset + r["step"] * per_step, scale * r[key]) for r in rows
               if r.get(key) is not None]
        # each phase starts from the model the last one left
        pts = ([last] if last else []) + pts
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=name)
            last = pts[-1]
        offset += max((r["step"] for r in rows), default=0) * per_step
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_formatter("{x:,.0f}")
    ax.set_ylabel(metric_label(key))
    if scale == 100:
        ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, svg=False, dpi=110)
    return fig


# --- chapter 8: comparisons -----------------------------------------------------------------
def plot_curves(curves: list[dict], x: str = "completions", title: str = "",
                T: float | None = None, path=None):
    """Held-out accuracy against `x` (completions, seconds or updates): mean over seeds, min..max
    band. On the seconds axis each point sits at the seeds' mean time of that evaluation."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for arm in dict.fromkeys(c["arm"] for c in curves):
        seeds = sorted({c["seed"] for c in curves if c["arm"] == arm})
        runs = [[c for c in curves if c["arm"] == arm and c["seed"] == s] for s in seeds]
        n = min(len(r) for r in runs)
        xs = [sum(r[i][x] for r in runs) / len(runs) for i in range(n)]
        ys = [[r[i]["eval_accuracy"] for r in runs] for i in range(n)]
        line, = ax.plot(xs, [sum(y) / len(y) for y in ys], marker=".", label=arm)
        ax.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], color=line.get_color(),
                        alpha=0.18)
    ax.axhline(0.9, color="gray", lw=0.6, ls=":")
    if T is not None:
        ax.axvline(T, color="gray", lw=0.8, ls="--", label=f"T = {T:.0f} s")
    ax.set_xlabel({"completions": "completions learned from", "seconds": "wall-clock seconds",
                   "updates": "optimizer updates of the policy"}.get(x, x))
    ax.set_ylabel("held-out exact match (greedy)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, svg=False, dpi=110)
    plt.close(fig)                      # returned for display(fig); not left open in pyplot's state
    return fig


def plot_ceiling(table: list[dict], teacher_ps: list[float], rl_arm: str, path=None):
    """Final accuracy of SFT against the teacher's error rate p, with the teacher's own accuracy
    1 - p and the RL arm (which never sees the teacher) as a horizontal band."""
    import matplotlib.pyplot as plt
    sft = [r for r in table if r["arm"].startswith("sft p=") and " then " not in r["arm"]]
    rl = next(r for r in table if r["arm"] == rl_arm)
    both = [r for r in table if " then " in r["arm"]]
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    ax.plot(teacher_ps, [1 - p for p in teacher_ps], "k--", lw=1, label="teacher (1 − p)")
    ax.errorbar(teacher_ps, [r["final_accuracy"] for r in sft],
                yerr=[r["final_accuracy_std"] for r in sft],
                marker="o", capsize=3, label="SFT, greedy")
    ax.plot(teacher_ps, [r["pass@1"] for r in sft], marker="s", label="SFT, sampled (pass@1)")
    ax.axhline(rl["final_accuracy"], color="C3", label=f"{rl_arm}, greedy")
    ax.axhline(rl["pass@1"], color="C3", ls=":", label=f"{rl_arm}, sampled (pass@1)")
    for r in both:
        q = float(r["arm"].split()[1][len("p="):])                    # "sft p=0.3 then grpo" -> 0.3
        ax.plot([q, q],
                [r["final_accuracy"], r["pass@1"]], "D", color="C2", ms=7,
                label=f"{r['arm']}: greedy, pass@1")
    ax.set_xlabel("teacher error rate p")
    ax.set_ylabel("held-out exact match")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("SFT copies its teacher; RL is paid by the verifier", fontsize=10)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, svg=False, dpi=110)
    plt.close(fig)                      # returned for display(fig); not left open in pyplot's state
    return fig


# --- chapter 5: reward hacking --------------------------------------------------------------
def plot_reward_hacking(runs: dict, path=None, title: str = "PPO against a learned reward model"):
    """Panels over training for each KL coefficient β (runs: {β: metrics rows}): learned reward,
    true reward (verifier), held-out accuracy, KL to the reference."""
    import matplotlib.pyplot as plt
    panels = [("score", "learned reward (reward model)"),
              ("true_reward", "true reward (verifier, samples)"),
              ("eval_accuracy", "held-out accuracy (greedy)"),
              ("kl", r"KL($\pi\,\|\,\pi_\mathrm{ref}$) (nats per sequence)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.0 * len(panels), 3.3))
    for ax, (key, label) in zip(axes, panels):
        for beta, rows in runs.items():
            pts = [(r["step"], r[key]) for r in rows if key in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"β = {beta:g}")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("PPO iteration")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, svg=False, dpi=110)
    return fig


# --- writing figures ------------------------------------------------------------------------
def save_figure(fig, path, svg: bool = True, dpi: int = 150) -> Path:
    """Write `fig` as PATH.png (at `dpi`) and, unless svg=False, PATH.svg beside it, cropped to what
    is drawn; `path` may end in .png, .svg or neither. The SVG holds no date and fixed element ids,
    so the same figure redrawn gives the same file. Makes the folder -> the PNG's path."""
    import matplotlib
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".png", ".svg") else path
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_name(stem.name + ".png")
    fig.savefig(png, dpi=dpi, bbox_inches="tight")
    if svg:
        with matplotlib.rc_context({"svg.hashsalt": "minirl"}):
            fig.savefig(stem.with_name(stem.name + ".svg"), bbox_inches="tight",
                        metadata={"Date": None})
    return png
