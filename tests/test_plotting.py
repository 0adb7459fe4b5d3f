"""minirl.plotting: run plots in a 2-column grid with human titles, no panel for a metric that was
not measured, accuracies in percent; the demo's phases on one axis of examples seen; save_figure."""
import types

import pytest

from minirl.plotting import METRIC_LABELS, metric_label, plot_metrics, plot_phases, save_figure


def rows(n=6):
    """metrics.jsonl rows of a run with beta = 0: kl logged, but 0 at every step."""
    out = []
    for s in range(1, n + 1):
        r = {"step": 10 * s, "seconds": 1.5 * s, "loss": 1.0 / s, "reward_mean": 0.1 * s, "kl": 0.0,
             "clip_frac": 0.02 * s}
        if s % 2 == 0:
            r["eval_accuracy"] = 0.15 * s
        out.append(r)
    return out


def panel_titles(fig):
    return [ax.get_title() for ax in fig.axes]


def curves(ax):
    """The data lines of an axis (not the phase boundaries)."""
    return [line for line in ax.lines if not line.get_label().startswith("_")]


def test_plot_metrics_grid_titles_and_skipped_panels(tmp_path):
    keys = ("eval_accuracy", "reward_mean", "zero_adv_groups", "kl", "loss", "clip_frac", "grad_norm")
    fig = plot_metrics(rows(), tmp_path / "curves.png", keys=keys, title="grpo on add2")
    assert (tmp_path / "curves.png").stat().st_size > 0
    assert panel_titles(fig) == ["held-out accuracy (%)", "mean reward", "loss", "clipped share of tokens (%)"]
    gs = fig.axes[0].get_subplotspec().get_gridspec()
    assert (gs.nrows, gs.ncols) == (2, 2)                              # 4 panels: two rows of two
    assert [ax.get_subplotspec().colspan.start for ax in fig.axes] == [0, 1, 0, 1]
    notes = " ".join(t.get_text() for t in fig.texts)
    assert "KL to reference" in notes                                  # all zero: named, not drawn
    assert "signal" not in notes and "gradient" not in notes           # absent: silently left out
    assert all(ax.get_xlabel() == "step" for ax in fig.axes)


def test_accuracy_and_shares_in_percent():
    fig = plot_metrics(rows(), keys=("eval_accuracy", "clip_frac", "loss"))
    acc, clip, loss = fig.axes
    assert acc.get_ylim() == (-2, 102) and clip.get_ylim() == (-2, 102)
    assert list(acc.lines[0].get_ydata()) == pytest.approx([30, 60, 90])   # 0.3, 0.6, 0.9 of the rows
    assert list(acc.lines[0].get_xdata()) == [20, 40, 60]
    assert max(clip.lines[0].get_ydata()) == pytest.approx(12)
    assert list(loss.lines[0].get_ydata()) == pytest.approx([1.0 / s for s in range(1, 7)])
    gs = acc.get_subplotspec().get_gridspec()
    assert (gs.nrows, gs.ncols) == (2, 2) and len(fig.axes) == 3          # an odd count leaves one slot empty


def test_one_panel_other_x_unknown_keys_and_nothing_to_draw(tmp_path):
    fig = plot_metrics(rows(), keys=("loss",), x="seconds")
    gs = fig.axes[0].get_subplotspec().get_gridspec()
    assert (gs.nrows, gs.ncols) == (1, 1) and fig.axes[0].get_xlabel() == "wall-clock seconds"
    r = [{"step": 1, "entropy_bonus": 0.5, "train_accuracy": 0.5}, {"step": 2, "entropy_bonus": 0.4}]
    fig = plot_metrics(r, keys=("entropy_bonus", "train_accuracy"))
    assert panel_titles(fig) == ["entropy bonus", "train accuracy (%)"]
    assert fig.axes[1].lines[0].get_ydata()[0] == pytest.approx(50)
    assert plot_metrics(rows(), tmp_path / "none.png", keys=("kl", "absent")) is None
    assert not (tmp_path / "none.png").exists()


def test_zero_accuracy_is_a_result_and_is_drawn():
    r = [{"step": s, "eval_accuracy": 0.0, "loss": 2.0} for s in (1, 2)]
    assert panel_titles(plot_metrics(r))[0] == "held-out accuracy (%)"


def test_every_labelled_metric_has_a_unit_or_a_plain_name():
    assert metric_label("kl") == "KL to reference (nats per sequence)"
    assert metric_label("kl_per_token") == "KL to reference (nats per token)"
    assert metric_label("zero_adv_groups") == "groups with no signal (%)"
    assert metric_label("explained_var") == metric_label("explained_variance")
    assert all("_" not in label for label in METRIC_LABELS.values())


def test_phases_share_an_axis_of_examples_seen(tmp_path):
    sft = [{"step": s, "eval_accuracy": a} for s, a in ((25, 0.1), (50, 0.3))]
    grpo = [{"step": 2, "eval_accuracy": 0.5, "reward_mean": 0.4}, {"step": 4, "eval_accuracy": 0.8}]
    fig = plot_phases([("SFT", sft, 64), ("GRPO", grpo, 16 * 8)], tmp_path / "p.png")
    (ax,) = fig.axes
    a, b = curves(ax)
    assert list(a.get_xdata()) == [25 * 64, 50 * 64]
    assert list(b.get_xdata()) == [50 * 64, 50 * 64 + 2 * 128, 50 * 64 + 4 * 128]    # starts where SFT ended
    assert list(b.get_ydata()) == pytest.approx([30, 50, 80])
    assert "examples" in ax.get_xlabel() and ax.get_ylabel() == "held-out accuracy (%)"
    assert (tmp_path / "p.png").stat().st_size > 0


def test_demo_plots_accuracy_against_examples_seen(tmp_path, monkeypatch):
    from minirl import demo
    seen = {}

    def fake(rows_):
        def train(cfg):
            seen.setdefault("cfgs", []).append(cfg)
            return types.SimpleNamespace(metrics=rows_, summary={"eval_accuracy": rows_[-1]["eval_accuracy"]})
        return train

    def spy(*args, **kw):
        seen["fig"] = plot_phases(*args, **kw)
        return seen["fig"]
    monkeypatch.setattr(demo, "train_sft", fake([{"step": 20, "eval_accuracy": 0.2}, {"step": 40, "eval_accuracy": .3}]))
    monkeypatch.setattr(demo, "train_grpo", fake([{"step": 2, "eval_accuracy": 0.5}, {"step": 4, "eval_accuracy": .7}]))
    monkeypatch.setattr(demo, "plot_phases", spy)
    demo.run_demo(out=str(tmp_path), quick=True, retrain_start=True)   # both phases train here
    sft_cfg, grpo_cfg = seen["cfgs"]
    ax = seen["fig"].axes[0]
    sft_line, grpo_line = curves(ax)
    per_sft, per_grpo = sft_cfg.batch_size, grpo_cfg.batch_size * grpo_cfg.group_size
    assert list(sft_line.get_xdata()) == [20 * per_sft, 40 * per_sft]
    assert list(grpo_line.get_xdata())[1:] == [40 * per_sft + 2 * per_grpo, 40 * per_sft + 4 * per_grpo]
    assert ax.get_xlabel().startswith("examples learned from")
    assert (tmp_path / "curves.png").is_file()


def test_save_figure_png_and_svg(tmp_path):
    from PIL import Image
    fig = plot_metrics(rows(), keys=("loss",))
    png = save_figure(fig, tmp_path / "figs" / "ch00_x.png")
    assert png == tmp_path / "figs" / "ch00_x.png" and (tmp_path / "figs" / "ch00_x.svg").is_file()
    assert Image.open(png).info["dpi"] == pytest.approx((150, 150), abs=0.1)
    svg = (tmp_path / "figs" / "ch00_x.svg").read_bytes()
    save_figure(fig, tmp_path / "figs" / "ch00_x")                     # the same figure, the same SVG
    assert (tmp_path / "figs" / "ch00_x.svg").read_bytes() == svg and b"<dc:date>" not in svg
    save_figure(fig, tmp_path / "run.png", svg=False)
    assert (tmp_path / "run.png").is_file() and not (tmp_path / "run.svg").exists()
