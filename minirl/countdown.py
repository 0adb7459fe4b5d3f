"""Countdown: reach a target from given numbers with + - * and parentheses.

Unlike addition, a countdown problem has many right answers, so SFT (which copies one
demonstrated style) and RL (rewarded for any valid expression) learn different things. The
verifier is a small recursive-descent parser, never `eval`.
Chapter: chapters/08-sft-vs-rl.md, 8.4.
"""
from __future__ import annotations

import random


class CountdownTask:
    """Reach a target from given numbers with + - * and parentheses, each number used at most once.

    prompt   "3,7,25:46="   response  "25+3*7"  (or "7*3+25", or "(25-7)*3-8"... any valid one)
    A problem is (numbers, target), so trainers can treat it like an (a, b) pair. There are usually
    many valid expressions: SFT copies the one style its demonstrations use, while RL is rewarded
    for any of them (chapter 8). The verifier parses the expression itself -- no `eval` -- and
    gives 0 for anything malformed, too long, too deep, or with out-of-range intermediate values.
    """
    name = "countdown"
    reverse = False
    pad = False
    MAX_EXPR = 16          # characters of a response the verifier will read
    MAX_DEPTH = 6          # parenthesis nesting
    MAX_VALUE = 10 ** 6    # any intermediate value beyond this makes the answer invalid

    def __init__(self, n_numbers: int = 3, max_number: int = 9, n_heldout: int = 300,
                 split_seed: int = 1234):
        if not 2 <= n_numbers <= 4 or not 2 <= max_number <= 99:
            raise ValueError("countdown needs 2..4 numbers, each at most 2..99")
        self.n_numbers = n_numbers
        self.max_number = max_number
        rng = random.Random(split_seed)
        held = set()
        while len(held) < n_heldout:
            held.add(self._random_problem(rng))
        self._heldout = sorted(held)
        self._held_set = frozenset(held)

    def _random_problem(self, rng):
        while True:                                            # targets are kept non-negative
            nums = tuple(sorted(rng.randint(1, self.max_number) for _ in range(self.n_numbers)))
            target = safe_arith(self._canonical(nums, rng.randrange(3 ** (len(nums) - 1))))
            if target >= 0:
                return nums, target

    @staticmethod
    def _canonical(nums, code: int) -> str:
        """A left-to-right expression over all numbers: ((n0 op n1) op n2) with ops from `code`."""
        expr = str(nums[0])
        for i, n in enumerate(nums[1:]):
            op = "+-*"[(code // 3 ** i) % 3]
            expr = (f"({expr}){op}{n}" if op == "*" and any(c in expr for c in "+-")
                    else f"{expr}{op}{n}")
        return expr

    def prompt(self, nums, target) -> str:
        return ",".join(map(str, nums)) + f":{target}="

    def problem(self, prompt: str):
        head, target = prompt.rstrip("=").split(":")
        return tuple(int(x) for x in head.split(",")), int(target)

    def operands(self, prompt: str):
        return self.problem(prompt)

    def answer(self, nums, target) -> str:
        """One demonstrated solution: the first left-to-right expression over all numbers that
        works."""
        for code in range(3 ** (len(nums) - 1)):
            e = self._canonical(nums, code)
            if safe_arith(e) == target:
                return e
        raise ValueError(f"no left-to-right solution for {nums} -> {target}")

    def target(self, nums, target) -> int:
        return target

    @property
    def max_answer_len(self) -> int:
        """Characters of the longest response sampled: MAX_EXPR - 1, so that with its EOS it fills
        MAX_EXPR tokens."""
        return self.MAX_EXPR - 1

    def max_seq_len(self) -> int:
        top = self.max_number ** self.n_numbers
        return 1 + len(self.prompt((self.max_number,) * self.n_numbers, top)) + self.MAX_EXPR + 1

    def heldout(self):
        return list(self._heldout)

    def sample_train(self, n: int, rng: random.Random):
        out = []
        while len(out) < n:
            p = self._random_problem(rng)
            if p not in self._held_set:
                out.append(p)
        return out

    def read_answer(self, response: str) -> str:
        return response.strip()

    def expected(self, prompt: str) -> str:
        """What a right answer must equal (any valid expression is right): '= 46'."""
        return f"= {self.problem(prompt)[1]}"

    def show(self, prompt: str, response: str) -> str:
        """One line for people: '3,7,25:46= 25+3*7 ✓' or '3,7,25:46= 25+7 ✗ expected = 46'."""
        ok = self.is_correct(prompt, response)
        return f"{prompt} {response}" + (" ✓" if ok else f" ✗ expected {self.expected(prompt)}")

    def is_correct(self, prompt: str, response: str) -> bool:
        return self.reward(prompt, response) == 1.0

    def reward(self, prompt: str, response: str) -> float:
        """1.0 if `response` is a valid expression over (a sub-multiset of) the numbers equal to the
        target, else 0.0. Never raises."""
        try:
            nums, target = self.problem(prompt)
        except ValueError:
            return 0.0
        if not isinstance(response, str) or len(response) > self.MAX_EXPR:
            return 0.0
        value = safe_arith(response, allowed=nums, max_depth=self.MAX_DEPTH,
                           max_value=self.MAX_VALUE)
        return float(value is not None and value == target)

    def wrong_answer(self, nums, target, rng):
        return self._canonical(nums, rng.randrange(3 ** (len(nums) - 1))) + "+1"

    def demonstration(self, nums, target, p_wrong, rng, mistakes: str = "random"):
        if mistakes != "random":
            raise ValueError(f"countdown's teacher makes only random mistakes, not {mistakes!r}")
        return (self.wrong_answer(nums, target, rng) if rng.random() < p_wrong
                else self.answer(nums, target))


def safe_arith(text, allowed=None, max_depth: int = 6, max_value: int = 10 ** 6, max_len: int = 64):
    """Value of an integer expression with + - * and parentheses, or None. Never raises, never
    evals.

    A recursive-descent parser over ASCII digits, '+', '-', '*', '(' and ')' (spaces ignored):
        expr := term (('+' | '-') term)*      term := factor ('*' factor)*
        factor := NUMBER | '(' expr ')'
    `allowed`: if given, the numbers used must be a sub-multiset of it (each used at most once).
    Anything else -- other characters, unary minus, leading zeros, depth > max_depth, a value
    beyond +-max_value, more than max_len characters -- gives None.
    """
    if not isinstance(text, str) or len(text) > max_len:
        return None
    s = text.replace(" ", "")
    if not s or not set(s) <= set("0123456789+-*()"):
        return None
    pool = None if allowed is None else list(allowed)
    pos = 0

    class Bad(Exception):
        pass

    def peek():
        return s[pos] if pos < len(s) else ""

    def number():
        nonlocal pos
        start = pos
        while pos < len(s) and s[pos].isdigit():
            pos += 1
        tok = s[start:pos]
        if not tok or (len(tok) > 1 and tok[0] == "0") or len(tok) > 7:
            raise Bad
        n = int(tok)
        if pool is not None:
            if n not in pool:
                raise Bad
            pool.remove(n)
        return n

    def check(v):
        if abs(v) > max_value:
            raise Bad
        return v

    def factor(depth):
        nonlocal pos
        if peek() == "(":
            if depth >= max_depth:
                raise Bad
            pos += 1
            v = expr(depth + 1)
            if peek() != ")":
                raise Bad
            pos += 1
            return v
        return number()

    def term(depth):
        nonlocal pos
        v = factor(depth)
        while peek() == "*":
            pos += 1
            v = check(v * factor(depth))
        return v

    def expr(depth):
        nonlocal pos
        v = term(depth)
        while peek() in ("+", "-"):
            op = s[pos]
            pos += 1
            v = check(v + term(depth) if op == "+" else v - term(depth))
        return v

    try:
        v = expr(0)
        return v if pos == len(s) else None
    except (Bad, RecursionError):
        return None
