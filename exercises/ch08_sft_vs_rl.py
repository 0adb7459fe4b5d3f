"""Chapter 8 exercises: rewards and metrics for deciding between SFT and RL.

Read chapters/08-sft-vs-rl.md first. Fill in each function below where it says
`raise NotImplementedError  # YOUR CODE HERE`; keep the names and signatures. Then grade with

    python -m minirl.grade 8

No imports are needed beyond `math`. The reference solutions live in minirl/tasks.py
(`partial_credit`), minirl/passk.py (`pass_at_k`) and minirl/countdown.py (`safe_arith`); try not to peek until the
grader says PASS.
"""
import math  # noqa: F401  (you may find it useful)


def partial_credit(response, answer: str, max_len: int) -> float:
    """A dense reward: credit for every answer digit that is right and in the right place.

    response: the model's text (anything: it may be empty, garbage, unicode, or not a str at all).
    answer:   the correct answer as the task writes it, e.g. "94" (digits, writing order).
    max_len:  responses longer than this (after stripping) get 0.

    Strip surrounding whitespace from the response (str.strip(): spaces, tabs, newlines, "\r\n"),
    then compare the length of what is left with max_len ("  94  " with max_len 2 is fine).
    If what is left is empty, longer than max_len, or contains anything but the ASCII digits 0-9
    (whitespace inside included), the reward is 0.0. Otherwise

        reward = #{i : response[i] == answer[i]} / max(len(answer), len(response))

    (positions compared in writing order, from the first character), so that the reward is 1.0
    exactly when the response is the answer, and writing extra or missing digits costs.
    Never raise; return a Python float in [0, 1] on every path (0.0, not the int 0).
    Examples (answer "94", max_len 4): "94" -> 1.0, "95" -> 0.5, "9" -> 0.5, "940" -> 2/3,
    "49" -> 0.0, " 94 " -> 1.0, "9a" -> 0.0, "94000" -> 0.0 (too long).
    Difficulty: ★★☆
    Hint: test the type first, then strip, then reject; str.isdigit() also accepts characters such
    as '²' and '٣', so compare against the string '0123456789' instead.
    """
    raise NotImplementedError  # YOUR CODE HERE


def safe_arith(text, allowed=None, max_depth: int = 6, max_value: int = 10 ** 6, max_len: int = 64):
    """The value of an integer expression written by a model, or None. Never raise, never eval.

    The verifier of the countdown task: a model's response such as "25+3*7" or "(9-2)*6" must be
    scored without trusting it. Do NOT use eval/exec/compile: write a recursive-descent parser for

        expr   := term (('+' | '-') term)*         (left-associative: 10-4-3 = 3)
        term   := factor ('*' factor)*             ('*' binds tighter than '+' and '-')
        factor := NUMBER | '(' expr ')'
        NUMBER := one or more ASCII digits, without a leading zero unless it is just "0"

    Rules (any violation -> None):
      - `text` must be a str of at most max_len characters, counted as given, spaces included
        (check the length before removing anything); then remove all spaces (" "), so " 7 * 6 " is
        42 and "1 2" is 12; an empty expression is None;
      - only the characters 0123456789+-*() ; no unary minus or plus ("-1", "+1"), no "/", "**";
        only spaces are removed, so a tab, newline or carriage return makes the text invalid;
      - the whole string must be consumed ("1+2)" is None);
      - parentheses nested deeper than max_depth are rejected: max_depth=6 accepts
        "((((((1))))))" (6 levels) but not 7 levels. Depth is nesting, not the number of
        parentheses: "(1)+(2)*(3)" has depth 1. Adjacent groups need an operator between them
        ("(1)(2)" and "2(3)" are None: there is no implicit multiplication);
      - every intermediate result (each product, sum or difference) must satisfy
        abs(value) <= max_value;
      - numbers have at most 7 digits;
      - if `allowed` is given (a list/tuple of ints), the numbers used must be a sub-multiset of it:
        each allowed number may be used at most as many times as it appears ("3+3" needs two 3s).
    Examples: safe_arith("2+3*4") = 14, safe_arith("(2+3)*4") = 20, safe_arith("01") = None,
    safe_arith("3+5", allowed=(3, 4)) = None, safe_arith("3*4", allowed=(3, 4, 5)) = 12.
    Hint: keep a position index into the string and write one small function per grammar rule;
    raise a private exception inside the parser and turn it into None at the top.
    Difficulty: ★★★
    """
    raise NotImplementedError  # YOUR CODE HERE


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimator (Chen et al. 2021, eq. 1).

    n samples were drawn for one prompt and c of them are correct. pass@k is the probability that
    k samples drawn WITHOUT replacement from those n include at least one correct one:

        pass@k = 1 - C(n - c, k) / C(n, k)          (C = binomial coefficient)

    which is 1.0 when n - c < k (too few wrong samples to fill k slots). Requires 0 <= c <= n and
    1 <= k <= n (raise ValueError otherwise). Return a Python float in every case (1.0, not 1).
    Note: 1 - (1 - c/n)^k (drawing WITH replacement) is a biased estimate; do not use it.
    Hint: C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i) avoids huge numbers.
    Examples: pass_at_k(5, 2, 1) = 0.4, pass_at_k(5, 2, 2) = 0.7, pass_at_k(5, 4, 2) = 1.0.
    Difficulty: ★★☆
    """
    raise NotImplementedError  # YOUR CODE HERE
