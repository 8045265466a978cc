"""
Task pieces shared by the math stages (sft, dpo, verifier, tts, eval): GSM8K answer extraction and
normalisation, exact match, and the calculator tool. Model output is text from an untrusted source: it is
parsed, never executed.
"""
import ast
import math
import operator
import os
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


# -----------------------------------------------------------------------------
# Task data and the prompt template (one format for every stage, so rows are comparable):
#   math:   "Question: {question}\nAnswer:" + " {worked solution ending in #### N}<|endoftext|>"
#   alpaca: "Instruction: {instruction}\n[Input: {input}\n]Response:" + " {output}<|endoftext|>"

TASKS = ('arith', 'gsm8k', 'alpaca')


def load_jsonl(path, fields):
    """Rows of a JSONL file that parse and have non-empty string `fields`; the rest are skipped and counted.
    Returns (rows, skipped)."""
    import json
    rows, skipped = [], 0
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if isinstance(row, dict) and all(isinstance(row.get(k), str) and row[k].strip() for k in fields):
                rows.append(row)
            else:
                skipped += 1
    return rows, skipped


def task_file(task, split, task_dir=''):
    """Path of a task split. arith: task_dir or data/arith/ (made by its prepare.py); gsm8k and alpaca:
    task_dir or $DATA_DIR/<gsm8k|sft>/."""
    from common import REPO, UserError, data_dir
    if task_dir:
        return os.path.join(task_dir, f'{split}.jsonl')
    if task == 'arith':
        path = os.path.join(REPO, 'data', 'arith', f'{split}.jsonl')
        if not os.path.exists(path):
            raise UserError(f"{path} is missing; make it with: python data/arith/prepare.py")
        return path
    local = data_dir({'gsm8k': 'gsm8k', 'alpaca': 'sft'}[task])
    if local is None:
        raise UserError(f"task '{task}' reads $DATA_DIR; set DATA_DIR (online loading is done by its prepare step)")
    return os.path.join(local, f'{split}.jsonl')


def load_task(task, split, task_dir=''):
    """[(prompt, response, row)] for a task split, with the number of malformed rows skipped. gsm8k has only
    train/test and alpaca only train: their 'val' is the last 500 (gsm8k) / 200 (alpaca) rows of train,
    which 'train' then leaves out."""
    from common import UserError
    if task not in TASKS:
        raise UserError(f"unknown task '{task}'; choose one of: {', '.join(TASKS)}")
    fields = ('instruction', 'output') if task == 'alpaca' else ('question', 'answer')
    held = {'gsm8k': 500, 'alpaca': 200}.get(task, 0)
    file_split = 'train' if held and split in ('train', 'val') else split
    rows, skipped = load_jsonl(task_file(task, file_split, task_dir), fields)
    if held:
        rows = rows[-held:] if split == 'val' else rows[:-held] if split == 'train' else rows
    return [(format_prompt(task, r), ' ' + (r['output'] if task == 'alpaca' else r['answer']).strip(), r)
            for r in rows], skipped


def format_prompt(task, row):
    if task == 'alpaca':
        extra = f"Input: {row['input']}\n" if row.get('input', '').strip() else ''
        return f"Instruction: {row['instruction']}\n{extra}Response:"
    return f"Question: {row['question']}\nAnswer:"


def pad_batch(rows, pad_id=0):
    """[(ids, n_prompt)] -> x, y (B, L) long tensors for next-token training on the response only: y is -1 on
    the prompt and on the right padding. Right padding comes after every real token, so causal attention
    needs no mask."""
    import torch
    L = max(len(ids) for ids, _ in rows) - 1
    x = torch.full((len(rows), L), pad_id, dtype=torch.long)
    y = torch.full((len(rows), L), -1, dtype=torch.long)
    for b, (ids, n_prompt) in enumerate(rows):
        t = torch.tensor(ids)
        x[b, :len(ids) - 1] = t[:-1]
        y[b, n_prompt - 1:len(ids) - 1] = t[n_prompt:]  # position i predicts token i+1
    return x, y


def wilson_ci(successes, n, z=1.96):
    """95% Wilson score interval for a proportion (better than the normal interval near 0 and 1)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


# -----------------------------------------------------------------------------
# Generation for the math stages (dpo's on-policy pairs, the verifier's data, tts, eval): N completions of one
# prompt share its prefill (GPT.stream num_samples); the calculator can write its results into the stream.

def calculator_tool(enc, n_rows):
    """A force() hook for GPT.stream: when a row's text ends in '<<expr=', the calculator's result and '>>'
    are written in as the next tokens instead of what the model samples (Cobbe et al. 2021 §2.1 use the same
    annotations at test time; nanochat's engine does this with its python tool). Returns (hook, n_calls)."""
    import torch
    texts, queue, calls = [''] * n_rows, [[] for _ in range(n_rows)], [0]

    def force(nxt):
        out = nxt.clone()
        for b in range(n_rows):
            if queue[b]:
                out[b] = queue[b].pop(0)
            texts[b] = (texts[b] + enc.decode([int(out[b])]))[-256:]  # the tail is all a match needs
            m = None if queue[b] else re.search(r'<<([^<>=]{1,200})=$', texts[b])
            if m:
                try:
                    queue[b] = enc.encode(f"{calculate(m.group(1))}>>")
                    calls[0] += 1
                except CalcError:
                    pass  # not arithmetic: the model writes the result itself
        return torch.as_tensor(out)
    return force, calls


def complete(model, enc, prompt, n=1, temperature=0.0, top_k=None, max_new_tokens=128, tool=False,
             generator=None, autocast=None):
    """n completions of one prompt (text up to the first <|endoftext|>) and the tokens each generated.
    Prompts too long for the context raise ConfigError from the model; callers skip and count them."""
    import contextlib
    import torch
    ids = enc.encode(prompt)
    T = model.config.block_size
    x = torch.tensor([ids], device=next(model.parameters()).device)
    force, _ = calculator_tool(enc, n) if tool else (None, None)
    with autocast or contextlib.nullcontext():
        out = model.generate(x, min(max_new_tokens, T - len(ids)), temperature=temperature, top_k=top_k,
                             stop_tokens=(enc.eot_token,), generator=generator, num_samples=n, force=force)
    texts, lengths = [], []
    for row in out[:, len(ids):].tolist():
        row = row[:row.index(enc.eot_token)] if enc.eot_token in row else row
        texts.append(enc.decode(row))
        lengths.append(len(row) + 1)
    return texts, lengths


# -----------------------------------------------------------------------------
# Metrics shared by the verifier, tts and eval

def pass_at_k(n, c, k):
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021, eq. 1, the stable product form)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def auroc(scores, labels):
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties count
    half (Mann-Whitney U). None when one class is absent."""
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return None
    ranked = sorted((s, i) for i, s in enumerate(scores))
    ranks, i = [0.0] * len(scores), 0
    while i < len(ranked):  # average ranks over ties
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k][1]] = (i + j) / 2 + 1
        i = j + 1
    r_pos = sum(r for r, y in zip(ranks, labels) if y)
    return (r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def ece(probs, labels, n_bins=10):
    """Expected calibration error (Guo et al. 2017, eq. 3): bin by predicted P(correct), weight each bin's
    |accuracy - mean confidence| by its size. Also returns the bins for a reliability plot."""
    bins = [[] for _ in range(n_bins)]
    for p, y in zip(probs, labels):
        bins[min(int(p * n_bins), n_bins - 1)].append((p, float(y)))
    rows = [dict(lo=i / n_bins, hi=(i + 1) / n_bins, n=len(b), confidence=sum(p for p, _ in b) / len(b),
                 accuracy=sum(y for _, y in b) / len(b)) for i, b in enumerate(bins) if b]
    total = sum(r['n'] for r in rows)
    return sum(r['n'] / total * abs(r['accuracy'] - r['confidence']) for r in rows) if total else None, rows


def greedy_em(model, enc, pairs, task='arith', max_new_tokens=128, autocast=None, tool=False):
    """Greedy exact match over [(prompt, reference, row)], with the failure anatomy of the wrong answers: no
    '####' line (format failure) or a '<<a op b=c>>' step whose arithmetic is wrong. Prompts that leave no
    room in the context are skipped and counted. Returns (metrics, samples)."""
    math_task = task != 'alpaca'
    correct, samples, too_long = 0, [], 0
    for prompt, reference, _ in pairs:
        if len(enc.encode(prompt)) >= model.config.block_size:
            too_long += 1
            continue
        text = complete(model, enc, prompt, max_new_tokens=max_new_tokens, tool=tool, autocast=autocast)[0][0]
        ok = exact_match(text, reference) if math_task else None
        correct += bool(ok)
        samples.append(dict(prompt=prompt, output=text, reference=reference.strip(), correct=ok,
                            predicted=extract_answer(text) if math_task else None))
    metrics = dict(em=correct / max(1, len(samples)) if math_task else None, n_em=len(samples), too_long=too_long)
    if math_task:
        wrong = [s for s in samples if not s['correct']]
        metrics.update(format_failures=sum(s['predicted'] is None for s in samples),
                       wrong_with_arithmetic_slip=sum(check_annotations(s['output'])[1] > 0 for s in wrong),
                       wrong=len(wrong), em_ci95=wilson_ci(correct, len(samples)))
    return metrics, samples


def sample_solutions(model, enc, pairs, n, temperature=1.0, top_k=None, max_new_tokens=128, autocast=None,
                     seed=0, desc='sampling'):
    """n sampled solutions for each problem of [(prompt, reference, row)], each labelled by final-answer
    correctness: the raw material of on-policy DPO pairs and of the verifier's training set. Deterministic
    by seed. Returns [dict(problem, prompt, reference, text, correct)]; prompts too long are skipped."""
    import torch
    from tqdm import tqdm
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    out = []
    for i, (prompt, reference, _) in enumerate(tqdm(pairs, desc=desc, mininterval=5)):
        if len(enc.encode(prompt)) >= model.config.block_size:
            continue
        texts, _ = complete(model, enc, prompt, n, temperature, top_k, max_new_tokens, generator=g,
                            autocast=autocast)
        out += [dict(problem=i, prompt=prompt, reference=reference.strip(), text=t,
                     correct=exact_match(t, reference)) for t in texts]
    return out
