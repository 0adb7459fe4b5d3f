"""Every GPU code path, run on the CPU: notebook 09's GPU branch, `benchmarks/gpu_presets.py`,
`benchmarks/throughput.py --preset gpu` and `make gpu-check`'s dry run, with the configuration a GPU
gets and only the device (and, for speed, the sizes) swapped. A TypeError, a wrong flag or a missing
key fails here, not on a reader's first GPU run. (tests/test_notebooks.py runs notebook 09 in smoke
mode, which takes the GPU branch of every cell on the CPU.)"""
import json
from pathlib import Path

import nbformat
import pytest

from benchmarks import gpu_presets, throughput
from minirl.config import PRESETS, ConfigError, preset_config

ROOT = Path(__file__).resolve().parents[1]


def notebook_cell(marker: str) -> str:
    """The source of notebook 09's code cell that contains `marker`."""
    nb = nbformat.read(ROOT / "notebooks" / "09_single_gpu.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and marker in c.source)


def test_preset_config_overrides_what_the_preset_holds():
    from minirl.sft import SFTConfig
    preset = {**PRESETS["gpu"]["*"], **PRESETS["gpu"]["sft"]}
    with pytest.raises(TypeError, match="multiple values for keyword argument 'steps'"):
        SFTConfig(**preset, steps=600)                # what notebook 09 did: a crash on any GPU
    cfg = preset_config(SFTConfig, "gpu", "sft", steps=600, device="cuda")
    cfg.validate()
    assert (cfg.steps, cfg.device, cfg.task) == (600, "cuda", "add3")
    assert (cfg.n_embd, cfg.batch_size) == (512, 1024)
    with pytest.raises(ConfigError, match="has no field stepz"):
        preset_config(SFTConfig, "gpu", "sft", stepz=600)


def test_notebook_09_gpu_branch_builds_a_valid_full_size_config(monkeypatch, tmp_path):
    """Section 4's GPU branch at full size (no training: train_sft is replaced by a check)."""
    import minirl.sft
    seen = []

    class Result:
        summary = {"task": "add3"}

    def fake_train(cfg):
        cfg.validate()
        seen.append(cfg)
        return Result()
    monkeypatch.setattr(minirl.sft, "train_sft", fake_train)
    from minirl.config import TOY_SIZE
    names = {"GPU_PATH": True, "SMOKE": False, "DEVICE": "cuda", "RUNS": tmp_path, "json": json,
             "steps": lambda n: n, "TOY_SIZE": TOY_SIZE, "preset_config": preset_config}
    exec(notebook_cell("train_sft(cfg)"), names)
    cfg = seen[0]
    assert (cfg.steps, cfg.device, cfg.task) == (600, "cuda", "add3")
    assert (cfg.n_layer, cfg.batch_size, cfg.dtype) == (8, 1024, "auto")


def test_notebook_09_gpu_branch_calls_throughput_with_valid_flags(monkeypatch):
    import subprocess
    calls = []

    class Done:
        returncode, stdout, stderr = 0, "", ""
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Done())
    names = {"GPU_PATH": True, "SMOKE": False, "DEVICE": "cuda", "subprocess": subprocess,
             "sys": __import__("sys")}
    exec(notebook_cell("benchmarks.throughput"), names)
    args = throughput.parse_args(calls[0][3:])        # [python, -m, benchmarks.throughput, *flags]
    assert calls[0][1:3] == ["-m", "benchmarks.throughput"]
    assert (args.preset, args.device, args.task, args.smoke) == ("gpu", "cuda", "add3", False)


def test_throughput_preset_times_the_preset_task_on_one_device():
    args = throughput.parse_args(["--preset", "gpu"])
    assert args.task == "add3" and args.device == "auto"  # not add2, nor the 25M model on a CPU
    assert throughput.parse_args([]).device == "all" and throughput.parse_args([]).task == "add2"
    # (test_gpu_check_dry_run runs `throughput.py --preset gpu --smoke` end to end)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """`gpu_presets.py --smoke`: every stage on the CPU at toy size -> (runs folder, table rows)."""
    out = tmp_path_factory.mktemp("gpu_presets")
    return out, gpu_presets.main(["--smoke", "--out", str(out)])


def test_gpu_presets_smoke(smoke_runs):
    out, results = smoke_runs
    assert [r["stage"] for r in results] == ["sft", "weak (1 steps)", "grpo", "ppo"]
    assert all(r["task"] == "add3" for r in results)                   # the preset's task
    assert results[0]["tokens_per_s"] > 0                                # SFT: training throughput
    assert results[2]["completions_per_s"] > 0                           # GRPO: rollouts
    assert results[3]["completions_per_s"] > 0                           # PPO
    assert json.loads((out / "results.json").read_text()) == results
    md = (out / "results.md").read_text()
    assert md.count("\n") == 6 and "| grpo |" in md


def test_gpu_check_dry_run(smoke_runs, tmp_path, capsys):
    """`make gpu-check` on the CPU at toy size: the report and its one results.json. Its runs are
    the smoke runs above (a finished run folder is read, not trained again)."""
    out, smoke = smoke_runs
    results = gpu_presets.main(["--check", "--smoke", "--out", str(out),
                                "--results", str(tmp_path)])
    assert results == smoke[:3]                                          # sft, weak, grpo
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["environment"]["torch"] and report["environment"]["device"] == "cpu"
    assert report["presets"] == results and report["grpo_reached_target"] in (True, False)
    assert [r["compile"] for r in report["throughput"]] == [False, True]   # compile off, on
    assert all(r["task"] == "add3" and r["same_output"] for r in report["throughput"])
    assert all(r["real_tokens_per_s"] <= r["tokens_per_s"] for r in report["throughput"])
    assert report["torchrun"] == {"skipped": "fewer than 2 GPUs"}
    env = report["environment"]                 # what every results/ file says about where it ran
    assert report["command"]
    assert {"cpu", "cpu_capability", "threads", "torch", "date", "git_commit"} <= set(env)
    assert report["numbers"]["sft_tokens_per_s"] > 0 and report["numbers"]["compiled_train_ms"] > 0


def test_gpu_check_torchrun_command_is_valid(tmp_path, capsys):
    from minirl.__main__ import main
    cmd = gpu_presets.torchrun_command(tmp_path / "x", 200)
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--nproc_per_node", "2", "-m"]
    assert cmd[6:8] == ["minirl", "sft"]
    assert main(cmd[7:] + ["--dry_run"]) == 0
    assert json.loads(capsys.readouterr().out)["batch_size"] == 1024


def test_make_gpu_check_runs_the_check():
    make = (ROOT / "Makefile").read_text()
    assert "gpu-check" in make.split(".PHONY:")[1].splitlines()[0]
    recipe = make.split("\ngpu-check:")[1].split("\n\n")[0]
    assert "-m benchmarks.gpu_presets --check" in recipe


def fake_weak_runs(monkeypatch, accuracy: dict):
    calls = []

    def fake_cli_run(folder, *flags):
        n = int(flags[flags.index("--steps") + 1])
        calls.append(n)
        return [], {"task": "add3", "params": 1, "steps": n, "eval_accuracy": accuracy[n],
                    "wall_seconds": 1, "device": "cpu"}
    monkeypatch.setattr(gpu_presets, "cli_run", fake_cli_run)
    return calls


def test_weak_start_is_bounded_above(tmp_path, monkeypatch):
    """The smallest N reaching 20% may hand RL a 90% start; the weak start must lie in [20%, 50%]:
    when one N jumps over the range, bisect between it and the last N below."""
    calls = fake_weak_runs(monkeypatch, {50: 0.05, 100: 0.9, 75: 0.7, 62: 0.35})
    n, _, summary = gpu_presets.weak_start(tmp_path, [], [50, 100, 200], 0.2, 0.5)
    assert (n, summary["eval_accuracy"], calls) == (62, 0.35, [50, 100, 75, 62])
    fake_weak_runs(monkeypatch, {50: 0.3})
    assert gpu_presets.weak_start(tmp_path, [], [50, 100], 0.2, 0.5)[0] == 50
    fake_weak_runs(monkeypatch, {50: 0.05, 100: 0.1})
    with pytest.raises(SystemExit, match="50 steps: 5.0%, 100 steps: 10.0%"):
        gpu_presets.weak_start(tmp_path, [], [50, 100], 0.2, 0.5)
