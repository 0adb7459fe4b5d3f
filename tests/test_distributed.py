"""Scale-out: `torchrun --nproc_per_node 2 -m minirl sft` (gloo on CPU) equals the 1-process run on
the same global batch, step for step, with each process training on its own half of it."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ARGS = ["sft", "--steps", "3", "--log_every", "1", "--eval_every", "3", "--n_layer", "2", "--n_embd", "64",
        "--batch_size", "32", "--no-progress"]


def free_port() -> int:
    """A loopback TCP port nobody listens on now (two test runs may share the machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(out, nproc, *extra, count_rows=False):
    """`python -m minirl ARGS` in nproc processes. count_rows: run this file instead (its __main__ block
    below), which does the same and also writes the rows each process trained on per step to
    OUT/rows_rank<RANK>.json."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    prefix = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
              "--master_port", str(free_port())] if nproc > 1 else [sys.executable]
    entry = [__file__] if count_rows else ["-m", "minirl"]
    return subprocess.run(prefix + [*entry, *ARGS, "--out", str(out), *extra], capture_output=True,
                          text=True, env=env, timeout=240)


def test_shard_gives_each_rank_its_own_contiguous_slice():
    from minirl.config import ConfigError
    from minirl.device import shard
    batch = list(range(12))
    for world in (1, 2, 3, 4, 6, 12):
        parts = [shard(batch, rank, world) for rank in range(world)]
        assert all(len(p) == 12 // world for p in parts), world
        assert [x for p in parts for x in p] == batch, world   # in rank order: disjoint, contiguous, all of it
    assert shard(["a", "b", "c", "d"], 1, 2) == ["c", "d"]
    with pytest.raises(ConfigError, match="does not divide"):
        shard(batch, 0, 5)


def test_two_processes_equal_one(tmp_path):
    one, two = launch(tmp_path / "one", 1), launch(tmp_path / "two", 2, count_rows=True)
    assert one.returncode == 0, one.stderr[-2000:]
    assert two.returncode == 0, two.stderr[-2000:]
    for rank in (0, 1):                               # each process trained on its half of the 32 rows
        assert json.loads((tmp_path / "two" / f"rows_rank{rank}.json").read_text()) == [16, 16, 16], rank
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


# --- GRPO: each process samples whole groups; the update equals the one-process update ---------------
def _grpo_worker(rank, world, init_file, data_path, out_path, loss_type, scale="group"):
    import torch.distributed as dist
    from minirl.grpo import GRPOConfig, group_advantages
    from tests.grpo_steps import grpo_updates
    from minirl.model import GPT, GPTConfig
    from minirl.rollout import Rollout
    from minirl.device import all_reduce_sum
    from minirl.optim import make_optimizer
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    d = torch.load(data_path, weights_only=False)
    model = GPT(GPTConfig(**d["config"]))
    model.load_state_dict(d["state"])
    cfg = GRPOConfig(group_size=d["G"], loss_type=loss_type, inner_steps=2, lr=1e-3, lr_schedule="constant")
    policy = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    B = d["tokens"].size(0)
    rows = slice(rank * B // world, (rank + 1) * B // world)              # whole groups per process
    roll = Rollout(d["tokens"][rows], d["mask"][rows], d["logprobs"][rows], d["rewards"][rows], [], [],
                   d["lens"][rows])
    adv = group_advantages(roll.rewards, d["G"], scale, "mean", world)   # per group (scale batch: global std)
    loss, _, gnorm = grpo_updates(policy, make_optimizer(model, cfg), roll, adv, None, cfg, 5, world)
    loss = all_reduce_sum(loss, world).item() / world                      # the mean over processes
    if rank == 0:
        torch.save({"state": model.state_dict(), "loss": loss, "gnorm": float(gnorm), "adv": adv}, out_path)
    if world > 1:
        dist.barrier()                    # both ranks done before the group is torn down
        dist.destroy_process_group()
        os._exit(0)                       # skip interpreter teardown, where gloo's threads can abort


@pytest.mark.parametrize("loss_type,scale", [("grpo", "group"), ("dapo", "group"), ("gspo", "batch")])
def test_grpo_update_two_processes_equal_one(tmp_path, loss_type, scale, tok, task):
    import torch.multiprocessing as mp
    from minirl.model import GPT, GPTConfig
    from minirl.rollout import sample
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=1, n_embd=32, n_head=2))
    G = 4
    prompts = [task.prompt(a, b) for a, b in task.heldout()[:4]]
    roll = sample(model, tok, task, prompts, samples_per_prompt=G)
    roll.rewards[::3] = 1.0                                                 # give the groups some signal
    torch.save({"config": model.config.to_dict(), "state": model.state_dict(), "tokens": roll.tokens,
                "mask": roll.mask, "logprobs": roll.logprobs, "rewards": roll.rewards, "lens": roll.prompt_lens,
                "G": G}, tmp_path / "data.pt")
    _grpo_worker(0, 1, None, tmp_path / "data.pt", tmp_path / "one.pt", loss_type, scale)
    mp.spawn(_grpo_worker, args=(2, tmp_path / "init", tmp_path / "data.pt", tmp_path / "two.pt", loss_type, scale),
             nprocs=2)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one["loss"] == pytest.approx(two["loss"], abs=1e-6)
    assert one["gnorm"] == pytest.approx(two["gnorm"], rel=1e-5)
    assert torch.allclose(one["adv"][:8], two["adv"])                      # rank 0's groups: same advantages
    for k in one["state"]:
        assert torch.allclose(one["state"][k], two["state"][k], atol=1e-5), (k, (one["state"][k] - two["state"][k]).abs().max())


def test_grpo_under_torchrun_end_to_end(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        str(free_port()), "-m", "minirl", "grpo", "--steps", "2", "--batch_size", "4",
                        "--group_size", "2", "--n_layer", "1", "--n_embd", "32", "--eval_every", "2",
                        "--log_every", "1", "--no-progress", "--out", str(tmp_path / "g")],
                       capture_output=True, text=True, env=env, timeout=240)
    assert r.returncode == 0, r.stderr[:3000] + "\n...\n" + r.stderr[-1500:]
    rows = [json.loads(x) for x in (tmp_path / "g" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in rows] == [1, 2] and rows[0]["completions_per_s"] > 0
    assert json.loads((tmp_path / "g" / "summary.json").read_text())["world_size"] == 2


# --- GRPO under torchrun, interrupted and resumed: each process gets its own stream back -------
def _grpo_resume_worker(rank, world, port, out, weak):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    import minirl.runs
    from minirl.grpo import GRPOConfig, train_grpo
    kw = dict(init=weak, steps=4, batch_size=4, group_size=2, eval_every=4, log_every=1,
              progress=False, plot=False, device="cpu")
    train_grpo(GRPOConfig(out=f"{out}/whole", **kw))
    original = minirl.runs.Run.step

    def step_then_stop(self, step, *args, **kwargs):
        original(self, step, *args, **kwargs)
        if step == 3:                     # after the checkpoint of step 2, before the end
            raise KeyboardInterrupt
    minirl.runs.Run.step = step_then_stop
    try:
        train_grpo(GRPOConfig(out=f"{out}/cut", save_every=2, **kw))
    except KeyboardInterrupt:
        pass
    minirl.runs.Run.step = original
    dist.barrier()                        # rank 0's checkpoint is on disk before anyone resumes
    train_grpo(GRPOConfig(out=f"{out}/cut", save_every=2, resume=True, **kw))
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)


def test_grpo_under_torchrun_resumes_exactly(tmp_path, weak_init):
    """The per-process seed is set before --resume restores the checkpoint, and the checkpoint
    holds every process's RNG state (device.rank_rng_states): the resumed run is the whole one."""
    import torch.multiprocessing as mp
    mp.spawn(_grpo_resume_worker, args=(2, free_port(), str(tmp_path), weak_init), nprocs=2)
    steady = lambda row: {k: v for k, v in row.items() if "seconds" not in k and "_per_s" not in k}
    rows = lambda p: [steady(json.loads(x)) for x in (p / "metrics.jsonl").read_text().splitlines()]
    assert rows(tmp_path / "cut") == rows(tmp_path / "whole") and len(rows(tmp_path / "whole")) == 4
    wa = torch.load(tmp_path / "whole" / "model.pt", weights_only=False)["state_dict"]
    wb = torch.load(tmp_path / "cut" / "model.pt", weights_only=False)["state_dict"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


if __name__ == "__main__":
    # launch(..., count_rows=True) runs this: `python -m minirl ARGS`, counting the rows of every
    # training batch this process encodes (SFT's encode_pairs), written to OUT/rows_rank<RANK>.json
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))        # this checkout's minirl
    import minirl.sft
    from minirl.__main__ import main
    rows, encode = [], minirl.sft.encode_pairs

    def counting_encode_pairs(tokenizer, prompts, responses, device="cpu"):
        rows.append(len(prompts))
        return encode(tokenizer, prompts, responses, device)

    minirl.sft.encode_pairs = counting_encode_pairs
    rc = main(sys.argv[1:])
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rows_rank{os.environ.get('RANK', '0')}.json").write_text(json.dumps(rows))
    sys.exit(rc)
