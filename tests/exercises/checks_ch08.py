"""Checks for exercises/ch08_sft_vs_rl.py (chapter 8): a partial-credit reward, a safe parser for
the countdown verifier, and the unbiased pass@k estimator."""
import builtins
import math
import random
from fractions import Fraction

import minirl.countdown
import minirl.passk
import minirl.tasks
from minirl.tasks import make_task

EXERCISE_FILE = "ch08_sft_vs_rl.py"

REFERENCE = {"partial_credit": minirl.tasks.partial_credit, "safe_arith": minirl.countdown.safe_arith,
             "pass_at_k": minirl.passk.pass_at_k}


def _eq(got, want, what: str, tol: float = 1e-9):
    assert isinstance(got, (int, float)) and not isinstance(got, bool), \
        f"{what}: expected a float, got {type(got).__name__} {got!r}"
    assert abs(got - want) <= tol, f"{what}: expected {want:.6g}, got {got!r}"


# --- partial_credit -------------------------------------------------------------------------
def check_credit_hand_values(fn):
    """answer "94", max_len 4: the worked examples of the docstring."""
    for resp, want in [("94", 1.0), ("95", 0.5), ("9", 0.5), ("940", 2 / 3), ("49", 0.0), ("04", 0.5),
                       ("9400", 0.5)]:
        _eq(fn(resp, "94", 4), want, f"partial_credit({resp!r}, '94', max_len=4)")


def check_credit_one_iff_exact(fn):
    """1.0 exactly when the response is the answer: extra digits and missing digits both cost."""
    _eq(fn("123", "123", 4), 1.0, "partial_credit('123', '123', 4)")
    for resp in ("1230", "12", "1234", "023", "321"):
        got = fn(resp, "123", 4)
        assert got < 1.0, f"partial_credit({resp!r}, '123', 4) = {got}: only the exact answer may get 1.0"
    _eq(fn("12", "123", 4), 2 / 3, "partial_credit('12', '123', 4) (2 of 3 digits, divide by max length)")
    _eq(fn("1230", "123", 4), 0.75, "partial_credit('1230', '123', 4) (3 right of 4 written)")


def check_credit_malformed_is_zero_never_raises(fn):
    """Anything but ASCII digits (after stripping) is 0.0, and nothing raises."""
    for resp in ["", "   ", "9a", "-9", "9.4", "9 4", "٩٤", "9٤", "²", "94\ufffd", "1e2", "\x00", None, 94, ["9", "4"]]:
        try:
            got = fn(resp, "94", 4)
        except NotImplementedError:
            raise
        except Exception as e:
            raise AssertionError(f"partial_credit({resp!r}, '94', 4) raised {type(e).__name__}: {e}; "
                                 "a reward must never raise, malformed answers get 0.0") from None
        _eq(got, 0.0, f"partial_credit({resp!r}, '94', 4) (malformed)")
    _eq(fn(" 94\n", "94", 4), 1.0, "partial_credit(' 94\\n', '94', 4) (surrounding whitespace is stripped)")


def check_credit_length_cap(fn):
    """Responses longer than max_len get 0 (a flood of digits must not farm credit)."""
    _eq(fn("94000", "94", 4), 0.0, "partial_credit('94000', '94', max_len=4)")
    _eq(fn("9" * 10_000, "94", 4), 0.0, "partial_credit('9' * 10000, '94', max_len=4)")
    _eq(fn("94000", "94", 5), 0.4, "partial_credit('94000', '94', max_len=5)")


def check_credit_matches_task_reward(fn):
    """Agrees with the add2 task's dense reward on random responses."""
    task, rng = make_task("add2", dense=True), random.Random(0)
    for a, b in task.sample_train(200, rng):
        ans = task.answer(a, b)
        resp = rng.choice([ans, task.wrong_answer(a, b, rng), ans[:-1], ans + "0",
                           "".join(rng.choice("0123456789 x") for _ in range(rng.randint(0, 5)))])
        want = task.reward(task.prompt(a, b), resp)
        _eq(fn(resp, ans, task.max_answer_len + 1), want, f"partial_credit({resp!r}, {ans!r}, 4)")


def _float(got, what: str) -> float:
    assert isinstance(got, float), f"{what}: expected a Python float, got {type(got).__name__} {got!r} " \
                                   "(return 0.0, not 0; a float, not a tensor or a Fraction)"
    return got


def check_credit_returns_python_float(fn):
    """Every answer is a Python float, the 0.0 of a malformed or too long response included
    (`return 0` is an int)."""
    for resp, want in [("94", 1.0), ("49", 0.0), ("9", 0.5), ("", 0.0), ("9a", 0.0), (None, 0.0), ("94000", 0.0)]:
        _eq(_float(fn(resp, "94", 4), f"partial_credit({resp!r}, '94', 4)"), want, f"partial_credit({resp!r}, '94', 4)")


def check_credit_surrounding_whitespace(fn):
    """Stripping removes every kind of surrounding whitespace (tabs, \\r\\n, newlines), not just
    spaces, and max_len is compared with the stripped response ("  94  " with max_len 2 is the
    exact answer); whitespace inside the digits is still malformed."""
    for resp, max_len, want in [("\t94", 4, 1.0), ("94\r\n", 4, 1.0), ("\n\t94 \t", 4, 1.0), ("\t95\n", 4, 0.5),
                                ("9\t4", 4, 0.0), ("9\n4", 4, 0.0), ("  94  ", 2, 1.0), ("94\n", 2, 1.0),
                                ("\t940 ", 3, 2 / 3), (" 940 ", 2, 0.0)]:
        _eq(fn(resp, "94", max_len), want,
            f"partial_credit({resp!r}, '94', max_len={max_len}) (str.strip() removes tabs and newlines; "
            "strip first, then compare the length)")


def credit_divide_by_answer_len(response, answer, max_len):  # "940" gets full credit
    if not isinstance(response, str):
        return 0.0
    r = response.strip()
    if not r or len(r) > max_len or not set(r) <= set("0123456789"):
        return 0.0
    return sum(x == y for x, y in zip(r, answer)) / len(answer)


def credit_any_position(response, answer, max_len):  # digits counted wherever they are
    if not isinstance(response, str):
        return 0.0
    r = response.strip()
    if not r or len(r) > max_len or not set(r) <= set("0123456789"):
        return 0.0
    return min(1.0, sum(min(r.count(d), answer.count(d)) for d in set(r)) / max(len(answer), len(r)))


def credit_isdigit(response, answer, max_len):  # str.isdigit accepts '²' and Arabic-Indic digits
    if not isinstance(response, str):
        return 0.0
    r = response.strip()
    if not r or len(r) > max_len or not r.isdigit():
        return 0.0
    return sum(x == y for x, y in zip(r, answer)) / max(len(answer), len(r))


def credit_no_cap(response, answer, max_len):
    if not isinstance(response, str):
        return 0.0
    r = response.strip()
    if not r or not set(r) <= set("0123456789"):
        return 0.0
    return sum(x == y for x, y in zip(r, answer)) / max(len(answer), len(r))


def credit_no_strip(response, answer, max_len):
    if not isinstance(response, str) or not response or len(response) > max_len:
        return 0.0
    if not set(response) <= set("0123456789"):
        return 0.0
    return sum(x == y for x, y in zip(response, answer)) / max(len(answer), len(response))


def credit_raises_on_non_str(response, answer, max_len):
    r = response.strip()
    if not r or len(r) > max_len or not set(r) <= set("0123456789"):
        return 0.0
    return sum(x == y for x, y in zip(r, answer)) / max(len(answer), len(r))


def credit_int_zero(response, answer, max_len):  # `return 0`: an int where a float is promised
    if not isinstance(response, str):
        return 0
    r = response.strip()
    if not r or len(r) > max_len or not set(r) <= set("0123456789"):
        return 0
    return sum(x == y for x, y in zip(r, answer)) / max(len(answer), len(r))


def credit_strips_spaces_and_newlines_only(response, answer, max_len):  # strip(" \n"): a tab stays
    if not isinstance(response, str):
        return 0.0
    r = response.strip(" \n")
    if not r or len(r) > max_len or not set(r) <= set("0123456789"):
        return 0.0
    return sum(x == y for x, y in zip(r, answer)) / max(len(answer), len(r))


# --- safe_arith -----------------------------------------------------------------------------
def _call(fn, text, **kw):
    try:
        return fn(text, **kw)
    except NotImplementedError:
        raise
    except Exception as e:
        raise AssertionError(f"safe_arith({text!r}{', ' if kw else ''}{', '.join(f'{k}={v!r}' for k, v in kw.items())}) "
                             f"raised {type(e).__name__}: {e}; it must return None instead") from None


def check_parse_hand_values(fn):
    """Precedence, left associativity, parentheses, spaces."""
    for text, want in [("1+2*3", 7), ("(1+2)*3", 9), ("10-4-3", 3), ("2*3-4*5", -14), ("2*(3+(4-1))", 12),
                       (" 7 * 6 ", 42), ("0", 0), ("1 2", 12), ("100-1", 99), ("2*3*4", 24), ("8-(3-1)", 6)]:
        got = _call(fn, text)
        assert got == want and isinstance(got, int), f"safe_arith({text!r}): expected {want}, got {got!r}"


def check_parse_malformed_is_none(fn):
    """Malformed and malicious inputs give None and never raise."""
    for text in ["", " ", "1+", "+1", "-1", "(1+2", "1+2)", "()", "1/2", "2**3", "01", "007", "1e3", "1.5",
                 "١+٢", "²", "1;2", "abc", "__import__('os').system('ls')", "(lambda: 1)()", "[1]", "1_000",
                 "0x10", "1 +* 2", ")(", "*", "((", None, 42, b"1+2"]:
        got = _call(fn, text)
        assert got is None, f"safe_arith({text!r}): expected None (not a valid expression), got {got!r}"


def check_parse_limits(fn):
    """max_depth, max_value, max_len and the 7-digit cap."""
    assert _call(fn, "(" * 6 + "1" + ")" * 6, max_depth=6) == 1, "6 nested parentheses are allowed with max_depth=6"
    assert _call(fn, "(" * 7 + "1" + ")" * 7, max_depth=6) is None, "7 nested parentheses must be rejected (max_depth=6)"
    assert _call(fn, "((2))", max_depth=1) is None, "'((2))' has depth 2 > max_depth=1"
    assert _call(fn, "999*999*999") is None, "999*999*999 exceeds max_value=10**6: expected None"
    assert _call(fn, "999*999*999", max_value=10 ** 9) == 997002999, "with max_value=10**9, 999*999*999 = 997002999"
    assert _call(fn, "1000-2000") == -1000, "1000-2000 = -1000 (|value| <= max_value is fine)"
    assert _call(fn, "5000*300-2000000") is None, "5000*300 = 1.5e6 is over max_value: None"
    assert _call(fn, "1+" * 40 + "1") is None, "an 81-character expression exceeds max_len=64"
    assert _call(fn, "1+" * 40 + "1", max_len=100) == 41, "with max_len=100, '1+1+...+1' (41 ones) = 41"
    assert _call(fn, "12345678", max_value=10 ** 9) is None, "numbers have at most 7 digits"


def check_parse_allowed_multiset(fn):
    """`allowed`: each number at most as often as it is given."""
    assert _call(fn, "3+3", allowed=(3, 3)) == 6, "safe_arith('3+3', allowed=(3, 3)) = 6"
    assert _call(fn, "3+3", allowed=(3, 4)) is None, "'3+3' uses 3 twice but allowed=(3, 4) has one 3"
    assert _call(fn, "3+5", allowed=(3, 4)) is None, "5 is not in allowed=(3, 4)"
    assert _call(fn, "3*4", allowed=(3, 4, 5)) == 12, "using a sub-multiset of allowed is fine"
    assert _call(fn, "25+3*7", allowed=[3, 7, 25]) == 46, "safe_arith('25+3*7', allowed=[3, 7, 25]) = 46"
    nums = [3, 3]
    _call(fn, "3+3", allowed=nums)
    assert nums == [3, 3], "safe_arith modified the caller's `allowed` list"


def check_parse_deep_and_long_inputs(fn):
    """Pathological inputs: deep nesting, huge strings, return None quickly and never crash."""
    for text in ["(" * 5000 + "1" + ")" * 5000, "1" * 100_000, "(" * 50 + "1", "9" * 8 + "*9"]:
        got = _call(fn, text, max_len=10 ** 6)
        assert got is None, f"safe_arith({text[:20]!r}... ({len(text)} chars)): expected None, got {got!r}"


def check_parse_never_evaluates(fn):
    """The parser must not hand model text to eval/exec/compile."""
    saved = builtins.eval, builtins.exec, builtins.compile

    def forbidden(*a, **k):
        raise AssertionError("safe_arith called eval/exec/compile: never run model text as code; parse it")
    builtins.eval = builtins.exec = builtins.compile = forbidden
    try:
        for text, want in [("1+2*3", 7), ("(4-1)*2", 6), ("2**3", None), ("9", 9)]:
            got = fn(text)
            assert got == want, f"safe_arith({text!r}): expected {want}, got {got!r}"
    finally:
        builtins.eval, builtins.exec, builtins.compile = saved


def check_parse_fuzz_matches_reference(fn):
    """500 random strings over the grammar's alphabet: same answers as the reference parser."""
    rng = random.Random(0)
    for _ in range(500):
        text = "".join(rng.choice("0123456789+-*() ") for _ in range(rng.randint(0, 14)))
        allowed = rng.choice([None, (1, 2, 3), (0, 5, 5)])
        want = minirl.countdown.safe_arith(text, allowed=allowed, max_depth=3, max_value=1000)
        got = _call(fn, text, allowed=allowed, max_depth=3, max_value=1000)
        assert got == want, f"safe_arith({text!r}, allowed={allowed}, max_depth=3, max_value=1000): " \
                            f"expected {want!r}, got {got!r}"


def check_parse_tabs_and_newlines_are_rejected(fn):
    """Only spaces are removed: a tab, a newline or a carriage return is a character outside the
    grammar, so the text is not an expression (None), wherever it sits."""
    for text in ["1+\t2", "1+2\n", "\t7", "7\r\n", "1\n+2", "(1+2)\t*3"]:
        got = _call(fn, text)
        assert got is None, f"safe_arith({text!r}): expected None (only ' ' is removed; tabs and newlines are " \
                            f"not allowed), got {got!r}"
    assert _call(fn, " 7 * 6 ") == 42, "safe_arith(' 7 * 6 ') = 42 (spaces are removed)"


def check_parse_spaces_count_towards_max_len(fn):
    """max_len limits the text as given, spaces included (check the length before removing them):
    71 characters of which 70 are spaces are too long for max_len 64."""
    for text, kw, want in [(" " * 70 + "1", {}, None), ("1 + 2", {"max_len": 4}, None), ("1 + 2", {"max_len": 5}, 3),
                           ("1+2" + " " * 62, {}, None), ("1+2" + " " * 61, {}, 3)]:
        got = _call(fn, text, **kw)
        assert got == want, f"safe_arith({text!r} ({len(text)} characters){', ' if kw else ''}" \
                            f"{', '.join(f'{k}={v}' for k, v in kw.items())}): expected {want!r}, got {got!r} " \
                            "(spaces count towards max_len)"


def check_parse_adjacent_and_nested_parentheses(fn):
    """Depth is nesting, not the number of parentheses: groups side by side are depth 1
    ("(1)+(2)*(3)" is fine with max_depth=1), nested ones add up; adjacent groups need an operator
    between them ("(1)(2)" is not an expression: no implicit multiplication)."""
    for text, kw, want in [("(1)+(2)*(3)", {"max_depth": 1}, 7), ("(1)+(2)+(3)+(4)+(5)+(6)+(7)", {}, 28),
                           ("((1)+(2))*((3))", {"max_depth": 2}, 9), ("((1)+(2))", {"max_depth": 1}, None),
                           ("(2*(3+1))-((4))", {"max_depth": 2}, 4), ("(1)(2)", {}, None), ("2(3)", {}, None),
                           ("(2)3", {}, None), ("(1))(", {}, None), ("(1)+()", {}, None)]:
        got = _call(fn, text, **kw)
        assert got == want, f"safe_arith({text!r}{', ' if kw else ''}{', '.join(f'{k}={v}' for k, v in kw.items())}): " \
                            f"expected {want!r}, got {got!r}"



class _Bad(Exception):
    pass


def _parser(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64, precedence=True, left=True,
            multiset=True, depth_limit=True, value_limit=True, all_whitespace=False, length_after_spaces=False,
            count_parentheses=False):
    """A configurable parser for the buggy variants below."""
    if not isinstance(text, str) or (len(text) > max_len and not length_after_spaces):
        return None
    s = "".join(text.split()) if all_whitespace else text.replace(" ", "")
    if not s or not set(s) <= set("0123456789+-*()") or (length_after_spaces and len(s) > max_len):
        return None
    if count_parentheses:
        if s.count("(") > max_depth:
            return None
        depth_limit = False
    pool = None if allowed is None else list(allowed)
    pos = 0

    def number():
        nonlocal pos
        start = pos
        while pos < len(s) and s[pos].isdigit():
            pos += 1
        tok = s[start:pos]
        if not tok or (len(tok) > 1 and tok[0] == "0") or len(tok) > 7:
            raise _Bad
        n = int(tok)
        if pool is not None:
            if n not in pool:
                raise _Bad
            if multiset:
                pool.remove(n)
        return n

    def check(v):
        if value_limit and abs(v) > max_value:
            raise _Bad
        return v

    def factor(d):
        nonlocal pos
        if pos < len(s) and s[pos] == "(":
            if depth_limit and d >= max_depth:
                raise _Bad
            pos += 1
            v = expr(d + 1)
            if pos >= len(s) or s[pos] != ")":
                raise _Bad
            pos += 1
            return v
        return number()

    def term(d):
        nonlocal pos
        v = factor(d)
        while pos < len(s) and s[pos] == "*":
            pos += 1
            v = check(v * factor(d))
        return v

    def expr(d):
        nonlocal pos
        unit = term if precedence else factor
        v = unit(d)
        while pos < len(s) and s[pos] in ("+-" if precedence else "+-*"):
            op = s[pos]
            pos += 1
            if not left and op == "-":
                return check(v - expr(d))                      # right-associative: 10-4-3 = 10-(4-3)
            w = unit(d)
            v = check(v + w if op == "+" else v - w if op == "-" else v * w)
        return v

    try:
        v = expr(0)
        return v if pos == len(s) else None
    except (_Bad, RecursionError):
        return None


def parse_with_eval(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    """Whitelists the characters, then evals: '2**3' gets through, and it is eval on model text."""
    if not isinstance(text, str) or len(text) > max_len or not text.strip():
        return None
    if not set(text) <= set("0123456789+-*() "):
        return None
    try:
        v = eval(text, {"__builtins__": {}})  # noqa: S307  (the mistake this variant shows)
    except Exception:
        return None
    return v if isinstance(v, int) and abs(v) <= max_value else None


def parse_left_to_right(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    return _parser(text, allowed, max_depth, max_value, max_len, precedence=False)


def parse_right_assoc_minus(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    return _parser(text, allowed, max_depth, max_value, max_len, left=False)


def parse_allowed_as_set(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    return _parser(text, allowed, max_depth, max_value, max_len, multiset=False)


def parse_no_depth_limit(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    return _parser(text, allowed, max_depth, max_value, max_len, depth_limit=False)


def parse_no_value_limit(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    return _parser(text, allowed, max_depth, max_value, max_len, value_limit=False)


def parse_removes_all_whitespace(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    """"".join(text.split()) removes tabs and newlines too, where only spaces may go."""
    return _parser(text, allowed, max_depth, max_value, max_len, all_whitespace=True)


def parse_length_after_removing_spaces(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    """Removes the spaces first, then checks max_len: a text of 1,000 spaces gets through."""
    return _parser(text, allowed, max_depth, max_value, max_len, length_after_spaces=True)


def parse_counts_parentheses_as_depth(text, allowed=None, max_depth=6, max_value=10 ** 6, max_len=64):
    """Counts the '(' as the depth: "(1)+(2)" has depth 1, not 2."""
    return _parser(text, allowed, max_depth, max_value, max_len, count_parentheses=True)



# --- pass_at_k ------------------------------------------------------------------------------
def _exact(n, c, k) -> float:
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


def check_pass_hand_values(fn):
    """pass@k from n samples with c correct."""
    for (n, c, k), want in [((5, 2, 1), 0.4), ((5, 2, 2), 0.7), ((5, 4, 2), 1.0), ((4, 0, 2), 0.0),
                            ((4, 4, 1), 1.0), ((10, 3, 5), 1 - 21 / 252), ((16, 1, 8), 0.5)]:
        _eq(fn(n, c, k), want, f"pass_at_k(n={n}, c={c}, k={k})", tol=1e-9)


def check_pass_at_1_is_fraction_correct(fn):
    """pass@1 = c / n: the chance that one sample is correct."""
    for n in (1, 7, 16, 100):
        for c in range(0, n + 1, max(1, n // 5)):
            _eq(fn(n, c, 1), c / n, f"pass_at_k(n={n}, c={c}, k=1) (should be c/n)", tol=1e-9)


def check_pass_exact_against_binomials(fn):
    """Matches 1 - C(n-c, k)/C(n, k) computed with exact fractions, large n included."""
    for n, c, k in [(20, 3, 7), (50, 10, 10), (200, 1, 100), (1000, 10, 100), (64, 63, 2), (8, 7, 2)]:
        _eq(fn(n, c, k), _exact(n, c, k), f"pass_at_k(n={n}, c={c}, k={k})", tol=1e-9)


def check_pass_bad_input_raises(fn):
    """c > n, c < 0, k = 0 or k > n are errors (ValueError)."""
    for n, c, k in [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)]:
        try:
            got = fn(n, c, k)
        except ValueError:
            continue
        raise AssertionError(f"pass_at_k(n={n}, c={c}, k={k}) returned {got!r}; expected ValueError")


def check_pass_returns_python_float(fn):
    """pass@k is a Python float in every case, the 1.0 of n - c < k and the 0.0 of c = 0 included
    (`return 1` is an int)."""
    for (n, c, k), want in [((5, 4, 2), 1.0), ((4, 0, 2), 0.0), ((5, 2, 1), 0.4), ((3, 3, 3), 1.0)]:
        got = fn(n, c, k)
        assert isinstance(got, float), \
            f"pass_at_k(n={n}, c={c}, k={k}): expected a Python float, got {type(got).__name__} {got!r} (return 1.0, not 1)"
        _eq(got, want, f"pass_at_k(n={n}, c={c}, k={k})")



def _check_args(n, c, k):
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError("bad arguments")


def pass_with_replacement(n, c, k):  # the biased estimator
    _check_args(n, c, k)
    return 1.0 - (1.0 - c / n) ** k


def pass_ignores_k(n, c, k):
    _check_args(n, c, k)
    return c / n


def pass_off_by_one(n, c, k):  # product starts one term early
    _check_args(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c, n + 1) if i > 0)


def pass_no_checks(n, c, k):  # right formula, accepts nonsense arguments
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_returns_int_one(n, c, k):  # `return 1` when every k-subset holds a correct sample
    _check_args(n, c, k)
    if n - c < k:
        return 1
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))



CHECKS = {
    "partial_credit": [check_credit_hand_values, check_credit_one_iff_exact, check_credit_malformed_is_zero_never_raises,
                       check_credit_length_cap, check_credit_matches_task_reward, check_credit_returns_python_float,
                       check_credit_surrounding_whitespace],
    "safe_arith": [check_parse_hand_values, check_parse_malformed_is_none, check_parse_limits,
                   check_parse_allowed_multiset, check_parse_deep_and_long_inputs, check_parse_never_evaluates,
                   check_parse_fuzz_matches_reference, check_parse_tabs_and_newlines_are_rejected,
                   check_parse_spaces_count_towards_max_len, check_parse_adjacent_and_nested_parentheses],
    "pass_at_k": [check_pass_hand_values, check_pass_at_1_is_fraction_correct, check_pass_exact_against_binomials,
                  check_pass_bad_input_raises, check_pass_returns_python_float],
}

BUGGY = {
    "partial_credit": [credit_divide_by_answer_len, credit_any_position, credit_isdigit, credit_no_cap,
                       credit_no_strip, credit_raises_on_non_str, credit_int_zero, credit_strips_spaces_and_newlines_only],
    "safe_arith": [parse_with_eval, parse_left_to_right, parse_right_assoc_minus, parse_allowed_as_set,
                   parse_no_depth_limit, parse_no_value_limit, parse_removes_all_whitespace,
                   parse_length_after_removing_spaces, parse_counts_parentheses_as_depth],
    "pass_at_k": [pass_with_replacement, pass_ignores_k, pass_off_by_one, pass_no_checks, pass_returns_int_one],
}
