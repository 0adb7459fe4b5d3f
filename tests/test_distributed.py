"""Scale-out: `torchrun --nproc_per_node 2 -m minirl sft` (gloo on CPU) equals the 1-process run on
the same global batch, step for step."""
import json
import os
import subprocess
import sys

import pytest
import torch

ARGS = ["sft", "--steps", "3", "--log_every", "1", "--eval_every", "3", "--n_layer", "2", "--n_embd", "64",
        "--batch_size", "32", "--no-progress"]


def launch(out, nproc, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    prefix = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
              "--master_port", str(29500 + nproc + (os.getpid() % 200))] if nproc > 1 else [sys.executable]
    return subprocess.run(prefix + ["-m", "minirl", *ARGS, "--out", str(out), *extra], capture_output=True,
                          text=True, env=env, timeout=240)


def test_two_processes_equal_one(tmp_path):
    one, two = launch(tmp_path / "one", 1), launch(tmp_path / "two", 2)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    rows = lambda p: [json.loads(x) for x in (p / "metrics.jsonl").read_text().splitlines()]
    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], abs=1e-4)            # step 1: same loss before any update
        assert x["grad_norm"] == pytest.approx(y["grad_norm"], rel=1e-4)  # ... and the same gradient
    wa = torch.load(tmp_path / "one" / "model.pt", weights_only=False)["state_dict"]
    wb = torch.load(tmp_path / "two" / "model.pt", weights_only=False)["state_dict"]
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-5), k                # same weights after 3 updates
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["world_size"] == 2
    assert two.stdout.count("held-out accuracy") == 1                    # rank 0 reports, once


def test_world_size_must_divide_the_batch(tmp_path):
    r = launch(tmp_path / "odd", 2, "--batch_size", "33")
    assert r.returncode != 0
    assert "world size 2 does not divide the batch of 33" in r.stderr
