"""`python -m minirl ...` end to end, as a reader would type it: in subprocesses where the whole
path matters (help, a run, eval, sample, the demo), and through `main(argv)` in this process for the
error messages (the same code; a subprocess costs about 3 s of Python and torch start-up)."""
import json
import subprocess
import sys

import pytest

from minirl.__main__ import available_trainers


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "minirl", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def run_here(capsys, *args):
    """`python -m minirl ARGS` as `main(ARGS)` in this process -> (exit status, stdout, stderr)."""
    import minirl.__main__ as cli
    try:
        code = cli.main(list(args))
    except SystemExit as e:                      # argparse exits on a bad command line
        code = e.code
    out = capsys.readouterr()
    return code or 0, out.out, out.err


def test_every_config_field_has_help():
    import dataclasses
    for name, (cfg_cls, train, desc) in available_trainers().items():
        assert desc, name
        for f in dataclasses.fields(cfg_cls):
            assert f.metadata.get("help"), f"{name}: --{f.name} has no help text"


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0 and "sft" in r.stdout and "eval" in r.stdout


def test_sft_eval_sample_end_to_end(tmp_path):
    out = tmp_path / "sft"
    r = run("sft", "--steps", "6", "--eval_every", "3", "--log_every", "2", "--n_layer", "1", "--n_embd", "32",
            "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "held-out accuracy" in r.stdout
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    r = run("eval", "--init", str(out / "model.pt"), "--n", "50", "--samples", "2")
    assert r.returncode == 0, r.stderr
    assert "held-out exact match" in r.stdout and "on 50 problems" in r.stdout
    r = run("sample", "--init", str(out / "model.pt"), "--prompt", "12+34=", "--n", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("12+34=") == 2


@pytest.mark.parametrize("args,message", [
    (["sft", "--lr", "-1"], "--lr must be > 0"),
    (["sft", "--batch_size", "0"], "--batch_size must be >= 1"),
    (["sft", "--task", "add7"], "--task must be one of add1"),
    (["sft", "--block_size", "4"], "too small for task add2"),
    (["sft", "--init", "missing/model.pt"], "not found"),
    (["eval", "--init", "missing/model.pt"], "not found"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    code, _, err = run_here(capsys, *args, *(["--out", str(tmp_path / "run")] if args[0] == "sft" else []))
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_bad_input_from_the_console_is_one_line():
    r = run("sft", "--lr", "-1", "--dry_run")
    assert r.returncode == 2 and "--lr must be > 0" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_unknown_command(capsys):
    code, _, err = run_here(capsys, "frobnicate")
    assert code == 2 and "invalid choice" in err


def test_sample_rejects_characters_outside_the_alphabet(tmp_path, capsys):
    out = tmp_path / "sft"
    assert run_here(capsys, "sft", "--steps", "1", "--eval_every", "1", "--n_layer", "1", "--n_embd", "32",
                    "--out", str(out), "--no-progress")[0] == 0
    code, _, err = run_here(capsys, "sample", "--init", str(out / "model.pt"), "--prompt", "12+x=")
    assert code != 0 and "not in the tokenizer's alphabet" in err


def test_demo_quick(tmp_path):
    r = run("demo", "--quick", "--out", str(tmp_path / "demo"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "after SFT" in r.stdout and "after GRPO" in r.stdout
    assert (tmp_path / "demo" / "curves.png").is_file()


def test_preset_sets_defaults_and_explicit_flags_win(monkeypatch):
    import minirl.__main__ as cli
    cls, _, desc = available_trainers()["sft"]
    seen = {}

    def fake_train(cfg):
        seen["cfg"] = cfg
        raise SystemExit(0)
    monkeypatch.setattr(cli, "available_trainers", lambda: {"sft": (cls, fake_train, desc)})
    with pytest.raises(SystemExit):
        cli.main(["sft", "--preset", "gpu", "--steps", "7"])
    cfg = seen["cfg"]
    assert (cfg.task, cfg.n_layer, cfg.n_embd, cfg.steps) == ("add3", 8, 512, 7)
    assert cli.main(["sft", "--preset", "tpu"]) == 2


def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code, _, err = run_here(capsys, "sft", "--device", "cuda", "--out", str(tmp_path / "x"))
    assert code == 2 and "sees no CUDA GPU" in err and not (tmp_path / "x").exists()


def test_bf16_autocast_trains_on_cpu(tmp_path):
    from minirl.sft import SFTConfig, train_sft
    r = train_sft(SFTConfig(steps=3, eval_every=3, log_every=1, n_layer=1, n_embd=32, dtype="bfloat16",
                            out=str(tmp_path / "bf16"), progress=False))
    assert r.model.amp_dtype is not None
    assert all(m["loss"] == m["loss"] for m in r.metrics if "loss" in m)      # finite, no NaN
