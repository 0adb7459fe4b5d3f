"""The countdown task: many valid answers, a verifier that parses without eval and never raises."""
import random
import time

import pytest

from minirl.countdown import CountdownTask, safe_arith
from minirl.tasks import make_task


@pytest.mark.parametrize("text,value", [
    ("1+2*3", 7), ("(1+2)*3", 9), ("10-4-3", 3), ("2*(3+(4-1))", 12), (" 7 * 6 ", 42), ("0", 0),
    ("", None), ("-1", None), ("1+", None), ("(1+2", None), ("1+2)", None), ("1/2", None), ("2**3", None),
    ("01", None), ("1e3", None), ("١+٢", None), ("__import__('os')", None), ("()", None), ("1 2", 12),
])
def test_safe_arith(text, value):
    assert safe_arith(text) == value


def test_safe_arith_limits():
    assert safe_arith("(" * 7 + "1" + ")" * 7, max_depth=6) is None
    assert safe_arith("(" * 6 + "1" + ")" * 6, max_depth=6) == 1
    assert safe_arith("999*999*999", max_value=10 ** 6) is None
    assert safe_arith("1+" * 40 + "1") is None                          # longer than max_len
    assert safe_arith("3+3", allowed=(3, 3)) == 6
    assert safe_arith("3+3", allowed=(3, 4)) is None                     # 3 used twice
    assert safe_arith("3+5", allowed=(3, 4)) is None                     # 5 not given


def test_many_valid_answers_get_reward():
    t = make_task("countdown")
    p = t.prompt((3, 7, 9), 30)
    for good in ["3*7+9", "9+7*3", "(7*3)+9", "9+3*7"]:
        assert t.reward(p, good) == 1.0, good
    for bad in ["30", "3*7+9+3", "3*7", "3*7+9 ", "3*7+10", "", "3*7+9\ufffd"]:
        assert t.reward(p, bad) == (1.0 if bad == "3*7+9 " else 0.0), bad


def test_problems_demonstrations_and_split():
    t = CountdownTask()
    rng = random.Random(0)
    train = t.sample_train(300, rng)
    assert not set(train) & set(t.heldout())
    for nums, target in train[:100] + t.heldout()[:100]:
        p = t.prompt(nums, target)
        assert t.reward(p, t.answer(nums, target)) == 1.0
        assert t.reward(p, t.wrong_answer(nums, target, rng)) == 0.0
        assert t.problem(p) == (nums, target)
        assert len(p) + len(t.answer(nums, target)) + 2 <= t.max_seq_len()


def test_verifier_fuzz_never_raises_and_is_fast():
    t = make_task("countdown")
    rng = random.Random(0)
    alphabet = "0123456789+-*()/ =,:x\u00b2\u0663\U0001F600\x00"
    inputs = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(3000)]
    inputs += ["(" * 500 + "1" + ")" * 500, "9" * 100_000, "9*" * 5000 + "9", "1" + "+1" * 10_000]
    inputs += ["".join(chr(rng.randrange(0x110000)) for _ in range(16)) for _ in range(500)]
    start = time.perf_counter()
    for s in inputs:
        r = t.reward("3,7,9:30=", s)
        assert r in (0.0, 1.0)
    assert time.perf_counter() - start < 5.0
    for s in inputs[:500]:
        assert t.reward(s, "1") == 0.0                                   # garbage prompts too
