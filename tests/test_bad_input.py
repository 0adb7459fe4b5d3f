"""Bad input, swept rather than listed: every command, every numeric flag at 0, negative, NaN and
huge, and prompts that are empty, too long or outside the alphabet. Each must end in one error
line that names the flag (exit code 2, no traceback) and write nothing."""
import dataclasses
import re
import typing

import pytest

from minirl.__main__ import available_trainers, main

TRAINERS = available_trainers()
BAD = {"negative": "-1", "nan": "nan", "huge": "1000000000000"}


def numeric_flags():
    for command, (cls, _, _) in TRAINERS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] in (int, float):
                yield command, f


def run_cli(argv, capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as e:              # argparse's own errors (a value that is not a number)
        rc = e.code
    return rc, capsys.readouterr().err


def assert_one_line_error(err: str, name: str):
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"--{name}" in lines[0], f"the error does not name --{name}: {lines[0]}"


@pytest.mark.parametrize("command,field", list(numeric_flags()), ids=lambda x: getattr(x, "name", x))
def test_every_numeric_flag_rejects_negative_nan_and_huge(command, field, tmp_path, capsys):
    out = tmp_path / "run"
    for kind, value in BAD.items():
        rc, err = run_cli([command, f"--{field.name}", value, "--out", str(out), "--dry_run"], capsys)
        assert rc == 2, f"{command} --{field.name} {value} ({kind}) was accepted"
        assert_one_line_error(err, field.name)
        assert not out.exists()


@pytest.mark.parametrize("command,field", list(numeric_flags()), ids=lambda x: getattr(x, "name", x))
def test_zero_is_rejected_unless_the_help_says_what_it_means(command, field, tmp_path, capsys):
    out = tmp_path / "run"
    rc, err = run_cli([command, f"--{field.name}", "0", "--out", str(out), "--dry_run"], capsys)
    if rc == 0:        # 0 accepted: the flag's help must say what 0 does (e.g. "0 = off")
        said = re.search(r"(^|[^\d.])0( =|,)", field.metadata["help"])          # "0 = off", "in [0, 1]"
        assert field.name == "seed" or said, f"--{field.name} 0 accepted, but its help does not say what 0 means"
    else:
        assert rc == 2
        assert_one_line_error(err, field.name)
    assert not out.exists()


@pytest.mark.parametrize("flag,value", [("task", "add7"), ("lr_schedule", "linear"), ("dtype", "fp8"),
                                        ("device", "tpu"), ("device", "cuda:x")])
def test_bad_choices_are_one_line_errors(flag, value, tmp_path, capsys):
    rc, err = run_cli(["sft", f"--{flag}", value, "--out", str(tmp_path / "run"), "--dry_run"], capsys)
    assert rc == 2
    assert_one_line_error(err, flag)


def test_hyphenated_flags_work_and_bad_ones_show_the_subcommand_usage(capsys):
    rc, out = main(["grpo", "--batch-size", "16", "--clip-eps-high", "0.28", "--dry-run"]), capsys.readouterr().out
    assert rc == 0 and '"batch_size": 16' in out and '"clip_eps_high": 0.28' in out
    rc, err = run_cli(["grpo", "--no-such-flag", "1"], capsys)
    assert rc == 2 and "usage: minirl grpo" in err and "unrecognized arguments: --no-such-flag" in err


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from minirl.model import GPT, GPTConfig
    from minirl.runs import save_checkpoint
    from minirl.tasks import make_task
    from minirl.tokenizer import CharTokenizer
    tok, task = CharTokenizer(), make_task("add2")
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=12, n_layer=1, n_head=2, n_embd=16)),
                    tok, task)
    return str(path)


@pytest.mark.parametrize("prompt,message", [("", "empty"), ("12+34=" * 4, "too long"), ("12+34=é", "é"),
                                            ("twelve", "'t'")])
def test_bad_prompts_are_one_line_errors(prompt, message, tiny_checkpoint, capsys):
    rc, err = run_cli(["sample", "--init", tiny_checkpoint, "--prompt", prompt], capsys)
    assert rc == 2, err
    assert_one_line_error(err, "prompt")
    assert message in err


@pytest.mark.parametrize("command,flag", [("eval", "n"), ("eval", "samples"), ("sample", "n"),
                                          ("sample", "temperature"), ("sample", "top_k"), ("sample", "seed")])
def test_inference_flags_reject_bad_numbers(command, flag, tiny_checkpoint, capsys):
    for value in BAD.values():
        rc, err = run_cli([command, "--init", tiny_checkpoint, f"--{flag}", value], capsys)
        assert rc == 2, f"{command} --{flag} {value} was accepted"
        assert_one_line_error(err, flag)
