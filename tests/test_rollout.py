"""The alignment contract of docs/conventions.md: tokens (B,T), logprobs/mask (B,T-1), last-action placement."""
import math

import torch

from minirl.model import GPT, GPTConfig
from minirl.core import place_on_last_action
from minirl.batches import encode_pairs, encode_prompts, token_logprobs
from minirl.evaluation import evaluate
from minirl.rollout import response_mask, sample


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
    # the stored log-probs are detached, 0 off the mask (their values: test_sample_logprobs_by_hand)
    assert not r.logprobs.requires_grad and r.logprobs.shape == r.mask.shape
    assert (r.logprobs[r.mask == 0] == 0).all() and (r.logprobs[r.mask == 1] <= 0).all()
    # texts decode exactly the masked actions; rewards are the verifier's
    for i in range(B):
        acts = r.tokens[i, 1:][r.mask[i].bool()].tolist()
        assert tok.decode(acts, strict=True) == r.texts[i]
        assert r.rewards[i] == task.reward(r.prompts[i], r.texts[i])
    assert torch.equal(r.token_rewards().sum(1), r.rewards)


class PositionTableLM(torch.nn.Module):
    """A fake LM whose logits depend only on the position: logits[:, p] = rows[p], whatever the
    tokens (row p scores token p+1). Like the Oracle below it never advances cache.pos, so during
    generation it always sees the prefix from position 0 and p is the absolute position."""

    def __init__(self, rows: list[list[float]]):
        super().__init__()
        self.config = GPTConfig(vocab_size=len(rows[0]), block_size=len(rows), n_layer=1, n_head=1, n_embd=1)
        self.register_buffer("rows", torch.tensor(rows))
        self.dummy = torch.nn.Parameter(torch.zeros(1))   # sample() reads the device and dtype off a parameter

    def forward(self, idx, cache=None):
        B, T = idx.shape
        return self.rows[:T].expand(B, T, -1).clone()


def _hand_rows(tok, n=16):
    """Logits set by hand: digits 1, 2, 3 and EOS get position-dependent values, every other token
    -30 (never sampled, yet a finite log-prob, so that the mask has something to zero); row 5
    (which scores token 6) makes EOS certain, so a row whose prompt ends at token 4 stops at token 6."""
    one, two, three, eos = tok.stoi["1"], tok.stoi["2"], tok.stoi["3"], tok.eos_id
    rows = []
    for p in range(n):
        row = [-30.0] * tok.vocab_size
        row[one], row[two], row[three] = 0.5 * (p % 3), 1.0 - 0.1 * p, 0.2 * p - 1.0
        row[eos] = 50.0 if p == 5 else 0.3 * p - 2.0
        rows.append(row)
    return rows


def _log_softmax_by_hand(row: list[float], i: int) -> float:
    return row[i] - math.log(sum(math.exp(x) for x in row))


def test_sample_logprobs_by_hand(tok):
    class CountDigits:
        """A stand-in task: answers up to 3 characters, reward = length of the response."""
        max_answer_len = 3

        def reward(self, prompt, response):
            return float(len(response))

    rows = _hand_rows(tok)
    model = PositionTableLM(rows)
    prompts = ["1+2=", "07+42="]                           # [BOS] + prompt: 5 and 7 tokens
    r = sample(model, tok, CountDigits(), prompts, samples_per_prompt=6,
               generator=torch.Generator().manual_seed(0))
    B, T = r.tokens.shape
    assert r.logprobs.shape == r.mask.shape == (B, T - 1) and r.prompt_lens.tolist() == [5] * 6 + [7] * 6
    padded = 0
    for b in range(B):
        row_tokens, start = r.tokens[b].tolist(), int(r.prompt_lens[b])
        # the actions, worked out from the tokens: from the first response token through the first EOS
        end = row_tokens.index(tok.eos_id, start) if tok.eos_id in row_tokens[start:] else T - 1
        for t in range(T - 1):                              # entry t scores token t+1 with logits row t
            is_action = start <= t + 1 <= end
            assert r.mask[b, t] == float(is_action), (b, t, row_tokens)
            if is_action:
                want = _log_softmax_by_hand(rows[t], row_tokens[t + 1])
                assert abs(float(r.logprobs[b, t]) - want) < 1e-5, (b, t, row_tokens[t + 1], want)
            else:                                           # prompt and padding: zeroed, though the model
                assert r.logprobs[b, t] == 0.0              # gives them about -30 (finite) or less
        padded += end < T - 1
        assert r.rewards[b] == float(len(r.texts[b]))
    assert all(r.tokens[b, 6] == tok.eos_id for b in range(6)), "row 5 of the table makes EOS certain"
    assert padded >= 6, "the short prompts end at token 6, before the long ones: their rows are padded"
    assert r.mask[:6, :4].sum() == 0 and r.mask[6:, :6].sum() == 0, "prompt positions are not actions"


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
    assert acc == 1.0 and len(shown) == 3 and all(s["correct"] for s in shown)
    assert [s["prompt"] for s in shown] != [task.prompt(*p) for p in task.heldout()[:3]]   # spread, not the first


def test_encode_prompts_pads_right(tok):
    ids, lens = encode_prompts(tok, ["1+2=", "07+42="])
    assert lens.tolist() == [5, 7]
    assert ids[0].tolist()[5:] == [0, 0]


# --- scoring a batch: `score` and ArithmeticTask.rewards --------------------------------------------
def tricky_responses(task, prompt, rng):
    """The right answer and the ways to be almost right: spaces, leading zeros, other digits,
    other characters, U+FFFD (a sampled PAD), empty, too long."""
    a, b = task.operands(prompt)
    right = task.answer(a, b)
    return [right, f" {right} ", right + "0", "0" + right, right[::-1], right[:-1], "", " ", "\ufffd",
            right + "\ufffd", "1e9", "-" + right, right * 5, task.wrong_answer(a, b, rng), "0",
            "".join(rng.choice("0123456789 +=") for _ in range(rng.randrange(1, 6)))]


def test_arithmetic_rewards_equal_reward_row_by_row():
    import random

    from minirl.tasks import make_task
    rng = random.Random(0)
    for name, reverse, pad, dense in [("add2", True, True, False), ("add2", False, True, False),
                                      ("mul2", True, False, False), ("add3", False, False, False),
                                      ("add2", True, True, True)]:
        task = make_task(name, reverse=reverse, pad=pad, dense=dense)
        pairs = task.sample_train(40, rng) + [(0, 0), (10 ** task.digits - 1,) * 2]
        prompts, texts = [], []
        for a, b in pairs:
            p = task.prompt(a, b)
            for t in tricky_responses(task, p, rng):
                prompts.append(p)
                texts.append(t)
        prompts += ["not a prompt", "12+="]
        texts += ["12", ""]
        expected = [task.reward(p, t) for p, t in zip(prompts, texts)]
        assert task.rewards(prompts, texts) == expected, (name, reverse, pad, dense)
        assert sum(expected) > 0 and min(expected) == 0          # both kinds of row are in the test


def test_score_calls_reward_once_per_distinct_pair_for_a_task_without_rewards():
    from minirl.rollout import score

    class Counting:
        calls = 0

        def reward(self, prompt, response):
            Counting.calls += 1
            return float(len(response)) + (prompt == "b")

    prompts, texts = ["a", "a", "a", "b", "b"], ["x", "x", "yy", "x", "x"]
    assert score(Counting(), prompts, texts) == [1.0, 1.0, 2.0, 2.0, 2.0]
    assert Counting.calls == 3


def test_score_uses_a_subclass_reward_over_the_inherited_batched_one():
    from minirl.rollout import score
    from minirl.tasks import ArithmeticTask, make_task

    base = make_task("add2")

    class Sevens(ArithmeticTask):                  # a reader's reward: one point per 7
        def reward(self, prompt, response):
            return float(response.count("7"))

    task = Sevens(base.op, base.digits)
    p = task.prompt(1, 2)
    assert score(task, [p, p], ["77", task.answer(1, 2)]) == [2.0, 0.0]
    assert score(base, [p, p], ["77", base.answer(1, 2)]) == [0.0, 1.0]
