"""
A verifier (Cobbe et al. 2021): our GPT trunk with a scalar head that reads a (problem, solution) pair and
predicts P(the final answer is correct). Trained on the generator's own samples, labelled by final-answer
correctness, held out by problem. Used by tts.py and eval.py to rerank N candidates:
    from verifier import score
    p = score("Ava has 3 apples. ...", "Ava starts with 3 apples. ... #### 5", ckpt='out/verifier/best.pt')
Training:
    python verifier.py config/verifier_arith.py
    python verifier.py --generator=out/dpo/best.pt --task=arith
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import json
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from common import (REPO, UserError, append_result, check_writable, configure, cosine_lr, get_tokenizer,
                    load_checkpoint, model_from_checkpoint, optimizer_step, print0, provenance, save_checkpoint,
                    set_lr, setup_runtime, start_log, step_line, write_json)
from engine import sample_solutions
from metrics import auroc, ece, within_group_auroc
from tasks import first_departure, format_prompt, load_task


# -----------------------------------------------------------------------------
# the model and its public API: score(problem, answer)

class Verifier(nn.Module):
    """GPT trunk + a linear value head on every position (Cobbe et al. 2021 §4.2: token-level values train
    better than a single final-token prediction). The score of a solution is the value at its final token."""

    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt
        self.head = nn.Linear(gpt.config.n_embd, 1)
        nn.init.zeros_(self.head.weight)  # start at P = 0.5 everywhere: the head learns, the trunk adapts
        nn.init.zeros_(self.head.bias)

    def forward(self, idx):
        return self.head(self.gpt.trunk(idx)).squeeze(-1)  # (B, T) logits of P(correct)


def encode(enc, prompt, answer):
    """(ids, n_prompt): the same text the generator saw and wrote, closed by <|endoftext|>."""
    p = enc.encode(prompt)
    return p + enc.encode(' ' + answer.strip()) + [enc.eot_token], len(p)


def right_tokens(enc, text, reference):
    """How many response tokens of a wrong solution come before its first departure from the reference
    (tasks.first_departure): the ones a step label calls right. 0 when no departure is found."""
    text = text.strip()
    at = first_departure(text, reference.strip())
    return 0 if not at else len(enc.encode(' ' + text[:at].rstrip()))  # a number starts a new BPE pre-token


def mixed_groups(samples, indices):
    """[(right indices, wrong indices)] per problem that has both, over the given sample indices."""
    by = {}
    for i in indices:
        by.setdefault(samples[i]['problem'], ([], []))[0 if samples[i]['correct'] else 1].append(i)
    return [g for g in by.values() if g[0] and g[1]]


def draw_pairs(groups, n, g):
    """n (right, wrong) pairs, each from one problem (a random mixed problem, then a random sample of each kind),
    flattened as [right, wrong, right, wrong, ...]. g: a torch.Generator, so a step's pairs are reproducible."""
    out = []
    for k in torch.randint(len(groups), (n,), generator=g).tolist():
        right, wrong = groups[k]
        out += [right[torch.randint(len(right), (1,), generator=g).item()],
                wrong[torch.randint(len(wrong), (1,), generator=g).item()]]
    return out


def ranking_loss(scores):
    """Bradley-Terry loss on pairs laid out [right, wrong, ...]: -log sigmoid(s_right - s_wrong), averaged (the
    reward-model loss of Ouyang et al. 2022, eq. 1, with a problem's right answer as the preferred one). It only
    sees differences inside a problem, so the trunk cannot lower it by learning how hard a problem is."""
    return F.softplus(scores[1::2] - scores[0::2]).mean()  # softplus(-d) = -log sigmoid(d), d = s_right - s_wrong


def collate(rows, device):
    """Right-padded ids (B, L), the response mask (B, L) and each row's last real position (B,)."""
    L = max(len(ids) for ids, _ in rows)
    x = torch.zeros(len(rows), L, dtype=torch.long)
    mask = torch.zeros(len(rows), L, dtype=torch.bool)
    for b, (ids, n_prompt) in enumerate(rows):
        x[b, :len(ids)] = torch.tensor(ids)
        mask[b, n_prompt:len(ids)] = True
    last = torch.tensor([len(ids) - 1 for ids, _ in rows])
    return x.to(device), mask.to(device), last.to(device)


@torch.no_grad()
def predict(verifier, rows, device, batch_size=32):
    """P(correct) for [(ids, n_prompt)], in batches."""
    verifier.eval()
    out = []
    for i in range(0, len(rows), batch_size):
        x, _, last = collate(rows[i:i + batch_size], device)
        out += torch.sigmoid(verifier(x).float()[torch.arange(len(last)), last]).tolist()
    return out


def load(path, device='cpu'):
    """A trained verifier from its checkpoint: (verifier, tokenizer, task)."""
    ckpt = load_checkpoint(path)
    if 'head' not in ckpt:
        raise UserError(f"{path} is not a verifier checkpoint (no value head); train one with verifier.py")
    verifier = Verifier(model_from_checkpoint(ckpt, device))
    verifier.head.load_state_dict(ckpt['head'])
    return verifier.to(device).eval(), get_tokenizer(ckpt['config'].get('tokenizer', 'gpt2')), ckpt['config']['task']


_loaded = {}


def score(problem, answer, ckpt='out/verifier/best.pt', device='cpu'):
    """P(answer is correct) for a problem's question text and a worked solution; lists of both give a list.
    Answers longer than the verifier's context are scored on their last block_size tokens."""
    if not os.path.exists(ckpt if not os.path.isdir(ckpt) else os.path.join(ckpt, 'ckpt.pt')):
        raise UserError(f"no verifier at {ckpt}: train one first (python verifier.py config/verifier_arith.py)")
    if (ckpt, device) not in _loaded:
        _loaded[ckpt, device] = load(ckpt, device)
    verifier, enc, task = _loaded[ckpt, device]
    single = isinstance(problem, str)
    problems, answers = ([problem], [answer]) if single else (problem, answer)
    T = verifier.gpt.config.block_size
    rows = []
    for q, a in zip(problems, answers):
        ids, n_prompt = encode(enc, format_prompt(task, {'question': q}), a)
        rows.append((ids[-T:], max(0, n_prompt - max(0, len(ids) - T))))
    scores = predict(verifier, rows, device)
    return scores[0] if single else scores


def mixed_problems(samples):
    """The samples [dict(problem, correct, ...)] of problems that have both right and wrong ones: a problem whose
    samples all agree teaches the verifier how hard the problem is, not which of its answers is right, and only
    the second can rerank (Cobbe et al. 2021 rank the N samples of one problem)."""
    mixed = {i for right, wrong in mixed_groups(samples, range(len(samples))) for i in right + wrong}
    return [s for i, s in enumerate(samples) if i in mixed]


# -----------------------------------------------------------------------------
if __name__ == '__main__':
    out_dir = 'out/verifier'
    generator = 'out/dpo/best.pt'   # the model whose samples are judged (its weights also start the trunk)
    init_from = ''                  # '' = the generator's weights; 'resume' = out_dir/ckpt.pt
    samples_from = ''               # a data.json of an earlier run: train on its samples instead of sampling anew
    task = 'arith'
    task_dir = ''
    n_prompts = 512                 # training problems sampled
    n_val_prompts = 100             # held-out problems (the task's val split) for accuracy/AUROC/ECE
    n_samples = 8                   # samples per problem
    temperature = 1.0
    top_k = 0
    tool = False                    # sample with the calculator writing the results (as the generator is used)
    balance = True                  # subsample the larger class of the training set to the smaller one's size
    mixed_only = False              # train only on problems with both right and wrong samples (what reranking needs)
    token_level = True              # value loss at every response token (Cobbe §4.2); False = final token only
    step_labels = False             # token_level: a wrong answer's tokens before it leaves the reference are right
    pair_loss = 0.0                 # > 0: each batch is batch_size/2 (right, wrong) pairs of one problem, and the
                                    # loss adds this weight x a ranking term on their scores (what reranking needs)
    batch_size = 16
    max_iters = 300
    learning_rate = 1e-4
    warmup_iters = 20
    min_lr = 1e-5
    weight_decay = 0.0
    grad_clip = 1.0                 # 0 = no clipping (the norm is still computed, for the non-finite check)
    max_bad_steps = 5               # non-finite steps are skipped; this many in a row stop the run
    eval_interval = 100
    max_new_tokens = 128
    log_interval = 10
    results_dir = ''                # '' = experiments/ (the final row goes to <results_dir>/verifier/<name>.json)
    name = ''                       # result name; '' = the out_dir's folder name
    seed = 1337
    device = 'auto'
    dtype = 'auto'
    config = configure(globals())
    if step_labels and not token_level:  # before any sampling: a bad flag must not cost the samples
        raise UserError("step_labels labels every response token: it needs token_level=True")
    if pair_loss < 0 or (pair_loss and (batch_size < 2 or batch_size % 2)):
        raise UserError(f"pair_loss={pair_loss} needs pair_loss >= 0 and an even batch_size (got {batch_size})")
    rt = setup_runtime(device, dtype, seed)
    if rt['ddp']:
        raise UserError("verifier.py runs as one process; use python, not torchrun")
    t_start = time.time()

    # -------------------------------------------------------------------------
    # data: the generator's samples, labelled by final-answer correctness, deduplicated per problem
    resume = init_from == 'resume'
    gen_ckpt = load_checkpoint(generator)
    tokenizer = gen_ckpt.get('config', {}).get('tokenizer', 'gpt2')
    enc = get_tokenizer(tokenizer)
    data_path = os.path.join(out_dir, 'data.json')
    check_writable(out_dir, need_bytes=4 * 4 * sum(t.numel() for t in gen_ckpt['model'].values()))  # before sampling
    own = resume and not samples_from and os.path.exists(data_path)  # a killed run's samples, already filtered
    if samples_from or own:
        with open(samples_from or data_path) as f:  # resume is exact
            samples = json.load(f)
    else:
        gen = model_from_checkpoint(gen_ckpt, rt['device']).eval()
        samples = {}
        for split, n in (('train', n_prompts), ('val', n_val_prompts)):
            problems, _ = load_task(task, split, task_dir)
            problems = random.Random(seed).sample(problems, min(n, len(problems)))
            drawn = sample_solutions(gen, enc, problems, n_samples, temperature, top_k or None, max_new_tokens,
                                     rt['autocast'], seed, desc=f'{split} samples', tool=tool)
            seen, kept = set(), []
            for s in drawn:
                if s['text'].strip() and (s['problem'], s['text']) not in seen:
                    seen.add((s['problem'], s['text']))
                    kept.append(s)
            print0(f"{split}: {len(drawn)} samples of {len(problems)} problems, {len(kept)} distinct non-empty, "
                   f"{sum(s['correct'] for s in kept) / max(1, len(kept)):.1%} correct")
            samples[split] = kept
        del gen
    if not own:  # new samples, or another run's (samples_from): this run's filters apply to them too
        if mixed_only:
            samples['train'] = mixed_problems(samples['train'])
            print0(f"mixed_only: {len(samples['train'])} train samples of "
                   f"{len({s['problem'] for s in samples['train']})} problems with both kinds")
        if balance:
            pos = [s for s in samples['train'] if s['correct']]
            neg = [s for s in samples['train'] if not s['correct']]
            k = min(len(pos), len(neg))
            rng = random.Random(seed)
            samples['train'] = rng.sample(pos, k) + rng.sample(neg, k)
        write_json(samples, data_path)
    for split in ('train', 'val'):
        labels = [s['correct'] for s in samples[split]]
        if len(set(labels)) < 2:
            raise UserError(f"verifier {split} data has only {'correct' if labels and labels[0] else 'wrong'} "
                            f"samples; it needs both (a generator that is sometimes right)")
    T = gen_ckpt['model_args']['block_size']
    rows = {split: [encode(enc, s['prompt'], s['text']) for s in samples[split]] for split in samples}
    labels = {split: torch.tensor([float(s['correct']) for s in samples[split]]) for split in samples}
    if step_labels and not all(s.get('reference') for s in samples['train']):
        raise UserError("step_labels needs each sample's reference solution; these samples have none")
    # each training row's position where its label turns from right (1) to wrong (0): the end for a right answer,
    # its first response token for a wrong one (the outcome at every token), or with step_labels where it departs
    right = torch.tensor([len(ids) if s['correct'] else
                          n_prompt + (right_tokens(enc, s['text'], s['reference']) if step_labels else 0)
                          for (ids, n_prompt), s in zip(rows['train'], samples['train'])])
    keep = {split: [i for i, (ids, _) in enumerate(rows[split]) if len(ids) <= T] for split in rows}
    print0(f"verifier data: {len(keep['train'])} train / {len(keep['val'])} val samples "
           f"({sum(len(rows[s]) - len(keep[s]) for s in rows)} longer than the context skipped)")
    groups = mixed_groups(samples['train'], keep['train']) if pair_loss else []
    if pair_loss and not groups:
        raise UserError("pair_loss needs training problems with both right and wrong samples; these have none")

    # -------------------------------------------------------------------------
    ckpt = load_checkpoint(os.path.join(out_dir, 'ckpt.pt')) if resume else gen_ckpt
    verifier = Verifier(model_from_checkpoint(ckpt, rt['device'])).to(rt['device'])
    if resume:
        verifier.head.load_state_dict(ckpt['head'])
    params = [p for p in verifier.parameters()]
    optimizer = torch.optim.AdamW([dict(params=[p for p in params if p.dim() >= 2], weight_decay=weight_decay),
                                   dict(params=[p for p in params if p.dim() < 2], weight_decay=0.0)],
                                  lr=learning_rate, betas=(0.9, 0.95))
    iter_num, best, bad = 0, -1.0, dict(row=0, total=0)  # bad: non-finite steps in a row, in all
    if resume:
        optimizer.load_state_dict(ckpt['optimizer'])
        torch.set_rng_state(ckpt['rng_cpu'])
        iter_num, best = ckpt['iter_num'], ckpt['best_metric']
    ckpt = gen_ckpt = None
    config['tokenizer'] = tokenizer
    log = start_log(out_dir, config, iter_num if resume else 0)

    def get_batch(it):
        """Step `it`'s rows are a pure function of (seed, it): resume is exact."""
        g = torch.Generator().manual_seed(seed * 1_000_003 + it)
        if pair_loss:  # rows 2i, 2i+1: a right and a wrong answer to one problem
            idx = draw_pairs(groups, batch_size // 2, g)
        else:
            idx = [keep['train'][i] for i in torch.randint(len(keep['train']), (batch_size,), generator=g).tolist()]
        x, mask, last = collate([rows['train'][i] for i in idx], rt['device'])
        return x, mask, last, labels['train'][idx].to(rt['device']), right[idx].to(rt['device'])

    def evaluate():
        """Held-out problems: accuracy at 0.5, AUROC, ECE, and what reranking buys: the fraction of problems
        whose top-scored sample is correct, against a random sample (the generator's accuracy) and an oracle."""
        vrows = [rows['val'][i] for i in keep['val']]
        vs = [samples['val'][i] for i in keep['val']]
        probs = predict(verifier, vrows, rt['device'])
        y = [bool(s['correct']) for s in vs]
        calib, bins = ece(probs, y)
        by_problem = {}
        for p, s in zip(probs, vs):
            by_problem.setdefault(s['problem'], []).append((p, s['correct']))
        verifier.train()
        within, n_groups = within_group_auroc(probs, y, [s['problem'] for s in vs])
        return dict(accuracy=sum((p > 0.5) == t for p, t in zip(probs, y)) / len(y), auroc=auroc(probs, y), ece=calib,
                    within_problem_auroc=within, within_problem_n=n_groups,
                    rerank_top1=sum(max(g, key=lambda t: t[0])[1] for g in by_problem.values()) / len(by_problem),
                    random_pick=sum(sum(c for _, c in g) / len(g) for g in by_problem.values()) / len(by_problem),
                    oracle=sum(any(c for _, c in g) for g in by_problem.values()) / len(by_problem),
                    n_val=len(y), n_val_problems=len(by_problem), positive_rate=sum(y) / len(y), bins=bins)

    def save(name, metrics, resumable=True):
        extra = dict(optimizer=optimizer.state_dict(), rng_cpu=torch.get_rng_state()) if resumable else {}
        save_checkpoint(os.path.join(out_dir, name), verifier.gpt, verifier.gpt.config.__dict__, config,
                        head=verifier.head.state_dict(), iter_num=iter_num, best_metric=best, metrics=metrics, **extra)

    verifier.train()
    last_t = (time.time(), iter_num)
    while True:
        lr = set_lr(optimizer, cosine_lr(iter_num, learning_rate, warmup_iters, max_iters, min_lr))
        if iter_num % eval_interval == 0 or iter_num == max_iters:
            metrics = evaluate()
            print0(f"step {iter_num}: val acc {metrics['accuracy']:.3f}, auroc {metrics['auroc']:.3f}, "
                   f"ece {metrics['ece']:.3f}, top-1 of reranked {metrics['rerank_top1']:.3f} "
                   f"(random {metrics['random_pick']:.3f}, oracle {metrics['oracle']:.3f})")
            log(dict(iter=iter_num, split='val', **{k: v for k, v in metrics.items() if k != 'bins'},
                     time_s=round(time.time() - t_start, 2)))
            if iter_num > 0:
                if metrics['auroc'] > best:
                    best = metrics['auroc']
                    save('best.pt', metrics, resumable=False)
                save('ckpt.pt', metrics)
            last_t = (time.time(), iter_num)
        if iter_num >= max_iters:
            break
        x, mask, last, y, r = get_batch(iter_num)
        with rt['autocast']:
            logits = verifier(x).float()  # (B, L)
        final = logits[torch.arange(len(last)), last]  # (B,) each row's score: the value at its final token
        if token_level:  # every response token predicts the outcome (or, with step_labels, the path so far)
            target = (torch.arange(logits.size(1), device=r.device)[None, :] < r[:, None]).float()  # (B, L)
            loss = (F.binary_cross_entropy_with_logits(logits, target, reduction='none') * mask).sum() / mask.sum()
        else:
            loss = F.binary_cross_entropy_with_logits(final, y)
        if pair_loss:  # rank the right answer's score above the wrong one's
            loss = loss + pair_loss * ranking_loss(final)
        loss.backward()
        optimizer_step(optimizer, params, loss.detach(), grad_clip, bad, max_bad_steps, iter_num,
                       f"The last good checkpoint is {out_dir}/ckpt.pt; lower learning_rate")
        if iter_num % log_interval == 0:
            dt = (time.time() - last_t[0]) / max(1, iter_num + 1 - last_t[1])
            last_t = (time.time(), iter_num + 1)
            print0(step_line(iter_num, loss.item(), lr, dt))
            log(dict(iter=iter_num, split='train', loss=loss.item(), lr=lr))
        iter_num += 1

    name = name or os.path.basename(os.path.normpath(out_dir))
    summary = dict(name=name, out_dir=out_dir, generator=generator, task=task, iters=iter_num,
                   train_samples=len(keep['train']), **{f'val_{k}': v for k, v in metrics.items()},
                   best_auroc=best, config=config, **provenance(t_start))
    write_json(summary, os.path.join(out_dir, 'summary.json'))
    append_result(summary, 'verifier', name, results_dir or os.path.join(REPO, 'experiments'))
    print0(f"done: val auroc {metrics['auroc']:.3f}, ece {metrics['ece']:.3f}, reranked top-1 {metrics['rerank_top1']:.3f}")
