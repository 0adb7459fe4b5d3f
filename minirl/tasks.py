"""Arithmetic tasks: prompts, answers, a safe verifier, a noisy teacher, preference pairs.

A task is the environment's "world": it hands out prompts (initial states), knows the right
answer, and scores a response (the reward). Everything here is plain Python on strings.

Formats (Lee et al. 2023, "Teaching Arithmetic to Small Transformers", found the same):
  pad=True      operands zero-padded to a fixed width:   "07+42="   (every prompt the same length)
  reverse=True  answer written least-significant digit first:  7+42=49  ->  "94"
Reversed answers let the model produce each digit right after the digits it depends on (the carry
flows in writing order); with plain answers it must plan the carry before writing the first digit.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

OPS = {"add": "+", "mul": "*"}
TASK_NAMES = [f"{op}{d}" for op in OPS for d in (1, 2, 3, 4)] + ["countdown"]
_ASCII_DIGITS = frozenset("0123456789")


def parse_answer(text, reverse: bool = True, max_digits: int = 12):
    """The integer a response states, or None if it is not a plain non-negative number.

    Never raises and never evaluates anything: only ASCII digits count (so '²', '٣', '1e9', ' 4 2',
    '-3', '' and 10**100-long strings all give None). Surrounding whitespace is ignored.
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s or len(s) > max_digits or not set(s) <= _ASCII_DIGITS:
        return None
    return int(s[::-1] if reverse else s)


@dataclass(frozen=True)
class ArithmeticTask:
    """`digits`-digit `op` problems, e.g. ArithmeticTask("+", 2) is 2-digit addition."""
    op: str = "+"
    digits: int = 2
    reverse: bool = True
    pad: bool = True
    n_heldout: int = 500
    split_seed: int = 1234
    dense: bool = False          # reward = partial_reward (credit per right digit) instead of exact match
    _heldout: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.op not in OPS.values():
            raise ValueError(f"unknown operator {self.op!r}; use one of {sorted(OPS.values())}")
        if not 1 <= self.digits <= 6:
            raise ValueError(f"digits must be in 1..6, got {self.digits}")
        rng = random.Random(self.split_seed)
        n = min(self.n_heldout, self.n_problems // 5)          # never hold out more than 20%
        held = set()
        while len(held) < n:
            held.add((rng.randrange(10 ** self.digits), rng.randrange(10 ** self.digits)))
        object.__setattr__(self, "_heldout", tuple(sorted(held)))

    @property
    def name(self) -> str:
        return {v: k for k, v in OPS.items()}[self.op] + str(self.digits)

    @property
    def n_problems(self) -> int:
        return (10 ** self.digits) ** 2

    # --- text -------------------------------------------------------------------------------
    def prompt(self, a: int, b: int) -> str:
        w = self.digits if self.pad else 0
        return f"{a:0{w}d}{self.op}{b:0{w}d}="

    def target(self, a: int, b: int) -> int:
        return a + b if self.op == "+" else a * b

    def answer(self, a: int, b: int) -> str:
        s = str(self.target(a, b))
        return s[::-1] if self.reverse else s

    def operands(self, prompt: str) -> tuple[int, int]:
        """Inverse of `prompt` (for our own prompts only): '07+42=' -> (7, 42)."""
        a, b = prompt.rstrip("=").split(self.op)
        return int(a), int(b)

    @property
    def max_answer_digits(self) -> int:
        top = 10 ** self.digits - 1
        return len(str(self.target(top, top)))

    @property
    def max_prompt_len(self) -> int:
        return 2 * self.digits + 2

    def max_seq_len(self) -> int:
        """BOS + prompt + answer + EOS: the block size a model needs for this task."""
        return 1 + self.max_prompt_len + self.max_answer_digits + 1

    # --- splits -----------------------------------------------------------------------------
    def heldout(self) -> list[tuple[int, int]]:
        return list(self._heldout)

    def is_heldout(self, a: int, b: int) -> bool:
        return (a, b) in self._heldout_set

    @property
    def _heldout_set(self) -> frozenset:
        s = self.__dict__.get("_hs")
        if s is None:
            s = frozenset(self._heldout)
            object.__setattr__(self, "_hs", s)
        return s

    def sample_train(self, n: int, rng: random.Random) -> list[tuple[int, int]]:
        """n training problems drawn uniformly from everything that is not held out."""
        out = []
        while len(out) < n:
            a, b = rng.randrange(10 ** self.digits), rng.randrange(10 ** self.digits)
            if (a, b) not in self._heldout_set:
                out.append((a, b))
        return out

    # --- rewards ----------------------------------------------------------------------------
    def is_correct(self, prompt: str, response: str) -> bool:
        """Exact match: the response states the right answer. Never raises."""
        try:
            a, b = self.operands(prompt)
        except ValueError:
            return False
        return parse_answer(response, self.reverse, self.max_answer_digits + 1) == self.target(a, b)

    def reward(self, prompt: str, response: str) -> float:
        """The training reward: exact match (1.0 / 0.0), or partial credit when dense=True."""
        if self.dense:
            return self.partial_reward(prompt, response)
        return float(self.is_correct(prompt, response))

    def partial_reward(self, prompt: str, response: str) -> float:
        """Dense credit: the share of answer digits right in place, in writing order, divided by
        max(len(answer), len(response)) so padding or truncating costs. 1.0 iff exact. Never raises."""
        try:
            a, b = self.operands(prompt)
        except ValueError:
            return 0.0
        if not isinstance(response, str):
            return 0.0
        r, ans = response.strip(), self.answer(a, b)
        if not r or len(r) > self.max_answer_digits + 1 or not set(r) <= _ASCII_DIGITS:
            return 0.0
        return sum(x == y for x, y in zip(r, ans)) / max(len(ans), len(r))

    # --- demonstrations and preferences -----------------------------------------------------
    def wrong_answer(self, a: int, b: int, rng: random.Random) -> str:
        """A plausible mistake: the right answer with one digit changed."""
        s = list(self.answer(a, b))
        i = rng.randrange(len(s))
        s[i] = rng.choice([d for d in "0123456789" if d != s[i]])
        return "".join(s)

    def demonstration(self, a: int, b: int, p_wrong: float, rng: random.Random) -> str:
        """A noisy teacher's response: right with probability 1 - p_wrong, else a plausible mistake."""
        return self.wrong_answer(a, b, rng) if rng.random() < p_wrong else self.answer(a, b)

    def preference_pairs(self, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
        """n (prompt, chosen, rejected) triples from the training split: correct vs a mistake."""
        return [(self.prompt(a, b), self.answer(a, b), self.wrong_answer(a, b, rng))
                for a, b in self.sample_train(n, rng)]


def make_task(name: str, reverse: bool = True, pad: bool = True, n_heldout: int = 500, dense: bool = False):
    """'add2' -> 2-digit addition, 'mul3' -> 3-digit multiplication, 'countdown' -> CountdownTask()."""
    if name not in TASK_NAMES:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}")
    if name == "countdown":
        return CountdownTask()
    return ArithmeticTask(OPS[name[:3]], int(name[3:]), reverse=reverse, pad=pad, n_heldout=n_heldout,
                          dense=dense)


# --- a task with many right answers ---------------------------------------------------------
class CountdownTask:
    """Reach a target from given numbers with + - * and parentheses, each number used at most once.

    prompt   "3,7,25:46="            response  "25+3*7"  (or "7*3+25", or "(25-7)*3-8"... any valid one)
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

    def __init__(self, n_numbers: int = 3, max_number: int = 9, n_heldout: int = 300, split_seed: int = 1234):
        if not 2 <= n_numbers <= 4 or not 2 <= max_number <= 99:
            raise ValueError("countdown needs 2..4 numbers, each at most 2..99")
        self.n_numbers, self.max_number = n_numbers, max_number
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
            expr = f"({expr}){op}{n}" if op == "*" and any(c in expr for c in "+-") else f"{expr}{op}{n}"
        return expr

    def prompt(self, nums, target) -> str:
        return ",".join(map(str, nums)) + f":{target}="

    def problem(self, prompt: str):
        head, target = prompt.rstrip("=").split(":")
        return tuple(int(x) for x in head.split(",")), int(target)

    def operands(self, prompt: str):
        return self.problem(prompt)

    def answer(self, nums, target) -> str:
        """One demonstrated solution: the first left-to-right expression over all numbers that works."""
        for code in range(3 ** (len(nums) - 1)):
            e = self._canonical(nums, code)
            if safe_arith(e) == target:
                return e
        raise ValueError(f"no left-to-right solution for {nums} -> {target}")

    def target(self, nums, target) -> int:
        return target

    @property
    def max_answer_digits(self) -> int:
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
        value = safe_arith(response, allowed=nums, max_depth=self.MAX_DEPTH, max_value=self.MAX_VALUE)
        return float(value is not None and value == target)

    def wrong_answer(self, nums, target, rng):
        return self._canonical(nums, rng.randrange(3 ** (len(nums) - 1))) + "+1"

    def demonstration(self, nums, target, p_wrong, rng):
        return self.wrong_answer(nums, target, rng) if rng.random() < p_wrong else self.answer(nums, target)


def safe_arith(text, allowed=None, max_depth: int = 6, max_value: int = 10 ** 6, max_len: int = 64):
    """Value of an integer expression with + - * and parentheses, or None. Never raises, never evals.

    A recursive-descent parser over ASCII digits, '+', '-', '*', '(' and ')' (spaces ignored):
        expr := term (('+' | '-') term)*      term := factor ('*' factor)*      factor := NUMBER | '(' expr ')'
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
