"""Tokenizers, arithmetic tasks (splits, safe parsing, rewards, teachers) and the two environments."""
import random

import pytest
import torch

from minirl.env import Corridor, TokenEnv, discounted_return, returns_to_go, softmax_policy
from minirl.tasks import ArithmeticTask, make_task, parse_answer
from minirl.tokenizer import GPT2_PATTERN, GROUPED_DIGITS_PATTERN, CharTokenizer, train_bpe


# --- tokenizers ------------------------------------------------------------------------------
def test_char_tokenizer_round_trip(tok):
    ids = tok.encode("07+42=94")
    assert len(ids) == 8 and min(ids) > 2
    assert tok.decode(ids + [tok.eos_id] + tok.encode("99")) == "07+42=94"
    assert tok.decode([tok.bos_id] + ids + [tok.pad_id]) == "07+42=94"
    assert tok.decode([tok.pad_id, 5], strict=True) == "\ufffd" + tok.itos[5]


def test_char_tokenizer_unknown_characters_name_the_problem(tok):
    with pytest.raises(ValueError, match=r"\['x'\].*not in the tokenizer's alphabet"):
        tok.encode("12+x=")


def test_bpe_is_a_tiktoken_encoding_that_round_trips():
    text = "the cat sat on the mat. 12345 + 678 = 13023. the cat ate 1000 mice in 2024. " * 20
    enc = train_bpe(text, 280)
    assert enc.n_vocab == 281                       # 280 ranks + <|endoftext|>
    assert train_bpe(text, 10_000).n_vocab < 10_000     # stops when every chunk is one token
    for s in ["the cat", "12345678", "héllo wörld ✓"]:
        assert enc.decode(enc.encode(s)) == s
    assert len(enc.encode("the cat sat on the mat")) < len("the cat sat on the mat")


def test_bpe_digit_patterns():
    text = "1234567 " * 50
    gpt2 = train_bpe(text, 270, GPT2_PATTERN)
    grouped = train_bpe(text, 270, GROUPED_DIGITS_PATTERN)
    longest = lambda enc: max(len(enc.decode([t])) for t in enc.encode("1234567"))
    assert longest(gpt2) > 3            # GPT-2's pattern lets merges swallow long digit runs
    assert longest(grouped) <= 3        # grouped pattern: never more than three digits per token


def test_bpe_rejects_tiny_vocab():
    with pytest.raises(ValueError, match="256"):
        train_bpe("abc", 100)


# --- tasks -----------------------------------------------------------------------------------
def test_formats():
    t = make_task("add2")
    assert (t.prompt(7, 42), t.answer(7, 42)) == ("07+42=", "94")
    plain = make_task("add2", reverse=False, pad=False)
    assert (plain.prompt(7, 42), plain.answer(7, 42)) == ("7+42=", "49")
    assert make_task("mul3").answer(123, 45) == str(123 * 45)[::-1]
    assert t.max_seq_len() == 1 + 6 + 3 + 1


def test_heldout_split_is_disjoint_from_training():
    t = make_task("add2")
    held = set(t.heldout())
    assert len(held) == 500
    train = t.sample_train(5000, random.Random(0))
    assert not held & set(train)
    assert make_task("add2").heldout() == t.heldout()       # fixed across processes
    small = make_task("add1")
    assert len(small.heldout()) == 20                       # at most 20% of 100 problems


@pytest.mark.parametrize("text,expected", [
    ("94", 49), (" 94 ", 49), ("", None), ("9 4", None), ("-3", None), ("1e9", None), ("²", None),
    ("٣", None), ("9" * 13, None), (None, None), ("0x1f", None), ("4\x00", None), ("__import__('os')", None),
])
def test_parse_answer_is_safe(text, expected):
    assert parse_answer(text, reverse=True) == expected


@pytest.mark.parametrize("text,reverse,expected", [
    ("94", True, 49), ("940", True, None), ("9400", True, None),       # 049 and 0049 are not how 49 is written
    ("49", False, 49), ("049", False, None), ("0049", False, None),
    ("0", True, 0), ("0", False, 0), ("00", True, None), ("00", False, None),
    ("001", True, 100), ("100", True, None), ("100", False, 100), ("001", False, None),
    ("09", True, 90), ("90", True, None),
])
def test_parse_answer_is_exact_about_leading_zeros(text, reverse, expected):
    assert parse_answer(text, reverse=reverse) == expected


def test_exact_match_rejects_superfluous_zeros(task):
    assert task.is_correct("07+42=", "94") and task.reward("07+42=", "94") == 1.0
    for wrong in ("940", "9400", "0094"):
        assert not task.is_correct("07+42=", wrong) and task.reward("07+42=", wrong) == 0.0
    assert task.is_correct("00+00=", "0") and not task.is_correct("00+00=", "00")
    assert task.is_correct("51+49=", "001")                                    # 100 reversed; its zeros are real
    plain = make_task("add2", reverse=False, pad=False)
    assert plain.is_correct("7+42=", "49") and not plain.is_correct("7+42=", "049")
    for a in range(100):                                                       # every right answer stays right
        for b in range(0, 100, 7):
            assert task.is_correct(task.prompt(a, b), task.answer(a, b))
            assert plain.is_correct(plain.prompt(a, b), plain.answer(a, b))


def test_reward_never_raises_on_garbage(task):
    rng = random.Random(0)
    junk = ["", "\ufffd", "9" * 10_000, "١٢", "👍", "(((", "94=", "()" * 500]
    junk += ["".join(chr(rng.randrange(0x10FFFF)) for _ in range(20)) for _ in range(20)]
    for j in junk:
        assert task.reward("07+42=", j) == 0.0
    assert task.reward("07+42=", "94") == 1.0
    assert task.reward("not a prompt", "94") == 0.0


def test_noisy_teacher_and_preferences(task):
    rng = random.Random(0)
    demos = [task.demonstration(12, 34, 0.3, rng) for _ in range(2000)]
    wrong = sum(d != task.answer(12, 34) for d in demos) / len(demos)
    assert 0.26 < wrong < 0.34
    assert all(task.reward("12+34=", d) == 0.0 for d in demos if d != "64")
    for p, c, r in task.preference_pairs(200, rng):
        assert c != r and task.reward(p, c) == 1.0 and task.reward(p, r) == 0.0


def test_the_systematic_teacher_forgets_the_units_carry_every_time(task):
    """--teacher carry: 17+25 is written 32 (reversed "23"), always, and a problem whose units do not
    carry is answered right; the random teacher's stream is unchanged by the new argument."""
    from minirl.tasks import make_task
    assert task.carry_slip(17, 25) == "23" and task.carry_slip(12, 34) == task.answer(12, 34)
    assert task.carry_slip(95, 15) == "001"                       # 110 - 10 = 100: only the units carry goes
    assert make_task("add2", reverse=False).carry_slip(17, 25) == "32"
    rng = random.Random(0)
    assert {task.demonstration(17, 25, 1.0, rng, "carry") for _ in range(50)} == {"23"}
    assert {task.demonstration(17, 25, 0.0, rng, "carry") for _ in range(50)} == {task.answer(17, 25)}
    a, b = random.Random(2), random.Random(2)
    assert [task.demonstration(12, 34, 0.3, a) for _ in range(100)] == \
           [task.demonstration(12, 34, 0.3, b, "random") for _ in range(100)]
    with pytest.raises(ValueError, match="addition"):
        make_task("mul2").carry_slip(3, 4)


def test_bad_task_names():
    with pytest.raises(ValueError, match="unknown task 'add9'"):
        make_task("add9")
    with pytest.raises(ValueError, match="operator"):
        ArithmeticTask("/", 2)


# --- environments ----------------------------------------------------------------------------
def test_returns():
    assert discounted_return([1.0, 2.0, 3.0], 0.5) == 1 + 1 + 0.75
    assert torch.allclose(returns_to_go([1.0, 2.0, 3.0], 1.0), torch.tensor([6.0, 5.0, 3.0]))
    assert torch.allclose(returns_to_go([0.0, 0.0, 1.0], 0.9), torch.tensor([0.81, 0.9, 1.0]))


def test_softmax_policy_samples_and_logprobs():
    logits = torch.tensor([0.0, 1.0, 2.0])
    a, lp = softmax_policy(logits.repeat(4000, 1), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(a, minlength=3).float() / 4000
    assert torch.allclose(freq, torch.softmax(logits, 0), atol=0.03)
    assert torch.allclose(lp, torch.log_softmax(logits, 0)[a])


def test_corridor_always_right_reaches_goal_with_return_one():
    env = Corridor(4)
    s, rewards, done = env.reset(), [], False
    while not done:
        s, r, done, info = env.step(1)
        rewards.append(r)
    assert s == 3 and rewards == [0.0, 0.0, 1.0] and not info["timeout"]
    assert discounted_return(rewards, 0.9) == pytest.approx(0.81)


def test_corridor_times_out_and_checks_actions():
    env = Corridor(4, max_steps=5)
    env.reset()
    done = False
    for _ in range(5):
        _, r, done, info = env.step(0)
    assert done and info["timeout"] and r == 0.0
    with pytest.raises(ValueError, match="action"):
        env.step(2)


def test_token_env_episode(tok, task):
    env = TokenEnv(task, tok, seed=0)
    s = env.reset("07+42=")
    assert s == [tok.bos_id] + tok.encode("07+42=")
    for ch in "94":
        s, r, done, _ = env.step(tok.stoi[ch])
        assert r == 0.0 and not done
    s, r, done, info = env.step(tok.eos_id)
    assert done and r == 1.0 and info["response"] == "94"
    env.reset("07+42=")
    for _ in range(env.max_new_tokens):
        _, r, done, _ = env.step(tok.stoi["1"])
    assert done and r == 0.0                                # cut at the length cap, wrong answer


def test_partial_reward(task):
    assert task.partial_reward("07+42=", "94") == 1.0
    assert task.partial_reward("07+42=", "95") == 0.5
    assert task.partial_reward("07+42=", "941") == pytest.approx(2 / 3)
    assert task.partial_reward("07+42=", "9") == 0.5
    for junk in ["", "x4", "9" * 50, "٩٤", None]:
        assert task.partial_reward("07+42=", junk) == 0.0


def test_dense_reward_changes_training_reward_not_correctness():
    dense = make_task("add2", dense=True)
    assert dense.reward("07+42=", "95") == 0.5 and not dense.is_correct("07+42=", "95")
    assert dense.reward("07+42=", "94") == 1.0 and dense.is_correct("07+42=", "94")


# --- held-out subsets (sampled metrics on n prompts) ------------------------------------------------
def test_a_heldout_subset_has_the_full_sets_statistics_where_its_first_n_do_not():
    from minirl.tasks import heldout_subset
    add2, countdown = make_task("add2"), make_task("countdown")

    def three_digit_share(pairs):
        return sum(a + b >= 100 for a, b in pairs) / len(pairs)

    def mean_first_operand(pairs):
        return sum(a for a, _ in pairs) / len(pairs)

    def mean_target(problems):
        return sum(target for _, target in problems) / len(problems)

    for task, stat, tol in [(add2, three_digit_share, 0.1), (add2, mean_first_operand, 5.0),
                            (countdown, mean_target, 5.0)]:
        full = stat(task.heldout())
        assert abs(stat(heldout_subset(task, 100)) - full) < tol, (task.name, stat.__name__)
        assert abs(stat(task.heldout()[:100]) - full) > 3 * tol, (task.name, stat.__name__)  # the bias it removes


def test_heldout_subset_is_seeded_ordered_without_repeats_and_whole_when_n_is_large():
    from minirl.tasks import heldout_subset
    task = make_task("add2")
    a, b, c = heldout_subset(task, 50), heldout_subset(task, 50), heldout_subset(task, 50, seed=1)
    assert a == b and a != c
    assert len(set(a)) == 50 and set(a) <= set(task.heldout())
    index = {p: i for i, p in enumerate(task.heldout())}
    assert [index[p] for p in a] == sorted(index[p] for p in a)
    assert heldout_subset(task, 500) == heldout_subset(task, 10 ** 6) == task.heldout()


def test_sampled_metrics_use_the_heldout_subset():
    from minirl.model import GPT, GPTConfig
    from minirl.passk import heldout_samples
    from minirl.tasks import heldout_subset
    tok, task = CharTokenizer(), make_task("add2")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1, n_head=1, n_embd=16))
    s = heldout_samples(model, tok, task, n=2, n_prompts=12)
    assert s["pairs"] == heldout_subset(task, 12) and len(s["texts"]) == 12
