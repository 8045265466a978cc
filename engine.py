"""
Generation for the math stages (dpo's on-policy pairs, the verifier's data, tts, eval): N completions of one
prompt share its prefill (GPT.stream num_samples), and the calculator tool can write its results into the stream.
Model output is text from an untrusted source: the calculator parses it, nothing executes it.
"""
import contextlib
import os
import re

import torch
from tqdm import tqdm

from metrics import wilson_ci
from tasks import CalcError, calculate, categorize, exact_match, extract_answer


def calculator_tool(enc, n_rows):
    """A force() hook for GPT.stream: when a row's text ends in '<<expr=', the calculator's result and '>>'
    are written in as the next tokens instead of what the model samples (Cobbe et al. 2021 §2.1 use the same
    annotations at test time; nanochat's engine does this with its python tool). Returns (hook, n_calls).
    Only a token whose text ends in '=' can close '<<expr=', so a step decodes just those rows' tails: the hook
    costs a list append per row, not a decode and a regex per row (512 rows: 0.4 ms a step, not 1.8, on 2 cores)."""
    history, queue, calls, ends_eq = [[] for _ in range(n_rows)], [[] for _ in range(n_rows)], [0], {}

    def force(nxt):
        out = nxt.tolist()  # one device-to-host copy a step, not one per row (on a GPU each int() is a sync)
        for b in range(n_rows):
            if queue[b]:  # the calculator's own tokens: its result and '>>', which never end in '='
                out[b] = queue[b].pop(0)
                history[b].append(out[b])
                continue
            t = out[b]
            history[b].append(t)
            if t not in ends_eq:
                ends_eq[t] = enc.decode([t]).endswith('=')
            if not ends_eq[t]:
                continue
            m = re.search(r'<<([^<>=]{1,200})=$', enc.decode(history[b][-256:])[-256:])  # the tail is all it needs
            if m:
                try:
                    queue[b] = enc.encode(f"{calculate(m.group(1))}>>")
                    calls[0] += 1
                except CalcError:
                    pass  # not arithmetic: the model writes the result itself
        return torch.tensor(out, device=nxt.device)
    return force, calls


def stop_at_text(enc, text, n_rows, then=None):
    """A force() hook that ends a row (writes the stop token) once its output contains `text`, after `then` (the
    calculator) has had its say: what a row writes after the end of its answer cannot change it, so it need not
    be decoded (a few-shot prompt's answer ends at the first blank line). As in calculator_tool, a row's tail is
    decoded only at a token that holds the last character of `text` (where an occurrence can complete)."""
    history, ended, holds_last, k = [[] for _ in range(n_rows)], [False] * n_rows, {}, 2 * len(text) + 16

    def force(nxt):
        out = (then(nxt) if then is not None else nxt).tolist()
        for b in range(n_rows):
            if ended[b]:
                out[b] = enc.eot_token
                continue
            t = out[b]
            history[b].append(t)
            if t not in holds_last:
                holds_last[t] = text[-1] in enc.decode([t])
            ended[b] = holds_last[t] and text in enc.decode(history[b][-k:])[-k:]
        return torch.tensor(out, device=nxt.device)
    return force


def left_pad(rows, device):
    """Token lists of different lengths -> x (B, width) left-padded with id 0 and pad (B,) the padding of each
    row: the ragged batch GPT.stream(pad=...) decodes row by row as if each were alone."""
    width = max(len(r) for r in rows)
    pads = [width - len(r) for r in rows]
    x = torch.tensor([[0] * k + list(r) for k, r in zip(pads, rows)], device=device)
    return x, torch.tensor(pads, device=device)


def split_prefix(ids, shots_ids):
    """Prompts that all start with the same few-shot exemplars, each tokenized whole (shots + question, as the
    model reads it) -> (the tokens every prompt starts with, each prompt's rest): the prefix generate_batch
    prefills once. It is the common prefix, not shots_ids itself, because the exemplars' last tokens can tokenize
    differently before a question (a byte-level BPE splits a final '\n\n' before 'Question' into two '\n')."""
    head = os.path.commonprefix([list(shots_ids)] + [list(x) for x in ids])
    return head, [x[len(head):] for x in ids]


def generate_batch(model, enc, prompts, n=1, temperature=0.0, top_k=None, max_new_tokens=128, tool=False,
                   generator=None, autocast=None, max_rows=None, desc=None, prefix=(), stop_text=''):
    """n completions (text up to the first <|endoftext|>, tokens generated) for each prompt. Prompts are sorted
    by token length and decoded max_rows // n at a time (default on a CPU 64 rows, 256 for a model as small as the
    speedrun's; 512 on a GPU), left-padded to the longest of their batch (GPT.stream pad: each row keeps its own
    positions and never attends to padding, so it decodes what it would alone); each prompt is prefilled once for
    its n samples (GPT.stream num_samples). A batch decodes at most min(max_new_tokens, block_size - its longest
    prompt) tokens. A prompt is text or its token ids. Returns, in the order of `prompts`, a list of n (text,
    tokens) or None for a prompt that leaves no room in the context. desc: show a progress bar with this label.
    prefix: token ids that come before every prompt (few-shot exemplars), prefilled once into a cache each batch
    starts from (GPT.stream prefix). stop_text: a row ends once its text contains this (stop_at_text)."""
    from model import KVCache
    T, device = model.config.block_size - len(prefix), next(model.parameters()).device
    ids = [enc.encode(p) if isinstance(p, str) else list(p) for p in prompts]
    order = sorted((i for i, x in enumerate(ids) if len(x) < T), key=lambda i: len(ids[i]))
    shared = None
    if len(prefix):
        shared = KVCache(model.config.n_layer, len(prefix) + model.config.sink_token)
        with torch.no_grad(), autocast or contextlib.nullcontext():
            model(torch.tensor([list(prefix)], device=device), cache=shared, last_only=True)
    out = [None] * len(prompts)
    # rows decoded at once. On a CPU a small model's decode step is a chain of small ops whose fixed cost (Python,
    # dispatch, thread wake-ups) does not grow with the rows: 256 rows sample the speedrun's 4-layer model 1.24x as
    # fast as 64 in two runs, and decode it greedily 1.21x and 1.08x (experiments/bench/decode_rows*.json). The KV
    # cache grows with the rows, so only a model whose row of cache is that small (<= 2 MiB; 1.5 for that model)
    # takes 256; larger ones, where the matmuls weigh more, keep 64 (not measured). On a GPU a small model's step
    # costs about the same for 64 or 512 rows (kernel launches, not arithmetic, set its time).
    cfg = model.config
    row_cache = 2 * cfg.n_layer * cfg.n_kv_head * cfg.head_dim * (T + cfg.sink_token) * 4  # bytes: k and v, fp32
    max_rows = max_rows or (512 if device.type == 'cuda' else 256 if row_cache <= 2 << 20 else 64)
    per_batch = max(1, max_rows // n)
    # a batch decodes min(max_new_tokens, T - its longest prompt) tokens, so it holds only prompts that would decode
    # that many alone: those that leave room for max_new_tokens, or else prompts of one length (order is by length)
    budget = lambda i: min(max_new_tokens, T - len(ids[i]))
    batches = []
    for i in order:
        if batches and len(batches[-1]) < per_batch and budget(batches[-1][0]) == budget(i):
            batches[-1].append(i)
        else:
            batches.append([i])
    for rows in tqdm(batches, desc=desc, disable=desc is None, mininterval=5):
        x, pad = left_pad([ids[i] for i in rows], device)  # (B, width), (B,)
        width = x.size(1)
        force = calculator_tool(enc, len(rows) * n)[0] if tool else None
        force = stop_at_text(enc, stop_text, len(rows) * n, force) if stop_text else force
        with autocast or contextlib.nullcontext():
            y = model.generate(x, min(max_new_tokens, T - width), temperature=temperature, top_k=top_k,
                               stop_tokens=(enc.eot_token,), generator=generator, num_samples=n, force=force,
                               pad=pad if pad.any() else None, prefix=shared)
        new = y[:, width:].tolist()  # (len(rows) * n) rows; prompt b owns rows b*n ... b*n + n - 1
        for b, i in enumerate(rows):
            out[i] = []
            for row in new[b * n:(b + 1) * n]:
                row = row[:row.index(enc.eot_token)] if enc.eot_token in row else row
                out[i].append((enc.decode(row), len(row) + 1))
    return out


def greedy_em(model, enc, pairs, task='arith', max_new_tokens=128, autocast=None, tool=False):
    """Greedy exact match over [(prompt, reference, row)], with the failure anatomy of the wrong answers
    (categorize). Prompts that leave no room in the context are skipped and counted. Returns (metrics, samples)."""
    math_task = task != 'alpaca'
    done = generate_batch(model, enc, [p for p, _, _ in pairs], max_new_tokens=max_new_tokens, tool=tool,
                          autocast=autocast)
    samples = []
    for (prompt, reference, row), got in zip(pairs, done):
        if got is None:
            continue
        (text, n_tokens), = got
        samples.append(dict(prompt=prompt, output=text, reference=reference.strip(), tokens=n_tokens,
                            correct=exact_match(text, reference) if math_task else None,
                            predicted=extract_answer(text) if math_task else None,
                            category=categorize(text, reference, row.get('question')) if math_task else None))
    correct = sum(bool(s['correct']) for s in samples)
    metrics = dict(em=correct / max(1, len(samples)) if math_task else None, n_em=len(samples),
                   too_long=len(pairs) - len(samples))
    if math_task:
        cats = [s['category'] for s in samples]
        metrics.update(em_ci95=wilson_ci(correct, len(samples)), wrong=len(samples) - correct,
                       format_failures=cats.count('format_failure'),
                       misread_operand=cats.count('misread_operand'),
                       wrong_with_arithmetic_slip=cats.count('arithmetic_slip'), wrong_plan=cats.count('wrong_plan'),
                       right_by_accident=cats.count('right_by_accident'))
    return metrics, samples


def sample_solutions(model, enc, pairs, n, temperature=1.0, top_k=None, max_new_tokens=128, autocast=None,
                     seed=0, desc='sampling', tool=False):
    """n sampled solutions for each problem of [(prompt, reference, row)], each labelled by final-answer
    correctness: the raw material of on-policy DPO pairs and of the verifier's training set. Deterministic
    by seed. Returns [dict(problem, prompt, reference, text, correct)]; prompts too long are skipped."""
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    drawn = generate_batch(model, enc, [p for p, _, _ in pairs], n, temperature, top_k, max_new_tokens,
                           tool=tool, generator=g, autocast=autocast, desc=desc)
    return [dict(problem=i, prompt=prompt, reference=reference.strip(), text=t, correct=exact_match(t, reference))
            for i, ((prompt, reference, _), got) in enumerate(zip(pairs, drawn)) if got for t, _ in got]
