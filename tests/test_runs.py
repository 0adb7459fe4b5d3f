"""Run plumbing that the GPU path relies on, checked on a CPU: the MFU formula, the learning-rate
schedule, the non-blocking gradient norm, vectorised batch building, `--compile`, and the CUDA-only
branches of device, dtype and peak-FLOP selection."""
import math
import random

import pytest
import torch

from minirl.model import GPT, GPTConfig, frozen_copy, generate
from minirl.batches import encode_pairs, encode_prompts
from minirl.config import RunConfig
from minirl.device import configure_model, peak_flops, train_flops_per_token
from minirl.optim import clip_grad_norm, set_lr


def tiny(**kw):
    return GPT(GPTConfig(vocab_size=16, block_size=32, n_layer=2, n_head=4, n_embd=64, **kw))


def test_train_flops_per_token_by_hand():
    m = tiny()
    n = sum(p.numel() for p in m.parameters()) - 32 * 64                 # without the position table
    assert train_flops_per_token(m, 10) == 6 * n + 12 * 2 * 64 * 10


@pytest.mark.parametrize("L, C, T", [(2, 64, 16), (3, 96, 9)])
def test_train_flops_match_a_flop_counter(L, C, T):
    """6N + 12LCT is exact for the matmuls: FlopCounterMode counts every matrix multiplication of a
    forward + backward pass (the readable attention path, so attention's matmuls are counted too);
    the formula differs only by 6 FLOPs for each parameter that multiplies nothing (biases, LayerNorms)."""
    from torch.utils.flop_counter import FlopCounterMode
    m = GPT(GPTConfig(vocab_size=16, block_size=32, n_layer=L, n_head=4, n_embd=C, flash=False))
    B = 3
    with FlopCounterMode(display=False) as counter:
        m(torch.randint(0, 16, (B, T))).sum().backward()
    no_matmul = sum(p.numel() for name, p in m.named_parameters() if p.dim() == 1)   # biases, LN weights
    assert counter.get_total_flops() / (B * T) + 6 * no_matmul == train_flops_per_token(m, T)


def test_peak_flops(monkeypatch):
    monkeypatch.delenv("MINIRL_PEAK_FLOPS", raising=False)
    assert peak_flops(torch.device("cpu")) is None                        # no MFU on a CPU
    monkeypatch.setenv("MINIRL_PEAK_FLOPS", "1e12")
    assert peak_flops(torch.device("cpu")) == 1e12


class _Opt:
    def __init__(self):
        self.param_groups = [{"lr": None}, {"lr": None}]


def test_set_lr_warmup_then_cosine():
    cfg = RunConfig(lr=1e-3, steps=101, warmup=10)
    opt = _Opt()
    lrs = [set_lr(opt, cfg, s) for s in range(101)]
    assert all(g["lr"] == lrs[-1] for g in opt.param_groups)              # every group is set
    cosine = lambda s: 1e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi * s / 100)))
    assert lrs[0] == pytest.approx(cosine(0) / 10) and lrs[4] == pytest.approx(cosine(4) * 5 / 10)
    assert lrs[9] == pytest.approx(cosine(9)) and lrs[50] == pytest.approx(cosine(50))
    assert lrs[100] == pytest.approx(1e-4)                                # ends at 10% of --lr
    no_warmup = RunConfig(lr=1e-3, steps=101, lr_schedule="constant")
    assert [set_lr(opt, no_warmup, s) for s in (0, 50, 100)] == [1e-3] * 3


def test_set_lr_peak_is_the_same_schedule_scaled_to_another_model():
    """A2C's and PPO's value model: set_lr(..., peak=p) follows the policy's warmup and cosine,
    scaled so that it starts from p instead of --lr."""
    cfg, opt, value_opt = RunConfig(lr=1e-3, steps=101, warmup=10), _Opt(), _Opt()
    for s in (0, 5, 9, 50, 100):
        lr = set_lr(opt, cfg, s)
        assert set_lr(value_opt, cfg, s, peak=3e-3) == pytest.approx(3 * lr)
        assert value_opt.param_groups[0]["lr"] == pytest.approx(3 * lr)
    assert set_lr(value_opt, cfg, 100, peak=3e-3) == pytest.approx(3e-4)     # 10% of its own peak


def test_set_lr_decay_steps_reaches_the_floor_early_and_stays():
    """--decay_steps 51 of 101: the cosine of a 51-step run, then 10% of --lr to the end."""
    cfg, opt = RunConfig(lr=1e-3, steps=101, decay_steps=51), _Opt()
    cosine = lambda s: 1e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi * s / 50)))
    assert [set_lr(opt, cfg, s) for s in (0, 10, 25)] == pytest.approx([cosine(0), cosine(10), cosine(25)])
    assert [set_lr(opt, cfg, s) for s in (50, 51, 75, 100)] == pytest.approx([1e-4] * 4)
    same = RunConfig(lr=1e-3, steps=101, decay_steps=101)                  # = 0: the floor at the last step
    assert [set_lr(opt, same, s) for s in range(101)] == [set_lr(opt, RunConfig(lr=1e-3, steps=101), s)
                                                          for s in range(101)]
    longer = RunConfig(lr=1e-3, steps=101, decay_steps=500)                # beyond --steps: the same
    assert [set_lr(opt, longer, s) for s in range(101)] == [set_lr(opt, same, s) for s in range(101)]


def test_negative_warmup_is_rejected():
    from minirl.config import ConfigError
    with pytest.raises(ConfigError, match="--warmup must be >= 0"):
        RunConfig(warmup=-1).validate()


def test_clip_grad_norm_returns_the_pre_clip_norm_as_a_tensor():
    m = tiny()
    m(torch.randint(0, 16, (2, 8))).pow(2).sum().backward()
    expected = torch.sqrt(sum(p.grad.pow(2).sum() for p in m.parameters()))
    before = [p.detach().clone() for p in m.parameters()]
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    norm = clip_grad_norm(m, 1.0)
    opt.step()
    assert isinstance(norm, torch.Tensor) and norm.dim() == 0 and not norm.requires_grad   # no sync needed
    assert float(norm) == pytest.approx(float(expected), rel=1e-5) and float(norm) > 1.0
    step = torch.sqrt(sum((a - p.detach()).pow(2).sum() for a, p in zip(before, m.parameters())))
    assert float(step) == pytest.approx(0.1, rel=1e-4)                    # the clipped norm (1.0) times lr


def test_clip_grad_norm_zero_means_no_clipping():
    m = tiny()
    m(torch.randint(0, 16, (2, 8))).pow(2).sum().backward()
    grads = [p.grad.clone() for p in m.parameters()]
    norm = clip_grad_norm(m, 0.0)
    assert float(norm) > 1.0
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, m.parameters()))


def test_pad_rows_free_encoders_by_hand(tok):
    ids, lens = encode_prompts(tok, ["1+2=", "10+20="])
    assert lens.tolist() == [5, 7] and ids[0, 5:].tolist() == [tok.pad_id] * 2
    tokens, mask = encode_pairs(tok, ["1+2=", "10+20="], ["3", "03"])
    assert tokens.shape == (2, 10) and mask.shape == (2, 9)
    assert tokens[0].tolist() == [tok.bos_id, *tok.encode("1+2=3"), tok.eos_id] + [tok.pad_id] * 3
    assert mask[0].tolist() == [0] * 4 + [1, 1] + [0] * 3 and mask[1].tolist() == [0] * 6 + [1, 1, 1]


def test_vectorised_encoders_equal_a_row_by_row_reference(tok):
    """encode_pairs/encode_prompts build whole batches with tensor indexing; check them against the
    obvious loop over rows, on random batches that include empty prompts and empty responses."""
    def reference(prompts, responses):
        rows = [[tok.bos_id] + tok.encode(p) + tok.encode(r) + [tok.eos_id] for p, r in zip(prompts, responses)]
        masks = [[0] * len(p) + [1] * (len(r) + 1) for p, r in zip(prompts, responses)]
        T = max(map(len, rows))
        return (torch.tensor([r + [tok.pad_id] * (T - len(r)) for r in rows]),
                torch.tensor([m + [0] * (T - 1 - len(m)) for m in masks], dtype=torch.float))
    rng = random.Random(0)
    chars = "0123456789+-*= "
    for _ in range(200):
        B = rng.randint(1, 6)
        prompts = ["".join(rng.choices(chars, k=rng.randint(0, 7))) for _ in range(B)]
        responses = ["".join(rng.choices(chars, k=rng.randint(0, 4))) for _ in range(B)]
        tokens, mask = encode_pairs(tok, prompts, responses)
        ref_tokens, ref_mask = reference(prompts, responses)
        assert torch.equal(tokens, ref_tokens) and torch.equal(mask, ref_mask), (prompts, responses)
        ids, lens = encode_prompts(tok, prompts)
        rows = [[tok.bos_id] + tok.encode(p) for p in prompts]
        width = max(map(len, rows))
        assert torch.equal(ids, torch.tensor([r + [tok.pad_id] * (width - len(r)) for r in rows]))
        assert lens.tolist() == [len(r) for r in rows]


def test_encode_batch_names_every_unknown_character(tok):
    with pytest.raises(ValueError, match=r"characters \['a', 'x'\] are not in the tokenizer's alphabet"):
        tok.encode_batch(["1+2=", "x+a="])
    ids, lens = tok.encode_batch(["", ""])
    assert ids.shape == (2, 0) and lens.tolist() == [0, 0]
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        encode_pairs(tok, ["1=", "2="], ["1"])


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.long)])
def test_compile_matches_eager(backend, monkeypatch):
    """`--compile` (torch.compile of the forward) gives the eager model's logits, gradients and
    KV-cached samples. "inductor" is what --compile uses: on a CPU it builds C++ kernels (about a
    minute, so it is a long check); "aot_eager" traces the same graphs (forward and backward) through
    dynamo and AOTAutograd without generating code, in seconds."""
    from torch._dynamo.utils import counters
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: real_compile(fn, backend=backend, **kw))
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    eager = tiny()
    compiled = configure_model(tiny(), RunConfig(compile=True), torch.device("cpu"))
    compiled.load_state_dict(eager.state_dict())
    x = torch.randint(3, 16, (4, 12))
    a, b = eager(x), compiled(x)
    assert torch.allclose(a, b, atol=1e-5)
    assert counters["stats"]["unique_graphs"] >= 1                        # it really went through dynamo
    a.pow(2).mean().backward()
    b.pow(2).mean().backward()
    for p, q in zip(eager.parameters(), compiled.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5)
    prompts, lens = x[:, :5], torch.full((4,), 5)
    greedy = lambda m: generate(m, prompts, lens, 6, eos_id=2, pad_id=0, greedy=True)
    assert torch.equal(greedy(eager), greedy(compiled))
    # the frozen reference of PPO/DPO/GRPO, copied from a compiled policy, must stay the start
    rng_before = torch.get_rng_state()
    ref = frozen_copy(compiled)
    assert torch.equal(torch.get_rng_state(), rng_before)                 # no random init ran
    with torch.no_grad():
        for p in compiled.parameters():                                    # the policy moves on
            p.add_(0.1 * torch.randn_like(p))
        assert torch.allclose(ref(x), a, atol=1e-5) and not torch.allclose(compiled(x), a, atol=1e-2)
    assert not any(p.requires_grad for p in ref.parameters()) and not ref.training


# --- CUDA-only branches, reached on a CPU by standing in for torch.cuda -------------------------
@pytest.mark.parametrize("name, peak", [("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12),
                                        ("NVIDIA A100-SXM4-40GB", 312e12), ("NVIDIA A10G", 70e12),
                                        ("NVIDIA L4", 121e12), ("NVIDIA L40S", 362e12), ("Some New GPU", None)])
def test_peak_flops_by_gpu_name(monkeypatch, name, peak):
    monkeypatch.delenv("MINIRL_PEAK_FLOPS", raising=False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))  # bf16: >= 8.0
    assert peak_flops(torch.device("cuda")) == peak


def test_bf16_choice_and_error_on_a_gpu_without_bf16(monkeypatch):
    from minirl.config import ConfigError
    from minirl.device import amp_dtype
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert amp_dtype("auto", cuda) is torch.bfloat16 and amp_dtype("float32", cuda) is None
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulated bf16 counts too
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))  # a real V100
    assert amp_dtype("auto", cuda) is None                                 # auto quietly stays float32
    with pytest.raises(ConfigError, match=r"Tesla V100 \(compute capability 7.0\) has no native bf16"):
        amp_dtype("bfloat16", cuda)
    assert amp_dtype("auto", torch.device("cpu")) is None and amp_dtype("bfloat16", torch.device("cpu")) is torch.bfloat16


def test_pick_device_gives_each_torchrun_process_its_own_gpu(monkeypatch):
    from minirl.device import pick_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        monkeypatch.setenv("LOCAL_RANK", "3")
        assert pick_device("auto") == torch.device("cuda:3") and pick_device("cuda:1") == torch.device("cuda:1")
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32    # TF32 on
        monkeypatch.delenv("LOCAL_RANK")
        assert pick_device("cuda") == torch.device("cuda")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_checkpoints_carry_the_gpu_random_state(monkeypatch, tmp_path, tok, task):
    """On a GPU, sampling draws from the CUDA generator, so --resume must restore it too."""
    from minirl.runs import Run
    state = torch.arange(8, dtype=torch.uint8)
    restored = {}
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=None: state.clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device=None: restored.update(state=s, device=device))
    cfg = RunConfig(out=str(tmp_path / "run"), steps=3)
    run = Run("sft", cfg, tok, task)
    run.device = torch.device("cuda:1")
    run.keep(tiny())
    run.save(step=2)
    resumed = Run("sft", RunConfig(out=str(tmp_path / "run"), steps=3, resume=True), tok, task)
    resumed.device = torch.device("cuda:1")
    resumed.keep(tiny())
    assert torch.equal(restored["state"], state) and restored["device"] == torch.device("cuda:1")


def test_sample_can_skip_the_scoring_forward(tok, task):
    """logprobs=False: the same samples and rewards, no log-probs (None, one forward fewer)."""
    from minirl.rollout import sample
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=32))
    prompts = [task.prompt(a, b) for a, b in task.heldout()[:6]]
    torch.manual_seed(3)
    full = sample(model, tok, task, prompts, samples_per_prompt=2)
    torch.manual_seed(3)
    lean = sample(model, tok, task, prompts, samples_per_prompt=2, logprobs=False)
    assert torch.equal(full.tokens, lean.tokens) and torch.equal(full.rewards, lean.rewards)
    assert full.logprobs.abs().sum() > 0 and lean.logprobs is None


def test_tensorboard_logs_every_metric_and_a_missing_package_is_a_clear_error(weak_init, tmp_path, monkeypatch):
    """--tensorboard: each logged number goes to a SummaryWriter (faked here: no package needed);
    without the package the run stops with a one-line error before writing anything."""
    import minirl.runs
    from minirl.config import ConfigError
    from minirl.grpo import GRPOConfig, train_grpo
    logged, closed = [], []

    class FakeWriter:
        def __init__(self, folder):
            self.folder = folder

        def add_scalar(self, tag, value, step):
            logged.append((tag, value, step))

        def close(self):
            closed.append(self.folder)

    monkeypatch.setattr(minirl.runs, "tensorboard_writer", lambda: FakeWriter)
    kw = dict(init=weak_init, steps=2, batch_size=2, log_every=1, eval_every=2, progress=False, tensorboard=True)
    train_grpo(GRPOConfig(out=str(tmp_path / "tb"), **kw))
    assert closed == [str(tmp_path / "tb" / "tensorboard")]
    assert {("grpo/reward_mean", 1), ("grpo/reward_mean", 2), ("grpo/eval_accuracy", 2)} <= {(t, s) for t, _, s in logged}

    def missing():
        raise ConfigError("--tensorboard needs the tensorboard package: pip install tensorboard")
    monkeypatch.setattr(minirl.runs, "tensorboard_writer", missing)
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        train_grpo(GRPOConfig(out=str(tmp_path / "none"), **kw))
    assert not (tmp_path / "none").exists()


def test_tensorboard_writer_names_the_install_when_the_package_is_missing():
    import importlib.util
    from minirl.config import ConfigError
    from minirl.runs import tensorboard_writer
    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        tensorboard_writer()


def test_keep_saves_and_restores_everything_it_names(tmp_path, tok, task):
    """Run.keep names what a checkpoint holds: a resumed run gets the model, the optimizer, the RNG,
    every other named module and optimizer, the plain `state` values and the torch RNG back."""
    import random

    from minirl.runs import Run
    model, critic = tiny(), tiny()
    opt, critic_opt = torch.optim.AdamW(model.parameters()), torch.optim.AdamW(critic.parameters())
    for m, o in ((model, opt), (critic, critic_opt)):          # one step each, so the states are not fresh
        m(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
        o.step()
    rng = random.Random(5)
    run = Run("a2c", RunConfig(out=str(tmp_path / "run"), steps=3), tok, task)
    run.keep(model, opt, rng, critic=critic, critic_optimizer=critic_opt)
    torch.manual_seed(7)
    run.save(2, state={"baseline": 0.25})
    expect_draw, expect_torch = rng.random(), torch.rand(3)

    resumed = Run("a2c", RunConfig(out=str(tmp_path / "run"), steps=3, resume=True), tok, task)
    model2, critic2 = tiny(), tiny()
    opt2, critic_opt2 = torch.optim.AdamW(model2.parameters()), torch.optim.AdamW(critic2.parameters())
    rng2 = random.Random(0)
    resumed.keep(model2, opt2, rng2, critic=critic2, critic_optimizer=critic_opt2)
    assert resumed.start_step == 2 and resumed.resumed("baseline", 0.0) == 0.25
    assert resumed.resumed("missing", "default") == "default"
    for a, b in ((model, model2), (critic, critic2)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert critic_opt2.state_dict()["state"][0]["step"] == critic_opt.state_dict()["state"][0]["step"]
    assert opt2.state_dict()["state"] and rng2.random() == expect_draw
    assert torch.equal(torch.rand(3), expect_torch)


def test_run_add_logs_the_row_with_the_learning_rate_and_lap_times(tmp_path, tok, task):
    """`add` collects fields for the next `step`; a logged row also holds the optimizer's learning
    rate; a step with nothing added and no evaluation logs nothing; `lap` times feed finish's
    median_step_seconds and completions_per_s."""
    from minirl.reinforce import ReinforceConfig
    from minirl.runs import Run
    model = tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=0.5)
    cfg = ReinforceConfig(out=str(tmp_path / "run"), steps=3, eval_every=3, progress=False,
                          plot=False)
    run = Run("reinforce", cfg, tok, task)
    run.keep(model, opt, evaluate=lambda: {"eval_accuracy": 0.25})
    steps = run.steps()
    next(steps)
    run.add(loss=1.5)
    assert run.step(1) == {"step": 1, "seconds": pytest.approx(run.seconds, abs=1.0), "loss": 1.5,
                           "lr": 0.5}
    next(steps)
    assert run.step(2) == {}                                         # nothing added, no evaluation
    next(steps)
    assert run.lap() >= 0 and len(run.laps) == 1
    last = run.step(3, rewards=torch.tensor([1.0, 0.0]))
    assert last["eval_accuracy"] == 0.25 and last["rollouts"] == 6 and "lr" not in last
    res = run.finish(model, {"x": 1}, final_eval=False, completions_per_step=10)
    assert res.summary["x"] == 1 and "eval_accuracy" not in res.summary
    assert res.summary["median_step_seconds"] == pytest.approx(run.laps[0], abs=1e-4)
    assert res.summary["completions_per_s"] == pytest.approx(10 / run.laps[0], rel=1e-2)


def test_run_finish_evaluates_the_policy_greedily_with_samples(tmp_path, tok, task):
    from minirl.evaluation import evaluate
    from minirl.runs import Run
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=32))
    run = Run("sft", RunConfig(out=str(tmp_path / "run"), steps=1, plot=False), tok, task)
    run.keep(model)
    res = run.finish(model, {"x": 1})
    acc, samples = evaluate(model, tok, task, n_samples=8)
    assert res.summary["eval_accuracy"] == acc and len(res.summary["samples"]) == 8
    assert list(res.summary).index("eval_accuracy") < list(res.summary).index("x")


def test_token_meter_counts_tokens_and_leaves_evaluation_out(tok):
    """tokens/s over the inputs counted since the last call, evaluation seconds left out; the
    summary is the median over log rows."""
    import time

    from minirl.meters import TokenMeter

    class FakeRun:
        device = torch.device("cpu")
        eval_seconds = 0.0
    run, model = FakeRun(), tiny()
    meter = TokenMeter(model, run, tok.pad_id, world=2)
    meter.add(torch.zeros(4, 10, dtype=torch.long))
    meter.t_last = time.perf_counter() - 3.0                          # 3 s ago, 1 s of it evaluating
    run.eval_seconds = 1.0
    rates = meter.rates()
    assert rates["tokens_per_s"] == pytest.approx(4 * 10 * 2 / 2.0, rel=0.05)
    assert "mfu" not in rates and meter.tokens == 0                   # no MFU on a CPU; reset
    assert TokenMeter.summary([{"tokens_per_s": 3.0}, {"tokens_per_s": 1.0}, {"x": 1},
                               {"tokens_per_s": 2.0}]) == {"tokens_per_s": 2}
