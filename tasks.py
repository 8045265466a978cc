"""
Task data and answers, shared by the stages (sft, dpo, verifier, tts, finetune, eval): GSM8K answer extraction and
normalisation, exact match, the bounded calculator, the error anatomy of wrong answers, task loading and the prompt
template, and the benchmarks' loaders, prompts and scorers (SST-2, SAMSum, GSM8K). Generation is in engine.py, the
metrics in metrics.py. Model output is text from an untrusted source: it is parsed, never executed.
"""
import ast
import math
import operator
import os
import re

from metrics import bootstrap_ci, classification_metrics, rouge

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
# inline claims outside annotations: "12 * 3 = 36", "12 × 3 = 36", "$5 + $7 = $12"
INLINE_RE = re.compile(r'((?:\$?\d[\d,.]*\s*[-+*/×÷x]\s*)+\$?\d[\d,.]*)\s*=\s*\$?(-?\d[\d,]*(?:\.\d+)?)')


def check_annotations(solution):
    """Recompute the arithmetic a solution claims: every '<<expr=result>>' annotation and every inline
    'a op b = c' outside them. Returns (n_checked, n_wrong, wrong examples)."""
    checked, wrong = 0, []
    text = solution or ''
    annotated = ANNOTATION_RE.findall(text)
    exprs = {e.replace(' ', '') for e, _ in annotated}  # "39+24 = <<39+24=63>>63" is one claim, not two
    claims = annotated + [(e, c) for e, c in INLINE_RE.findall(ANNOTATION_RE.sub(' ', text))
                          if e.replace(' ', '') not in exprs]
    for expr, claimed in claims:
        try:
            value = calculate(expr)
        except CalcError:
            continue
        checked += 1
        if normalize_number(claimed) != normalize_number(str(value)):
            wrong.append(f"{expr}={claimed} (is {value})")
    return checked, len(wrong), wrong


CATEGORIES = ('correct', 'right_by_accident', 'format_failure', 'misread_operand', 'arithmetic_slip', 'wrong_plan')
NUMBER_RE = re.compile(r'\d+(?:\.\d+)?')


def misread_operands(solution, question):
    """Operands of the solution's '<<expr=...>>' steps that appear neither in the question nor as an earlier
    step's result: the model copied a number wrong (or made one up) before any arithmetic happened."""
    seen = {normalize_number(n) for n in NUMBER_RE.findall((question or '').replace(',', ''))}
    bad = []
    for expr, claimed in ANNOTATION_RE.findall(solution or ''):
        for n in NUMBER_RE.findall(expr.replace(',', '')):
            if normalize_number(n) not in seen:
                bad.append(n)
        seen.add(normalize_number(claimed))
        try:
            seen.add(normalize_number(str(calculate(expr))))
        except CalcError:
            pass
    return bad


def categorize(solution, reference, question=None):
    """Why an answer is right or wrong, first cause first: no '####' line (format failure); with the question,
    a step whose operand is in neither the question nor an earlier result (misread operand); a claimed
    calculation that is wrong (arithmetic slip, or right by accident when the final answer still matches);
    every step grounded and computed right but the answer wrong (a reasoning/plan error)."""
    slips = check_annotations(solution)[1]
    if exact_match(solution, reference):
        return 'right_by_accident' if slips else 'correct'
    if extract_answer(solution) is None:
        return 'format_failure'
    if question is not None and misread_operands(solution, question):
        return 'misread_operand'
    return 'arithmetic_slip' if slips else 'wrong_plan'


def first_departure(solution, reference):
    """Where a worked solution first leaves the reference's path: the character offset in `solution` of its first
    number that differs from the reference's number at the same place (line by line, number by number), the start
    of a line the reference does not have there (or an answer line '####' where it has a step), the end of a line
    that stops short, or the end of the text when it stops early. None when every line's numbers match.
    A step label read off the reference (Lightman et al. 2023 label steps by hand; a generated task knows them):
    the text before the offset is still on a right path, so a verifier can learn where a wrong answer went wrong."""
    sol, ref = solution.split('\n'), reference.split('\n')
    at = 0
    for i, line in enumerate(sol):
        if i >= len(ref) or ('####' in line) != ('####' in ref[i]):
            return at  # a line the reference does not have, or the answer line where it has a step (or back)
        ours, theirs = list(NUMBER_RE.finditer(line.replace(',', ' '))), NUMBER_RE.findall(ref[i].replace(',', ' '))
        for j, m in enumerate(ours):
            if j >= len(theirs) or normalize_number(m.group(0)) != normalize_number(theirs[j]):
                return at + m.start()
        if len(ours) < len(theirs):
            return at + len(line)
        at += len(line) + 1
    return None if len(sol) >= len(ref) else len(solution)


def step_pair(solution, reference):
    """Step-DPO's pair (Lai et al. 2024) from a wrong worked solution: (shared, chosen, rejected) = the lines it
    shares with the reference's path, the reference's step where it leaves that path (first_departure), and its
    own step there. A step keeps its newline when more lines follow it: the pair compares one step, not the rest
    of the solution, whose numbers all follow from the wrong step (and are often computed right from it). None
    when the solution never leaves the reference's path or has more lines than the reference there."""
    sol, ref = solution.strip(), reference.strip()
    at = first_departure(sol, ref)
    if not sol or at is None:
        return None
    k = sol.count('\n', 0, at)  # the departing line
    ours, theirs = sol.split('\n'), ref.split('\n')
    if k >= len(theirs):
        return None
    shared = ''.join(line + '\n' for line in ours[:k])
    return (shared, theirs[k] + '\n' * (k < len(theirs) - 1), ours[k] + '\n' * (k < len(ours) - 1))


def step_on_path(shared, step, reference):
    """Whether `step` (one line, after the lines `shared`) keeps a solution on the reference's path: every number
    of the lines so far where the reference has it (first_departure finds none before the step's end)."""
    text = (shared + step).strip()
    at = first_departure(text, reference.strip())
    return at is None or at >= len(text)


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
        path = os.path.join(task_dir, f'{split}.jsonl')
        if not os.path.exists(path):
            raise UserError(f"{path} is missing (task_dir={task_dir})")
        return path
    if task == 'arith':
        path = os.path.join(REPO, 'data', 'arith', f'{split}.jsonl')
        if not os.path.exists(path):
            raise UserError(f"{path} is missing; make it with: python data/arith/prepare.py")
        return path
    local = data_dir({'gsm8k': 'gsm8k', 'alpaca': 'sft'}[task])
    path = os.path.join(local or '', f'{split}.jsonl')
    if local is None or not os.path.exists(path):
        raise UserError(f"task '{task}' reads $DATA_DIR/{os.path.basename(local or task)}/{split}.jsonl, which is "
                        f"missing; set DATA_DIR to the shared data folder")
    return path


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


def encode_response(enc, text, tool=False):
    """A response's token ids, and (tool=True) the indices of the ones the calculator writes. With the tool in
    the loop (engine.calculator_tool) the model writes '<<expr=', the calculator writes 'result>>' and the model
    goes on; so the text is encoded in those same pieces, with the calculator's own result in each annotation
    it can evaluate (GSM8K's rounded claims become what the tool would write). Training then skips the tool's
    tokens: the model learns which numbers and operation to write, not the arithmetic (nanochat's tool idea)."""
    if not tool:
        return enc.encode(text), []
    ids, written, start = [], [], 0
    for m in ANNOTATION_RE.finditer(text):
        try:
            value = calculate(m.group(1))
        except CalcError:
            continue  # not arithmetic: the model writes the result itself, as at generation time
        ids += enc.encode(text[start:m.start(2)])  # ... '<<expr=' : the model's
        tool_ids = enc.encode(f"{value}>>")           # 'result>>' : the calculator's
        written += range(len(ids), len(ids) + len(tool_ids))
        ids += tool_ids
        start = m.end()
    return ids + enc.encode(text[start:]), written


def encode_example(enc, prompt, response, tool=False):
    """A (prompt, response) pair as pad_batch's row (ids, n_prompt, skip): prompt + response + EOT, and the
    indices of the calculator-written tokens (encode_response)."""
    p = enc.encode(prompt)
    r, written = encode_response(enc, response, tool)
    return p + r + [enc.eot_token], len(p), [len(p) + j for j in written]


def pad_batch(rows, pad_id=0):
    """[(ids, n_prompt)] or [(ids, n_prompt, skip)] -> x, y (B, L) long tensors for next-token training on the
    response only: y is -1 on the prompt, on the right padding and on the tokens at the indices in `skip`
    (the ones the calculator wrote). Right padding comes after every real token, so causal attention needs no
    mask."""
    import torch
    L = max(len(row[0]) for row in rows) - 1
    x = torch.full((len(rows), L), pad_id, dtype=torch.long)
    y = torch.full((len(rows), L), -1, dtype=torch.long)
    for b, (ids, n_prompt, *skip) in enumerate(rows):
        t = torch.tensor(ids)
        x[b, :len(ids) - 1] = t[:-1]
        y[b, n_prompt - 1:len(ids) - 1] = t[n_prompt:]  # position i predicts token i+1
        for j in (skip[0] if skip else ()):
            y[b, j - 1] = -1                            # token j is not the model's to learn
    return x, y


def encode_pair(enc, prompt, chosen, rejected, T, tool=False, shared=None, cut_rejected=False):
    """A preference pair as (prompt ids, (chosen ids, skip), (rejected ids, skip)) and a reason; skip are the
    indices of a response's calculator-written tokens (encode_response). Whole responses (shared=None) end at EOT.
    A step pair (step_pair) gives `shared`, the steps both responses start with ('' for the first step): encoded
    with them as generation made them and then moved into the prompt, so only the differing step is scored; a
    step that ends in a newline goes on (no EOT), the last line gets EOT. cut_rejected: the rejected response ends
    at its first token unlike the chosen one's (its continuation follows from that token, and lowering it lowers
    the same words in the chosen context too). 'same' (chosen == rejected) and 'too_long' (the responses alone
    leave under 16 prompt tokens) give None; 'prompt_cut' means the prompt lost its beginning to fit the context
    (the end of a conversation is what the response answers); '' otherwise."""
    step = shared is not None
    if (chosen == rejected) if step else (chosen.strip() == rejected.strip()):
        return None, 'same'
    p, s = enc.encode(prompt), encode_response(enc, shared, tool)[0] if shared else []
    sides = []
    for text in (chosen, rejected):
        ids, skip = encode_response(enc, (shared or '') + text, tool)
        if ids[:len(s)] != s:
            return None, 'split'  # the shared text is not a token prefix of this response: not expected
        end = [] if step and text.endswith('\n') else [enc.eot_token]
        sides.append((ids[len(s):] + end, [j - len(s) for j in skip if j >= len(s)]))
    (c, c_skip), (r, r_skip) = sides
    if cut_rejected:
        n = next(j for j in range(len(r)) if j >= len(c) or c[j] != r[j]) + 1
        r, r_skip = r[:n], [j for j in r_skip if j < n]
    p = p + s
    room = T + 1 - max(len(c), len(r))
    if room < 16:
        return None, 'too_long'
    return (p[-room:], (c, c_skip), (r, r_skip)), 'prompt_cut' if len(p) > room else ''


def pair_rows(triples):
    """encode_pair's triples -> pad_batch rows: the B chosen responses, then their B rejected ones."""
    return ([(p + c, len(p), [len(p) + j for j in cs]) for p, (c, cs), _ in triples]
            + [(p + r, len(p), [len(p) + j for j in rs]) for p, _, (r, rs) in triples])

# -----------------------------------------------------------------------------
# Benchmarks read by finetune.py (HF models) and eval.py (our checkpoints): one loader, one prompt, one scorer,
# so prompting baselines, finetuned models and scratch models land in comparable rows.
#   sst2    "Review: {sentence}\nSentiment:" scored by the two label words' logits at the next position
#   samsum  "Dialogue: {dialogue}\nSummary:" (decoders) or "summarize: {dialogue}" (T5), greedy, cut at the
#           first blank line; ROUGE
#   gsm8k   "Question: {question}\nAnswer:" (format_prompt), greedy; exact match

BENCH_HUB = {'sst2': ('glue', 'sst2'), 'samsum': ('knkarthick/samsum', None), 'gsm8k': ('gsm8k', 'main')}
BENCH_FIELDS = {'sst2': ('sentence',), 'samsum': ('dialogue', 'summary'), 'gsm8k': ('question', 'answer')}
EVAL_SPLIT = {'sst2': 'validation', 'samsum': 'test', 'gsm8k': 'test'}  # sst2's test labels are hidden
LABEL_WORDS = (' negative', ' positive')


def label_word_ids(encode):
    """The first token of each label word under a tokenizer's encode(text); both scorers read these logits."""
    from common import UserError
    ids = [encode(w)[0] for w in LABEL_WORDS]
    if ids[0] == ids[1]:
        raise UserError(f"the label words {LABEL_WORDS} share a first token in this tokenizer")
    return ids


def load_benchmark(task, split):
    """Rows of a benchmark split from $DATA_DIR/<task>/<split>.jsonl when present (offline), else the hub via
    `datasets`, and how many were skipped (malformed, empty, or labels/answers outside the task's format)."""
    from common import UserError, data_dir
    if task not in BENCH_HUB:
        raise UserError(f"unknown task '{task}'; choose one of: {', '.join(BENCH_HUB)}")
    local = data_dir(task)
    if local and os.path.exists(os.path.join(local, f'{split}.jsonl')):
        rows, skipped = load_jsonl(os.path.join(local, f'{split}.jsonl'), BENCH_FIELDS[task])
    else:
        try:
            from datasets import load_dataset
            ds = load_dataset(*[a for a in BENCH_HUB[task] if a], split=split)
        except Exception as e:  # noqa: BLE001 - offline, missing dataset: one line, and the local route
            raise UserError(f"cannot load {task}/{split} from the hub ({type(e).__name__}); offline, set DATA_DIR "
                            f"to a folder with {task}/{split}.jsonl") from None
        rows, skipped = [], 0
        for r in ds:
            if all(isinstance(r.get(k), str) and r[k].strip() for k in BENCH_FIELDS[task]):
                rows.append(dict(r))
            else:
                skipped += 1
    valid = {'sst2': lambda r: r.get('label') in (0, 1), 'gsm8k': lambda r: '####' in r['answer']}.get(task)
    if valid:
        skipped += sum(not valid(r) for r in rows)
        rows = [r for r in rows if valid(r)]
    return rows, skipped


def bench_prompt(task, row, seq2seq=False):
    if task == 'sst2':
        return f"Review: {row['sentence'].strip()}\nSentiment:"
    if task == 'samsum':
        return f"summarize: {row['dialogue'].strip()}" if seq2seq else f"Dialogue: {row['dialogue'].strip()}\nSummary:"
    return format_prompt('gsm8k', row)


def first_paragraph(text):
    """A decoder keeps writing past its answer; the first blank line ends it, as in the few-shot format."""
    return text.split('\n\n')[0].strip()


def sst2_report(rows, p_positive):
    """Accuracy, macro-F1 and the error analysis from P(positive): the wrong predictions with their tags, error
    counts by tag, and accuracy on the sentences of each tag (is negation harder than the average sentence?)."""
    labels, predicted = [r['label'] for r in rows], [int(p > 0.5) for p in p_positive]
    metrics = classification_metrics(predicted, labels)
    tags = [sst2_categories(r['sentence'], p, r['label']) for r, p in zip(rows, p_positive)]
    wrong = [dict(input=r['sentence'], label=r['label'], predicted=h, p_positive=p, categories=t)
             for r, p, h, t in zip(rows, p_positive, predicted, tags) if h != r['label']]
    by_tag = {}  # tag -> (sentences, right)
    for t, h, y in zip(tags, predicted, labels):
        for c in t:
            n, right = by_tag.get(c, (0, 0))
            by_tag[c] = (n + 1, right + (h == y))
    metrics['errors_by_category'] = {c: n - right for c, (n, right) in by_tag.items() if n > right}
    metrics['accuracy_by_category'] = {c: dict(n=n, accuracy=right / n) for c, (n, right) in by_tag.items()}
    metrics['item_scores'] = dict(accuracy=[int(h == y) for h, y in zip(predicted, labels)])  # for paired tests
    return metrics, wrong


def samsum_report(rows, outputs):
    """ROUGE of the summaries with 95% bootstrap CIs, each item's ROUGE-1/2/L (item_scores: what a paired test
    against another system on the same dialogues needs), and every (dialogue, output, reference) for reading."""
    means, items = rouge(outputs, [r['summary'] for r in rows], per_item=True)
    metrics = dict(means)
    for k, v in items.items():
        metrics[f'{k}_ci95'] = bootstrap_ci(v) if v else None
    metrics['item_scores'] = {k: [round(x, 2) for x in items[k]] for k in ('rouge1', 'rouge2', 'rougeL')}
    return metrics, [dict(input=r['dialogue'], output=o, reference=r['summary']) for r, o in zip(rows, outputs)]


SST2_NEGATION = re.compile(r"\b(not|no|never|nothing|neither|nor|n't|without|hardly)\b|n't\b", re.I)
SST2_CONTRAST = re.compile(r"\b(but|however|although|though|yet|despite|while)\b", re.I)


# a small lexicon of unambiguous review words: enough to see when a sentence's words point against its label
SST2_POSITIVE = set("""good great best fun funny love lovely beautiful wonderful charming excellent enjoyable brilliant
    delightful perfect entertaining smart fresh touching powerful engaging impressive warm masterpiece compelling
    solid rich clever witty""".split())
SST2_NEGATIVE = set("""bad worst boring dull awful terrible mess stupid flat tedious poor waste predictable lame
    pointless silly ugly tired bland annoying unfunny mediocre weak slow fails failure disappointing lifeless
    incoherent forgettable""".split())


def sst2_categories(sentence, p_positive, label=None):
    """Error-analysis tags for an SST-2 sentence: negation, contrast, sentiment_flip (more lexicon words of the
    opposite polarity than of its label's: "not bad at all" is positive), long (> 25 words), ambiguous (the
    model's P(positive) within 0.4-0.6)."""
    tags = []
    if SST2_NEGATION.search(sentence):
        tags.append('negation')
    if SST2_CONTRAST.search(sentence):
        tags.append('contrast')
    words = re.findall(r"[a-z]+", sentence.lower())
    pos, neg = sum(w in SST2_POSITIVE for w in words), sum(w in SST2_NEGATIVE for w in words)
    if label is not None and (neg > pos if label == 1 else pos > neg):
        tags.append('sentiment_flip')
    if len(sentence.split()) > 25:
        tags.append('long')
    if 0.4 <= p_positive <= 0.6:
        tags.append('ambiguous')
    return tags or ['other']
