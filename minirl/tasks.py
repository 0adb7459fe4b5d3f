"""Arithmetic tasks: prompts, answers, a safe verifier, a noisy teacher, preference pairs.
(The countdown task, with many right answers, is in countdown.py.)

A task is the environment's "world": it hands out prompts (initial states), knows the right
answer, and scores a response (the reward). Everything here is plain Python on strings.

Formats:
  pad=True      operands zero-padded to a fixed width: "07+42=" (every prompt the same length)
  reverse=True  answer written least-significant digit first: 7+42=49 -> "94"

Why the formats matter (the carry flows in writing order): chapters/02-tiny-gpt-and-sft.md, 2.3.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

OPS = {"add": "+", "mul": "*"}
TASK_NAMES = [f"{op}{d}" for op in OPS for d in (1, 2, 3, 4)] + ["countdown"]
_ASCII_DIGITS = frozenset("0123456789")


def parse_answer(text, reverse: bool = True, max_digits: int = 12):
    """The integer a response states, or None if it is not a number written exactly as the task
    writes its answers: ASCII digits only, no superfluous leading zero in reading order.

    Exact match: the only way to write 49 is '94' (reversed) or '49' (plain). A zero that comes
    first in reading order is a wrong answer unless the number is 0 itself, so for 49 the reversed
    responses '940' (it reads 049) and '9400' (0049) give None, as '049' does in the plain format;
    '0' stays 0.
    Never raises and never evaluates anything: only ASCII digits count (so '²', '٣', '1e9', ' 4 2',
    '-3', '' and 10**100-long strings all give None). Surrounding whitespace is ignored.
    """
    if not isinstance(text, str):
        return None
    s = text.strip()
    if not s or len(s) > max_digits or not set(s) <= _ASCII_DIGITS:
        return None
    read = s[::-1] if reverse else s                  # the number in reading order
    if len(read) > 1 and read[0] == "0":
        return None                                   # a superfluous leading zero: not how
                                                      # the answer is written
    return int(read)


def partial_credit(response, answer: str, max_len: int) -> float:
    """Share of the answer's characters right in place, in writing order, over max(len(answer),
    len(response)): 1.0 iff exact. Anything but ASCII digits, an empty response or one longer than
    max_len gives 0.0; never raises. (The dense reward, --dense_reward, of chapter 8.)"""
    if not isinstance(response, str):
        return 0.0
    r = response.strip()
    if not r or len(r) > max_len or not set(r) <= _ASCII_DIGITS:
        return 0.0
    return sum(x == y for x, y in zip(r, answer)) / max(len(answer), len(r))


@dataclass(frozen=True)
class ArithmeticTask:
    """`digits`-digit `op` problems, e.g. ArithmeticTask("+", 2) is 2-digit addition."""
    op: str = "+"
    digits: int = 2
    reverse: bool = True
    pad: bool = True
    n_heldout: int = 500
    split_seed: int = 1234
    dense: bool = False          # reward = partial_reward (credit per right digit), not exact match
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
    def max_answer_len(self) -> int:
        """Characters in the longest answer (here: digits of the largest result)."""
        top = 10 ** self.digits - 1
        return len(str(self.target(top, top)))

    @property
    def max_prompt_len(self) -> int:
        return 2 * self.digits + 2

    def max_seq_len(self) -> int:
        """BOS + prompt + answer + EOS: the block size a model needs for this task."""
        return 1 + self.max_prompt_len + self.max_answer_len + 1

    # --- splits -----------------------------------------------------------------------------
    def heldout(self) -> list[tuple[int, int]]:
        return list(self._heldout)

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
            a = rng.randrange(10 ** self.digits)
            b = rng.randrange(10 ** self.digits)
            if (a, b) not in self._heldout_set:
                out.append((a, b))
        return out

    # --- showing answers to people -----------------------------------------------------------
    def read_answer(self, response: str) -> str:
        """The response as a person reads it: a reversed answer turned back ('94' -> '49')."""
        r = response.strip()
        return r[::-1] if self.reverse else r

    def expected(self, prompt: str) -> str:
        """The right answer to one of our prompts, written the usual way ('07+42=' -> '49')."""
        return str(self.target(*self.operands(prompt)))

    def show(self, prompt: str, response: str) -> str:
        """One line for people: '07+42= 94 → 49 ✓' (reversed format) or
        '07+42= 48 ✗ expected 49'."""
        shown = f"{prompt} {response}" + (f" → {self.read_answer(response)}" if self.reverse
                                          else "")
        return shown + (" ✓" if self.is_correct(prompt, response)
                        else f" ✗ expected {self.expected(prompt)}")

    # --- rewards ----------------------------------------------------------------------------
    def is_correct(self, prompt: str, response: str) -> bool:
        """Exact match: the response states the right answer. Never raises."""
        try:
            a, b = self.operands(prompt)
        except ValueError:
            return False
        return parse_answer(response, self.reverse, self.max_answer_len + 1) == self.target(a, b)

    def reward(self, prompt: str, response: str) -> float:
        """The training reward: exact match (1.0 / 0.0), or partial credit when dense=True."""
        if self.dense:
            return self.partial_reward(prompt, response)
        return float(self.is_correct(prompt, response))

    def rewards(self, prompts: list[str], responses: list[str]) -> list[float]:
        """`reward` for every row at once: each distinct prompt is parsed once, and an exact answer
        is a string comparison (a response states the target iff, stripped, it is `answer(a, b)`:
        the only digits-only, leading-zero-free way to write it). Equal to [reward(p, r), ...]."""
        if self.dense:
            return [self.partial_reward(p, r) for p, r in zip(prompts, responses)]
        answers = {}
        for p in set(prompts):
            try:
                answers[p] = self.answer(*self.operands(p))
            except ValueError:
                answers[p] = None                      # not one of our prompts: reward 0
        return [float(isinstance(r, str) and r.strip() == answers[p])
                for p, r in zip(prompts, responses)]

    def partial_reward(self, prompt: str, response: str) -> float:
        """Dense credit (partial_credit against the right answer, as written). Never raises."""
        try:
            a, b = self.operands(prompt)
        except ValueError:
            return 0.0
        return partial_credit(response, self.answer(a, b), self.max_answer_len + 1)

    # --- demonstrations and preferences -----------------------------------------------------
    def wrong_answer(self, a: int, b: int, rng: random.Random) -> str:
        """A plausible mistake: the right answer with one digit changed."""
        s = list(self.answer(a, b))
        i = rng.randrange(len(s))
        s[i] = rng.choice([d for d in "0123456789" if d != s[i]])
        return "".join(s)

    def carry_slip(self, a: int, b: int) -> str:
        """A systematic mistake: the sum without the carry out of the units digit (17+25 -> 32,
        not 42), the right answer when the units do not carry. Addition only."""
        if self.op != "+":
            raise ValueError(f"carry_slip is a mistake of addition, not of {self.op!r}")
        s = str(a + b - 10 * (a % 10 + b % 10 >= 10))
        return s[::-1] if self.reverse else s

    def demonstration(self, a: int, b: int, p_wrong: float, rng: random.Random,
                      mistakes: str = "random") -> str:
        """A noisy teacher's response: right with probability 1 - p_wrong, else a mistake:
        "random" a plausible one (wrong_answer: one digit changed), "carry" always the same slip
        (carry_slip), which is no mistake at all on problems whose units do not carry."""
        if rng.random() >= p_wrong:
            return self.answer(a, b)
        return self.carry_slip(a, b) if mistakes == "carry" else self.wrong_answer(a, b, rng)

    def preference_pairs(self, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
        """n (prompt, chosen, rejected) triples from the training split: correct vs a mistake."""
        return [(self.prompt(a, b), self.answer(a, b), self.wrong_answer(a, b, rng))
                for a, b in self.sample_train(n, rng)]


def heldout_subset(task, n: int, seed: int = 0) -> list:
    """n held-out problems drawn without replacement by a seeded generator, in held-out order (all
    of them when n >= the set's size). The held-out list is sorted, so its first n would be an easy
    slice: the first 100 add2 problems all have a first operand below 20."""
    pairs = task.heldout()
    if n >= len(pairs):
        return pairs
    keep = sorted(random.Random(seed).sample(range(len(pairs)), n))
    return [pairs[i] for i in keep]


def make_task(name: str, reverse: bool = True, pad: bool = True, n_heldout: int = 500,
              dense: bool = False):
    """'add2' -> 2-digit addition, 'mul3' -> 3-digit multiplication,
    'countdown' -> CountdownTask()."""
    if name not in TASK_NAMES:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASK_NAMES)}")
    if name == "countdown":
        from .countdown import CountdownTask
        return CountdownTask()
    return ArithmeticTask(OPS[name[:3]], int(name[3:]), reverse=reverse, pad=pad,
                          n_heldout=n_heldout, dense=dense)
