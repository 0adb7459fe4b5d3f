"""The alignment contract of DESIGN.md: tokens (B,T), logprobs/mask (B,T-1), last-action placement."""
import torch

from minirl.model import GPT, GPTConfig
from minirl.rollout import (encode_pairs, encode_prompts, evaluate, place_on_last_action, response_mask,
                            sample, token_logprobs)


class TableModel(torch.nn.Module):
    """A fake LM whose logits at position t depend only on the token there: table[token]."""

    def __init__(self, V=23):
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Parameter(torch.randn(V, V))

    def forward(self, idx):
        return self.table[idx]


def test_token_logprobs_alignment_by_hand():
    m = TableModel()
    tokens = torch.tensor([[1, 5, 7, 2]])
    lp = token_logprobs(m, tokens)
    assert lp.shape == (1, 3)
    logp = torch.log_softmax(m.table.detach(), -1)
    expected = torch.tensor([[logp[1, 5], logp[5, 7], logp[7, 2]]])   # [:, t] scores tokens[:, t+1]
    assert torch.allclose(lp, expected)


def test_encode_pairs_mask_covers_response_and_eos(tok):
    tokens, mask = encode_pairs(tok, ["07+42=", "1+2="], ["94", "3"])
    assert tokens[0].tolist() == [1] + tok.encode("07+42=94") + [2]
    assert tokens[1].tolist() == [1] + tok.encode("1+2=3") + [2] + [0, 0, 0]
    # mask[:, t] = 1 where tokens[:, t+1] is a response token (EOS included)
    assert mask[0].tolist() == [0] * 6 + [1, 1, 1]
    assert mask[1].tolist() == [0] * 4 + [1, 1] + [0, 0, 0]
    targets = tokens[:, 1:][mask.bool()]
    assert targets.tolist() == tok.encode("94") + [2] + tok.encode("3") + [2]


def test_response_mask_stops_after_first_eos():
    tokens = torch.tensor([[1, 4, 5, 6, 2, 0, 0],
                           [1, 4, 6, 6, 6, 6, 6],     # no EOS: to the end
                           [1, 4, 2, 6, 2, 0, 0]])    # EOS right away
    lens = torch.tensor([2, 2, 2])
    m = response_mask(tokens, lens, eos_id=2)
    assert m.tolist() == [[0, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1], [0, 1, 0, 0, 0, 0]]


def test_place_on_last_action():
    mask = torch.tensor([[0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 0.]])
    out = place_on_last_action(torch.tensor([5.0, 7.0, 9.0]), mask)
    assert out.tolist() == [[0, 0, 5, 0], [0, 0, 0, 7], [0, 0, 0, 0]]


def test_sample_rollout_consistency(tok, task):
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_embd=32, n_head=2))
    prompts = ["07+42=", "11+22=", "99+99="]
    r = sample(m, tok, task, prompts, samples_per_prompt=4)
    B = 12
    assert r.tokens.shape[0] == B and r.mask.shape == (B, r.tokens.shape[1] - 1)
    assert r.prompts == [p for p in prompts for _ in range(4)]       # groups are consecutive
    # stored log-probs equal a fresh computation on the actions, and are 0 off the mask
    fresh = token_logprobs(m, r.tokens) * r.mask
    assert torch.allclose(r.logprobs, fresh, atol=1e-5)
    assert (r.logprobs[r.mask == 0] == 0).all()
    # texts decode exactly the masked actions; rewards are the verifier's
    for i in range(B):
        acts = r.tokens[i, 1:][r.mask[i].bool()].tolist()
        assert tok.decode(acts, strict=True) == r.texts[i]
        assert r.rewards[i] == task.reward(r.prompts[i], r.texts[i])
    assert torch.equal(r.token_rewards().sum(1), r.rewards)


def test_evaluate_scores_a_perfect_oracle(tok, task):
    class Oracle(torch.nn.Module):
        """Greedy-decodes the right answer by reading the prompt (a sanity check of evaluate)."""
        config = GPTConfig(vocab_size=tok.vocab_size)

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, idx, cache=None):   # never advances cache.pos, so it always sees the prefix
            B, T = idx.shape
            out = torch.full((B, T, tok.vocab_size), -10.0)
            for b in range(B):
                text = tok.decode(idx[b].tolist())
                prompt = text[:text.index("=") + 1] if "=" in text else ""
                if prompt:
                    done = text[len(prompt):]
                    ans = task.answer(*task.operands(prompt))
                    nxt = tok.stoi[ans[len(done)]] if len(done) < len(ans) else tok.eos_id
                    out[b, -1, nxt] = 10.0
            return out
    acc, shown = evaluate(Oracle(), tok, task, pairs=task.heldout()[:40], n_samples=3)
    assert acc == 1.0 and len(shown) == 3 and all(ok == 1.0 for *_, ok in shown)


def test_encode_prompts_pads_right(tok):
    ids, lens = encode_prompts(tok, ["1+2=", "07+42="])
    assert lens.tolist() == [5, 7]
    assert ids[0].tolist()[5:] == [0, 0]
