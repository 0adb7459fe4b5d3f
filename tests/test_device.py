"""Device decisions are pure functions of a GPU's name and compute capability, checked here for six
GPUs on a machine without any; and the GPU-only behaviours (no recompilation per decode position,
no host sync per token, MFU on real tokens, torchrun refused where there is no DDP) on the CPU."""
import pytest
import torch

from minirl.config import ConfigError
from minirl.device import (amp_dtype, choose_amp_dtype, compile_plan, configure_model, peak_flops,
                           peak_flops_for)

# name as torch.cuda.get_device_name gives it, compute capability
GPUS = {"T4": ("Tesla T4", (7, 5)), "V100": ("Tesla V100-SXM2-16GB", (7, 0)),
        "A100": ("NVIDIA A100-SXM4-80GB", (8, 0)), "L4": ("NVIDIA L4", (8, 9)),
        "L40": ("NVIDIA L40", (8, 9)), "H100": ("NVIDIA H100 80GB HBM3", (9, 0))}
# dense peak FLOP/s from the datasheets: (bf16 autocast, float32 as computed: TF32 from 8.0 on)
PEAKS = {"T4": (None, 8.1e12), "V100": (None, 15.7e12), "A100": (312e12, 156e12),
         "L4": (121e12, 60.5e12), "L40": (181e12, 90.5e12), "H100": (989e12, 494.5e12)}


def pretend_gpu(monkeypatch, gpu: str, emulated_bf16: bool = True):
    """torch.cuda answers as `gpu` would; is_bf16_supported() says True (emulated) by default."""
    name, cc = GPUS[gpu]
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: cc)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda *a, **k: emulated_bf16 or cc >= (8, 0))
    monkeypatch.delenv("MINIRL_PEAK_FLOPS", raising=False)


@pytest.mark.parametrize("gpu", list(GPUS))
def test_auto_dtype_is_bf16_only_with_native_bf16(gpu, monkeypatch):
    name, cc = GPUS[gpu]
    native = cc >= (8, 0)
    assert choose_amp_dtype("auto", "cuda", cc, name) is (torch.bfloat16 if native else None)
    assert choose_amp_dtype("float32", "cuda", cc, name) is None
    pretend_gpu(monkeypatch, gpu)          # is_bf16_supported() says True on a T4 too (emulated)
    assert amp_dtype("auto", torch.device("cuda")) is (torch.bfloat16 if native else None)
    if native:
        assert amp_dtype("bfloat16", torch.device("cuda")) is torch.bfloat16
    else:
        message = f"{name} \\(compute capability {cc[0]}.{cc[1]}\\) has no native"
        with pytest.raises(ConfigError, match=message):
            amp_dtype("bfloat16", torch.device("cuda"))


def test_dtype_on_a_cpu():
    assert choose_amp_dtype("auto", "cpu") is None
    assert choose_amp_dtype("bfloat16", "cpu") is torch.bfloat16


@pytest.mark.parametrize("gpu", list(GPUS))
def test_peak_flops_of_the_format_the_run_computes_in(gpu, monkeypatch):
    name, cc = GPUS[gpu]
    bf16, fp32 = PEAKS[gpu]
    assert peak_flops_for(name, cc, torch.bfloat16) == bf16
    assert peak_flops_for(name, cc, None) == fp32
    pretend_gpu(monkeypatch, gpu)
    amp = amp_dtype("auto", torch.device("cuda"))
    assert peak_flops(torch.device("cuda"), amp) == (bf16 if amp else fp32)


def test_peak_flops_names_and_override(monkeypatch):
    assert peak_flops_for("NVIDIA L40S", (8, 9)) == 362e12
    assert peak_flops_for("NVIDIA H100 PCIe", (9, 0)) == 756e12
    assert peak_flops_for("Some New GPU", (9, 0)) is None
    assert peak_flops_for("Some New GPU", (7, 0), None) is None
    monkeypatch.setenv("MINIRL_PEAK_FLOPS", "1e12")
    assert peak_flops(torch.device("cpu")) == 1e12
    monkeypatch.delenv("MINIRL_PEAK_FLOPS")
    assert peak_flops(torch.device("cpu")) is None


@pytest.mark.parametrize("gpu", list(GPUS))
def test_compile_plan(gpu):
    plan = compile_plan("cuda", GPUS[gpu][1])
    assert plan["full_forward"] and not plan["decode_step"]


def test_compile_is_refused_below_triton_s_minimum():
    with pytest.raises(ConfigError, match="compute capability >= 7.0"):
        compile_plan("cuda", (6, 1))
    assert compile_plan("cpu")["full_forward"]


def test_decode_steps_do_not_recompile_per_position(monkeypatch):
    """torch.compile of a forward that takes the KV cache would guard on its integer position and
    build a graph per decode step; the cached decode step runs eager (compile_plan)."""
    from types import SimpleNamespace

    from torch._dynamo.utils import counters

    from minirl.model import GPT, GPTConfig, generate
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: real_compile(fn, backend="eager", **kw))
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, block_size=16, n_layer=1, n_head=2, n_embd=16))
    configure_model(model, SimpleNamespace(dtype="float32", compile=True), torch.device("cpu"))
    x = torch.randint(3, 16, (2, 6))
    model(x)                                                       # the compiled full forward
    graphs = counters["stats"]["unique_graphs"]
    assert graphs >= 1
    generate(model, x[:, :3], torch.full((2,), 3), 8, eos_id=2, pad_id=0, greedy=True)
    assert counters["stats"]["unique_graphs"] == graphs                  # no graph per position


@pytest.mark.parametrize("greedy", [True, False])
def test_checking_for_the_end_every_k_tokens_gives_the_same_tokens(greedy):
    """On a GPU, generate() looks at `done` every CUDA_CHECK_EVERY tokens, not every token (each
    look makes the CPU wait for the GPU); the tokens must not depend on k. On a CPU, k stays 1."""
    from minirl.model import CUDA_CHECK_EVERY, GPT, GPTConfig, generate
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, block_size=24, n_layer=1, n_head=2, n_embd=16))
    prompts, lens = torch.randint(3, 16, (6, 4)), torch.tensor([4, 3, 4, 2, 4, 4])
    outs = [generate(model, prompts, lens, 12, eos_id=2, pad_id=0, greedy=greedy, check_every=k,
                     generator=torch.Generator().manual_seed(1)) for k in (1, 3, CUDA_CHECK_EVERY)]
    assert all(torch.equal(outs[0], o) for o in outs[1:])
    assert CUDA_CHECK_EVERY > 1


def test_mfu_counts_real_tokens_not_padding(tmp_path, monkeypatch):
    """MFU = FLOPs per token x real tokens/s / peak: tokens_per_s counts every position of the
    padded batch, so mfu * peak / (FLOPs per token x tokens_per_s) is the batch's share of real
    tokens, < 1 (without zero-padded operands, sequences differ in length by up to 4 tokens)."""
    from minirl.device import train_flops_per_token
    from minirl.sft import SFTConfig, train_sft
    monkeypatch.setenv("MINIRL_PEAK_FLOPS", "1e6")   # a peak: the CPU run logs MFU, big enough
    r = train_sft(SFTConfig(steps=2, log_every=1, eval_every=2, n_layer=1, n_head=2, n_embd=16,
                            batch_size=32, pad=False, out=str(tmp_path / "sft"), progress=False))
    flops = train_flops_per_token(r.model, 10)                          # T - 1 = 10 input positions
    for m in r.metrics:
        share = m["mfu"] * 1e6 / (flops * m["tokens_per_s"])
        assert 0.6 < share < 0.995, share                              # old MFU: exactly 1


@pytest.mark.parametrize("command",
                         ["dpo", "ppo", "reinforce", "a2c", "rlhf", "reward-model", "compare"])
def test_torchrun_is_refused_by_a_trainer_without_ddp(command, monkeypatch, capsys, tmp_path):
    from minirl.__main__ import main
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([command, "--dry_run", "--out", str(tmp_path / "x")]) == 2
    assert "runs in one process only" in capsys.readouterr().err and not (tmp_path / "x").exists()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert main([command, "--dry_run", "--out", str(tmp_path / "x")]) == 0
