"""The book's diagrams: pictures of how the code is laid out, drawn from the code itself. No training,
no results files; the whole script runs in a few seconds.

    .venv/bin/python benchmarks/diagrams.py                    # all four
    .venv/bin/python benchmarks/diagrams.py gae_weights        # one of them

Each is written as PNG and SVG to chapters/figures/ (benchmarks.common.save_figure):

causal_attention  ch02_causal_attention: the GPT of minirl/model.py (embeddings, L pre-LN blocks of causal
                  self-attention and MLP with residuals, final LayerNorm, the tied lm_head) beside the
                  attention mask `causal_mask(T)` for the input positions of `12+34=` -> `64`.
token_columns     ch03_token_columns: one row of `encode_pairs` (prompt, answer, EOS, PAD), the column c of
                  the (B, T-1) tensors whose logits predict tokens[c+1], the action mask, the reward that
                  `place_on_last_action` puts on the last action, the values V(s_k), and k = c - P.
gae_weights       ch04_gae_weights: the weight (gamma lambda)^l of the l-step-ahead TD error in GAE, and the
                  same advantage as a mixture of n-step advantages with weights (1 - lambda) lambda^(n-1).
rlhf_pipeline     ch05_rlhf_pipeline: the four models of `train_ppo` (minirl/ppo.py) and what flows between
                  them: which are trained and which are frozen.

The masks, the reward placement and the GAE weights are computed by minirl's own functions
(causal_mask, encode_pairs, place_on_last_action, discounted_cumsum, gae, td_advantages), and the
script checks the identities it draws, so a change of convention in the code shows up here.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save_figure  # noqa: E402
from minirl.a2c import td_advantages  # noqa: E402
from minirl.core import discounted_cumsum  # noqa: E402
from minirl.model import causal_mask  # noqa: E402
from minirl.ppo import gae  # noqa: E402
from minirl.core import place_on_last_action  # noqa: E402
from minirl.batches import encode_pairs  # noqa: E402
from minirl.tokenizer import CharTokenizer  # noqa: E402

TRAINED, FROZEN, DATA, OP = "#f4a259", "#8ecae6", "#f1f1f1", "#e9e4f7"   # box colours
SHOWN = {"<bos>": "BOS", "<eos>": "EOS", "<pad>": "PAD"}


def box(ax, x, y, w, h, text, color=DATA, size=9, bold=False, dashed=False):
    """A rounded box with its centre at (x, y); returns its (left, right, bottom, top)."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="#333333", lw=1.0, ls="--" if dashed else "-"))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, fontweight="bold" if bold else "normal")
    return x - w / 2, x + w / 2, y - h / 2, y + h / 2


def arrow(ax, start, end, text="", color="#333333", style="-|>", rad=0.0, size=8, lw=1.2, offset=(0, 0)):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, color=color, lw=lw,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))
    if text:
        ax.text((start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1], text, fontsize=size,
                ha="center", va="center", color=color)


def blank(ax, xlim, ylim):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_axis_off()


# --- a. the GPT and its causal mask (chapter 2) ------------------------------------------------------
def causal_attention():
    tok = CharTokenizer()
    tokens, _ = encode_pairs(tok, ["12+34="], ["64"])                                  # (1, T)
    inputs = tokens[0, :-1]                                       # the model reads tokens[:, :-1]
    labels = [SHOWN.get(tok.itos[i], tok.itos[i]) for i in inputs.tolist()]
    T = len(labels)
    allowed = causal_mask(T)                                                           # (T, T)
    assert torch.equal(allowed, torch.ones(T, T).tril().bool())

    fig = Figure(figsize=(11, 5.6))
    left = fig.add_axes([0.0, 0.0, 0.5, 1.0])
    blank(left, (0, 10), (0, 11))
    stream, branch = 6.9, 3.4                      # x of the residual stream and of the sub-layers
    box(left, 5, 0.6, 6.4, 0.7, r"tokens $x_0 \dots x_{T-1}$   (B, T)", DATA)
    box(left, 5, 1.75, 6.4, 0.8, r"token embedding $E_{tok}[x_t]$ + position embedding $E_{pos}[t]$", DATA)
    arrow(left, (5, 0.95), (5, 1.35))
    left.add_patch(Rectangle((0.9, 2.55), 8.2, 6.0, fc="none", ec="#555555", lw=1.0, ls="--"))
    left.text(1.05, 8.45, "x L blocks (L = 4)", ha="left", va="top", fontsize=9, style="italic")
    left.plot([5, 5, stream], [2.15, 2.35, 2.35], color="#1f77b4", lw=1.8)
    left.plot([stream, stream], [2.35, 8.9], color="#1f77b4", lw=1.8)              # the residual stream
    left.text(stream + 0.2, 2.9, "residual\nstream", fontsize=8, color="#1f77b4", va="bottom")
    for y0, sub, label in ((3.1, "causal self-attention\n(4 heads; the mask at right)", "attn"),
                           (5.9, "MLP  128 -> 512 -> 128\n(GELU)", "mlp")):
        left.plot([stream, branch, branch], [y0, y0, y0 + 0.25], color="#333333", lw=1.2)
        box(left, branch, y0 + 0.55, 2.6, 0.55, "LayerNorm", OP, size=8)
        arrow(left, (branch, y0 + 0.83), (branch, y0 + 1.1))
        box(left, branch, y0 + 1.5, 3.8, 0.8, sub, OP, size=8)
        box(left, stream, y0 + 2.25, 0.55, 0.5, "+", "#ffffff", size=11, bold=True)
        left.plot([branch, branch], [y0 + 1.9, y0 + 2.25], color="#333333", lw=1.2)
        arrow(left, (branch, y0 + 2.25), (stream - 0.28, y0 + 2.25))
    box(left, 5, 9.35, 6.4, 0.6, r"final LayerNorm $\rightarrow h_t$", OP, size=8)
    left.plot([stream, stream, 5], [8.9, 8.95, 8.95], color="#1f77b4", lw=1.8)
    arrow(left, (5, 8.95), (5, 9.05))
    box(left, 5, 10.4, 6.4, 0.8, r"lm_head $= E_{tok}^\top$ (tied): logits$_t$  (B, T, V)" "\n"
                                 r"softmax $\rightarrow \pi(\,\cdot \mid x_0 \dots x_t)$, the next token",
        OP, size=8)
    arrow(left, (5, 9.65), (5, 10.0))

    right = fig.add_axes([0.57, 0.12, 0.40, 0.74])
    right.imshow(allowed.float().numpy(), cmap="Blues", vmin=-0.15, vmax=1.3)
    right.set_xticks(range(T), labels)
    right.set_yticks(range(T), [f"{t}  {s}" for t, s in enumerate(labels)])
    right.set_xticks([x - 0.5 for x in range(1, T)], minor=True)
    right.set_yticks([y - 0.5 for y in range(1, T)], minor=True)
    right.grid(which="minor", color="white", lw=1.5)
    right.tick_params(which="minor", length=0)
    right.xaxis.set_ticks_position("top")
    right.set_xlabel("key position s (attended to)", labelpad=8)
    right.xaxis.set_label_position("top")
    right.set_ylabel("query position t")
    for t in range(T):
        for s in range(T):
            right.text(s, t, "1" if allowed[t, s] else "0", ha="center", va="center", fontsize=7,
                       color="white" if allowed[t, s] else "#6b8fb8")
    P = 6
    right.add_patch(Rectangle((-0.5, P - 0.5), P + 1, 1, fc="none", ec="#d62728", lw=2.5, zorder=5))
    right.text(T / 2 - 0.5, T + 0.2, "inputs: tokens[:, :-1] of  <bos> 12+34= 64 <eos>  (the EOS is only a target)",
               ha="center", va="top", fontsize=8)
    right.set_title("causal_mask(T): query t sees keys s <= t\n"
                    f"row {P} (the '=') gives the logits of the first answer digit", fontsize=9, pad=34)
    return fig


# --- b. tokens and columns (chapters 3, 4, 5) ----------------------------------------------------------
def token_columns():
    tok = CharTokenizer()
    tokens, mask = encode_pairs(tok, ["12+34=", "58+67="], ["64", "521"])     # the 2nd row pads the 1st
    tokens, mask = tokens[:1], mask[:1]                                          # (1, T), (1, T-1)
    rewards = place_on_last_action(torch.tensor([1.0]), mask)                   # (1, T-1)
    names = [SHOWN.get(tok.itos[i], tok.itos[i]) for i in tokens[0].tolist()]
    T, P = len(names), 6                                                         # P prompt tokens after BOS
    cols = mask[0].nonzero().flatten().tolist()                                  # the action columns
    assert cols == [P + k for k in range(len(cols))] and int(rewards[0].argmax()) == cols[-1]

    fig = Figure(figsize=(12, 5.4))
    ax = fig.add_axes([0, 0, 1, 1])
    blank(ax, (-3.6, T + 0.2), (-0.6, 9.0))
    rows = {"pos": 8.65, "tok": 7.2, "c": 5.9, "pred": 5.1, "mask": 4.3, "k": 3.5, "r": 2.7, "V": 1.9}
    head = {"pos": "position", "tok": "tokens (B, T)", "c": "column c of (B, T-1)",
            "pred": "logits at c predict", "mask": "mask (B, T-1)", "k": "MDP step k = c - P",
            "r": "token reward (B, T-1)", "V": "values (B, T-1)"}
    for key, y in rows.items():
        ax.text(-0.6, y, head[key], ha="right", va="center", fontsize=9, fontweight="bold")
    kind = ["bos"] + ["prompt"] * P + ["answer"] * (len(cols) - 1) + ["eos"] + ["pad"] * (T - P - len(cols) - 1)
    fill = {"bos": "#dddddd", "prompt": "#cfe2f3", "answer": TRAINED, "eos": TRAINED, "pad": "#ffffff"}
    for j in range(T):
        ax.text(j, rows["pos"], str(j), ha="center", va="center", fontsize=8, color="#555555")
        ax.add_patch(Rectangle((j - 0.45, rows["tok"] - 0.32), 0.9, 0.64, fc=fill[kind[j]], ec="#333333"))
        ax.text(j, rows["tok"], names[j], ha="center", va="center", fontsize=9 if len(names[j]) > 1 else 11)
    for c in range(T - 1):
        action = bool(mask[0, c])
        ax.text(c, rows["c"], str(c), ha="center", va="center", fontsize=9)
        ax.add_patch(FancyArrowPatch((c + 0.1, rows["tok"] - 0.36), (c + 0.9, rows["tok"] - 0.36),
                                     connectionstyle="arc3,rad=0.5", arrowstyle="-|>", mutation_scale=8,
                                     color="#d62728" if action else "#aaaaaa", lw=1.0))
        ax.text(c, rows["pred"], names[c + 1], ha="center", va="center", fontsize=9,
                color="#000000" if action else "#999999")
        ax.add_patch(Rectangle((c - 0.45, rows["mask"] - 0.3), 0.9, 0.6, fc=TRAINED if action else "#ffffff",
                               ec="#333333"))
        ax.text(c, rows["mask"], str(int(mask[0, c])), ha="center", va="center", fontsize=10)
        if action:
            k = c - P
            ax.text(c, rows["k"], f"k = {k}", ha="center", va="center", fontsize=9, color="#d62728")
            ax.text(c, rows["V"], f"V(s_{k})", ha="center", va="center", fontsize=9)
        else:
            ax.text(c, rows["V"], "-", ha="center", va="center", fontsize=9, color="#999999")
        ax.text(c, rows["r"], f"{float(rewards[0, c]):g}", ha="center", va="center", fontsize=10,
                color="#000000" if action else "#999999")
    last = cols[-1]
    ax.add_patch(Rectangle((last - 0.45, rows["r"] - 0.3), 0.9, 0.6, fc="#fff3b0", ec="#d62728", lw=1.5))
    ax.text(last, rows["r"], f"{float(rewards[0, last]):g}", ha="center", va="center", fontsize=10,
            fontweight="bold")
    ax.text(last + 1.6, rows["r"], "<- the sequence reward R sits on the last action (its EOS):\n"
            "     place_on_last_action", ha="left", va="center", fontsize=8, color="#d62728")
    ax.text(last + 1.6, rows["V"], "<- values off the mask are not used; the value after\n"
            "     the last action is 0: nothing is bootstrapped past EOS",
            ha="left", va="center", fontsize=8)
    # the state s_1 = tokens[:, :c+1] behind column c = P + 1
    c1 = P + 1
    ax.plot([-0.45, c1 + 0.45], [rows["tok"] + 0.45] * 2, color="#2ca02c", lw=2.5)
    ax.text((c1 - 0.45) / 2, rows["tok"] + 0.62, f"state s_1 = tokens[:, :{c1 + 1}]: what values[:, {c1}] and "
            f"logits[:, {c1}] see", ha="center", va="bottom", fontsize=8, color="#2ca02c")
    ax.text(-3.5, 0.75, f"P = {P} prompt tokens after BOS, so step k of the MDP is column c = P + k "
            f"(k = 0 is the first answer token). logp[:, c] = log pi(tokens[:, c+1] | tokens[:, :c+1]);\n"
            "mask, per-token rewards, values, advantages and returns all share the (B, T-1) columns. "
            "Orange: the actions (the answer and its EOS); the prompt is context and padding is nothing (mask 0).",
            ha="left", va="center", fontsize=8.5)
    ax.text(-3.5, -0.2, "Example: 12+34= answered 64 (46 written least-significant digit first), "
            "padded by one PAD to the batch's longest row.", ha="left", va="center", fontsize=8.5,
            style="italic")
    return fig


# --- c. GAE's weights (chapter 4) ----------------------------------------------------------------------
LAMBDAS = (0.0, 0.5, 0.95, 1.0)


def gae_weights(horizon: int = 10):
    """Left: the weight of delta_{k+l} in A_k; right: the weight of each n-step advantage in A_k, for an
    episode with `horizon` actions left (the weight of every n past the end goes to the Monte Carlo return)."""
    # the weight of delta_{k+l} in A_k as the code computes it: GAE's discounted sum of one-hot TD errors
    eye = torch.eye(horizon)                                                            # (horizon, horizon)
    left_w = {lam: discounted_cumsum(eye, lam)[:, 0].tolist() for lam in LAMBDAS}     # row l: delta = e_l
    for lam in LAMBDAS:
        assert all(abs(w - lam ** j) < 1e-6 for j, w in enumerate(left_w[lam]))       # (gamma lambda)^l
    # n-step mixture: (1 - lambda) lambda^(n-1) for n < horizon; all the rest on the Monte Carlo return
    mix = {lam: [(1 - lam) * lam ** (n - 1) for n in range(1, horizon)] + [lam ** (horizon - 1)]
           for lam in LAMBDAS}
    assert all(abs(sum(w) - 1) < 1e-9 for w in mix.values())
    # check the identity on random rewards and values with the code's own estimators (gamma = 1)
    gen = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(2, horizon, generator=gen), torch.randn(2, horizon, generator=gen)
    mask = torch.ones(2, horizon)
    for lam in LAMBDAS:
        adv, _ = gae(rewards, values, mask, 1.0, lam)
        mixed = sum(w * td_advantages(rewards, values, mask, 1.0, n)[0] for n, w in enumerate(mix[lam], 1))
        assert torch.allclose(adv[:, 0], mixed[:, 0], atol=1e-5), lam

    fig = Figure(figsize=(10, 3.6))
    a, b = fig.subplots(1, 2)
    colors = {0.0: "#d62728", 0.5: "#ff7f0e", 0.95: "#2ca02c", 1.0: "#1f77b4"}
    ls = list(range(horizon))
    for lam in LAMBDAS:
        a.plot(ls, left_w[lam], "o-", color=colors[lam], label=rf"$\lambda$ = {lam:g}", ms=4)
    a.set_xlabel(r"$l$: how many steps ahead the TD error is")
    a.set_ylabel(r"weight of $\delta_{k+l}$ in $A_k$")
    a.set_title(r"GAE: $A_k = \sum_l (\gamma\lambda)^l\, \delta_{k+l}$   ($\gamma = 1$)", fontsize=10)
    a.set_xticks(ls)
    a.legend(fontsize=8)
    width = 0.2
    ns = list(range(1, horizon + 1))
    for i, lam in enumerate(LAMBDAS):
        b.bar([n + (i - 1.5) * width for n in ns], mix[lam], width, color=colors[lam], label=rf"$\lambda$ = {lam:g}")
    b.set_xticks(ns, [str(n) for n in ns[:-1]] + [f"{horizon}\n(MC)"])
    b.set_xlabel(rf"$n$: the $n$-step advantage $G^{{(n)}}_k - V(s_k)$  ({horizon} actions left)")
    b.set_ylabel(r"weight in $A_k$")
    b.set_title(r"the same $A_k$ as a mixture of $n$-step advantages, weights $(1-\lambda)\lambda^{n-1}$;" "\n"
                rf"every $n$ past the end adds up to $\lambda^{{{horizon - 1}}}$, on the Monte Carlo return",
                fontsize=9)
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- d. the four models of RLHF's PPO (chapter 5) -------------------------------------------------------
def rlhf_pipeline():
    orange = "#b35900"
    fig = Figure(figsize=(12, 6.6))
    ax = fig.add_axes([0, 0, 1, 1])
    blank(ax, (0, 12.4), (-0.1, 7.0))
    box(ax, 1.0, 5.6, 1.5, 0.7, "prompts x\n(training set)", DATA, size=9)
    box(ax, 3.4, 5.6, 2.2, 0.9, "policy $\\pi_\\theta$\nTRAINED", TRAINED, size=9, bold=True)
    box(ax, 6.6, 5.6, 2.8, 0.9, "responses y, sampled at temperature 1\ntokens (B, T), mask (B, T-1),\n"
                                "log $\\pi_{old}$ per token (B, T-1)", DATA, size=8)
    arrow(ax, (1.75, 5.6), (2.3, 5.6))
    arrow(ax, (4.5, 5.6), (5.2, 5.6), "sample", offset=(0, 0.2))
    # the three models that score the rollout, without gradients
    box(ax, 3.0, 3.8, 2.6, 0.9, "reference $\\pi_{ref}$\nFROZEN copy of the start policy", FROZEN, size=8,
        bold=True)
    box(ax, 6.6, 3.8, 2.6, 0.9, "reward model $r_\\phi$\nFROZEN (or the verifier)", FROZEN, size=8, bold=True)
    box(ax, 9.6, 3.8, 2.6, 0.9, "value model $V_\\psi$\nTRAINED (the policy's trunk,\na scalar head)", TRAINED,
        size=8, bold=True)
    for x in (3.0, 6.6, 9.6):
        arrow(ax, (6.6, 5.15), (x, 4.25))
    box(ax, 3.0, 2.5, 2.8, 0.8, "log $\\pi_{ref}$ of every action\n"
                                "$KL_k = \\log\\pi_{old} - \\log\\pi_{ref}$ (k1, the default)", DATA, size=8)
    box(ax, 6.6, 2.5, 2.8, 0.8, "one score $R(x, y)$ per response:\nits output at the last action (EOS)",
        DATA, size=8)
    box(ax, 9.6, 2.5, 2.6, 0.8, "$V(s_k)$ before every action\nvalues (B, T-1)", DATA, size=8)
    for x in (3.0, 6.6, 9.6):
        arrow(ax, (x, 3.35), (x, 2.9))
    box(ax, 4.6, 1.0, 3.4, 0.9, "per-token rewards\n$r_k = -\\beta\\, KL_k + [k\\ \\mathrm{last}]\\, R(x, y)$",
        OP, size=8.5)
    arrow(ax, (3.0, 2.1), (4.0, 1.45))
    arrow(ax, (6.6, 2.1), (5.4, 1.45))
    box(ax, 7.9, 1.0, 2.4, 0.9, "GAE($\\gamma$, $\\lambda$)\nadvantages $A_k$\nreturns $R_k = A_k + V(s_k)$",
        OP, size=8)
    arrow(ax, (6.3, 1.0), (6.7, 1.0))
    arrow(ax, (9.6, 2.1), (8.6, 1.45))
    box(ax, 11.2, 1.0, 1.9, 1.2, "PPO update\nepochs of minibatches:\nclipped policy loss\n+ clipped value loss",
        OP, size=8)
    arrow(ax, (9.1, 1.0), (10.25, 1.0), "$A_k, R_k$", offset=(0, 0.22))
    # the updates: theta over the top, psi up the right
    ax.plot([11.9, 11.9, 3.4], [1.6, 6.55, 6.55], color=orange, lw=1.5)
    arrow(ax, (3.4, 6.55), (3.4, 6.05), color=orange, lw=1.5)
    ax.text(7.6, 6.7, "update $\\theta$: clipped surrogate of the ratio $\\pi_\\theta / \\pi_{old}$ "
                      "with the advantages $A_k$", ha="center", va="center", fontsize=8.5, color=orange)
    ax.plot([11.2, 11.2], [1.6, 3.8], color=orange, lw=1.5)
    arrow(ax, (11.2, 3.8), (10.9, 3.8), color=orange, lw=1.5)
    ax.text(11.25, 2.75, "update $\\psi$:\n$\\frac{1}{2}(V - R_k)^2$,\nclipped", ha="left", va="center", fontsize=8,
            color=orange)
    ax.add_patch(Rectangle((0.25, 0.02), 0.35, 0.25, fc=TRAINED, ec="#333333"))
    ax.text(0.7, 0.145, "trained", va="center", fontsize=8)
    ax.add_patch(Rectangle((1.55, 0.02), 0.35, 0.25, fc=FROZEN, ec="#333333"))
    ax.text(2.0, 0.145, "frozen (no gradient)", va="center", fontsize=8)
    return fig


DIAGRAMS = {"causal_attention": ("ch02_causal_attention", causal_attention),
            "token_columns": ("ch03_token_columns", token_columns),
            "gae_weights": ("ch04_gae_weights", gae_weights),
            "rlhf_pipeline": ("ch05_rlhf_pipeline", rlhf_pipeline)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("which", nargs="*", help=f"diagrams to draw, of {', '.join(DIAGRAMS)} (default: all)")
    args = p.parse_args(argv)
    unknown = [w for w in args.which if w not in DIAGRAMS]
    if unknown:
        p.error(f"unknown diagram(s) {unknown}; choose from {', '.join(DIAGRAMS)}")
    for name in args.which or DIAGRAMS:
        figure_name, draw = DIAGRAMS[name]
        save_figure(draw(), figure_name)


if __name__ == "__main__":
    main()
