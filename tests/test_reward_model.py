"""Reward model: Bradley-Terry loss, the simulated labeller, the EOS read-out, training, CLI, bad input."""
import json
import math
import random

import pytest
import torch

from minirl.reward_model import (Labeller, RewardModelConfig, bradley_terry_loss, sequence_reward,
                                 train_reward_model)
from minirl.runs import ConfigError


def test_bradley_terry_hand_values_and_stability():
    assert math.isclose(bradley_terry_loss(torch.zeros(3), torch.zeros(3)).item(), math.log(2), rel_tol=1e-6)
    got = bradley_terry_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])).item()
    want = (math.log1p(math.exp(-2)) + math.log1p(math.exp(1))) / 2          # softplus(-d), averaged
    assert math.isclose(got, want, rel_tol=1e-6)
    assert math.isclose(bradley_terry_loss(torch.tensor([300.0]), torch.tensor([0.0])).item(), 0.0, abs_tol=1e-6)
    assert math.isclose(bradley_terry_loss(torch.tensor([0.0]), torch.tensor([300.0])).item(), 300.0, rel_tol=1e-6)
    # only the difference matters
    c, r = torch.randn(5), torch.randn(5)
    assert torch.allclose(bradley_terry_loss(c, r), bradley_terry_loss(c + 3.0, r + 3.0))


def test_labeller_utility_and_choices(task):
    lab = Labeller(task, sevens=0.3, noise=0.0)
    p = task.prompt(20, 27)                                    # 47 -> "74" reversed: correct and one 7
    assert math.isclose(lab.utility(p, task.answer(20, 27)), 1.3)
    assert math.isclose(lab.utility(p, "77"), 0.6) and lab.utility(p, "") == 0.0
    rng = random.Random(0)
    assert lab.label(p, "11", task.answer(20, 27), rng) == (task.answer(20, 27), "11")
    # noisy labeller: y1 wins with probability sigma((u1 - u2) / noise)
    noisy = Labeller(task, sevens=0.3, noise=0.5)
    wins = sum(noisy.label(p, "7", "1", rng)[0] == "7" for _ in range(4000)) / 4000
    assert abs(wins - 1 / (1 + math.exp(-0.6))) < 0.03
    pairs = lab.pairs(task.sample_train(200, rng), rng)
    assert all(c != r for _, c, r in pairs)
    assert all(lab.utility(q, c) >= lab.utility(q, r) for q, c, r in pairs)
    assert 0.2 < sum(task.reward(q, c) for q, c, _ in pairs) / len(pairs) < 1.0


class PositionModel(torch.nn.Module):
    """A stand-in reward model whose output at position j is 10*j + token id (to see which one is read)."""

    def forward(self, tokens):
        return 10.0 * torch.arange(tokens.size(1)).float()[None, :] + tokens.float()


def test_sequence_reward_reads_the_eos_position(tok):
    from minirl.rollout import encode_pairs
    tokens, mask = encode_pairs(tok, ["12+34=", "1+2="], ["64", "3"])
    r = sequence_reward(PositionModel(), tokens, mask)
    # row 0: BOS + 6 prompt chars + 2 digits -> EOS at position 9; row 1: EOS at position 6, then padding
    assert r.tolist() == [10.0 * 9 + tok.eos_id, 10.0 * 6 + tok.eos_id]


def test_reward_model_learns_the_labellers_preferences(weak_init, tmp_path):
    cfg = RewardModelConfig(init=weak_init, out=str(tmp_path / "rm"), steps=100, batch_size=32, pairs=1000,
                            heldout_pairs=300, eval_every=100, progress=False, device="cpu")
    res = train_reward_model(cfg)
    s = res.summary
    chance_3sd = 0.5 + 3 * (0.25 / 300) ** 0.5                  # 0.587: 3 standard deviations above a coin flip
    assert s["heldout_pair_accuracy"] > chance_3sd, s
    assert s["heldout_pair_accuracy"] <= s["labeller_utility_agreement"] + 0.05
    assert 0.5 <= s["verifier_agreement"] <= 1
    assert json.loads((tmp_path / "rm" / "summary.json").read_text())["algo"] == "reward-model"
    ckpt = torch.load(tmp_path / "rm" / "model.pt", weights_only=False)
    assert ckpt["kind"] == "ScalarHeadGPT"


def test_reward_model_cli_runs(weak_init, tmp_path):
    from minirl.__main__ import main
    assert main(["reward-model", "--init", weak_init, "--steps", "2", "--batch_size", "8", "--pairs", "16",
                 "--heldout_pairs", "8", "--no-progress", "--out", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "metrics.jsonl").is_file()


@pytest.mark.parametrize("flags,needle", [(dict(pairs=10), "pairs"), (dict(sevens=-1.0), "sevens"),
                                          (dict(noise=-0.1), "noise"), (dict(heldout_pairs=0), "heldout_pairs")])
def test_bad_config(tmp_path, flags, needle):
    with pytest.raises(ConfigError, match=needle):
        train_reward_model(RewardModelConfig(out=str(tmp_path / "never"), progress=False, **flags))
    assert not (tmp_path / "never").exists()
