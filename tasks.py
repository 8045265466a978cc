"""
Task pieces shared by the math stages (sft, dpo, verifier, tts, eval): GSM8K answer extraction and
normalisation, exact match, and the calculator tool. Model output is text from an untrusted source: it is
parsed, never executed.
"""
import ast
import math
import operator
import re

# -----------------------------------------------------------------------------
# GSM8K answers: the worked solution ends with a line '#### N' (Cobbe et al. 2021)

ANSWER_RE = re.compile(r'####\s*([^\n]*)')


def normalize_number(text):
    """GSM8K normalisation: drop commas, '$', spaces and a trailing '.'/'.0'; None when nothing numeric."""
    if text is None:
        return None
    t = text.strip().replace(',', '').replace('$', '').replace(' ', '').rstrip('.')
    m = re.search(r'-?\d+(?:\.\d+)?', t)
    if not m:
        return None
    num = m.group(0)
    if '.' in num:
        num = num.rstrip('0').rstrip('.')
    return num or '0'


def extract_answer(solution):
    """The normalised number after the last '####', or None (a format failure)."""
    found = ANSWER_RE.findall(solution or '')
    return normalize_number(found[-1]) if found else None


def exact_match(prediction, reference):
    """EM after normalisation: both sides are full solutions or bare numbers."""
    p = extract_answer(prediction) if '####' in (prediction or '') else normalize_number(prediction)
    r = extract_answer(reference) if '####' in (reference or '') else normalize_number(reference)
    return p is not None and p == r


# -----------------------------------------------------------------------------
# Calculator: + - * / // % ** and parentheses over numbers, nothing else. Bounded before any work is done:
# input length, syntax-tree size and depth, exponent size and every intermediate magnitude. No signal-based
# timeouts (SIGALRM does not exist on Windows): the bounds make every evaluation cheap.

class CalcError(ValueError):
    pass


MAX_CHARS = 200
MAX_NODES = 100
MAX_DEPTH = 20
MAX_ABS = 1e15
OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
       ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}


def _eval(node, depth):
    if depth > MAX_DEPTH:
        raise CalcError(f"nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand, depth + 1)
        value = -value if isinstance(node.op, ast.USub) else value
    elif isinstance(node, ast.BinOp) and type(node.op) in OPS:
        a, b = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and b == 0:
            raise CalcError("division by zero")
        if isinstance(node.op, ast.Pow):
            if abs(b) > 64 or (a != 0 and abs(b) * math.log10(abs(a)) > math.log10(MAX_ABS)):
                raise CalcError("power too large")
            if a == 0 and b < 0:
                raise CalcError("division by zero")
        value = OPS[type(node.op)](a, b)
        if isinstance(value, complex):
            raise CalcError("complex result")
    else:
        raise CalcError(f"'{type(node).__name__}' is not arithmetic")
    if abs(value) > MAX_ABS:
        raise CalcError(f"result beyond {MAX_ABS:.0e}")
    return value


def calculate(expr):
    """Evaluate arithmetic text safely. Returns an int when the result is whole, else a float rounded to 6
    places. Raises CalcError with the reason for anything else."""
    if not isinstance(expr, str):
        raise CalcError("not a string")
    if len(expr) > MAX_CHARS:
        raise CalcError(f"longer than {MAX_CHARS} characters")
    text = expr.replace('×', '*').replace('÷', '/').replace('−', '-').replace('x', '*')
    text = re.sub(r'(?<=\d),(?=\d{3}\b)', '', text).replace('$', '').strip()
    if not text:
        raise CalcError("empty")
    try:
        tree = ast.parse(text, mode='eval')
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalcError("not an arithmetic expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalcError(f"more than {MAX_NODES} syntax nodes")
    value = _eval(tree.body, 0)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CalcError("not finite")
        if value.is_integer():
            return int(value)
        return round(value, 6)
    return value


ANNOTATION_RE = re.compile(r'<<([^=<>]{1,200})=([^<>]{0,50})>>')


def check_annotations(solution):
    """Recompute every '<<expr=result>>' a solution claims. Returns (n_checked, n_wrong, wrong examples)."""
    checked, wrong = 0, []
    for expr, claimed in ANNOTATION_RE.findall(solution or ''):
        try:
            value = calculate(expr)
        except CalcError:
            continue
        checked += 1
        if normalize_number(claimed) != normalize_number(str(value)):
            wrong.append(f"{expr}={claimed} (is {value})")
    return checked, len(wrong), wrong
