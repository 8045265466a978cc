"""
Direct Preference Optimization (Rafailov et al. 2023), hand-written: the policy starts from an SFT checkpoint,
a frozen copy of it is the reference, and the loss pushes up the policy's log-ratio on the chosen response
relative to the rejected one. No reward model, no sampling inside the loop.
Pairs come from one of:
  on_policy  sample n_samples solutions per training problem from the SFT model; chosen = a correct one,
             rejected = a wrong one (problems where all or none are correct give no pair); greedy_pairs: the
             greedy solution is one side of each pair; step_pairs: each wrong answer's first wrong step
             against the reference's step there, after the steps they share (Step-DPO, Lai et al. 2024)
  hh         Anthropic HH-RLHF pairs ($DATA_DIR/preference/{train,test}.jsonl)
  <path>     a folder with train.jsonl / val.jsonl of {"prompt", "chosen", "rejected"}, or the pairs.json of an
             earlier on_policy run (the same pairs under another loss; greedy EM on the same task's val split)
    python dpo.py config/dpo_arith.py
    python dpo.py --init_from=out/sft/best.pt --pairs=hh --out_dir=out/dpo_hh
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import copy
import json
import random
import time

import torch
import torch.nn.functional as F

from common import (REPO, UserError, append_result, check_writable, configure, cosine_lr, data_dir, get_tokenizer,
                    load_checkpoint, model_from_checkpoint, optimizer_step, print0, provenance, save_checkpoint,
                    set_lr, setup_runtime, start_log, step_line, write_json, write_jsonl)
from model import sequence_logps
from engine import generate_batch, greedy_em, sample_solutions
from tasks import (encode_example, encode_pair, encode_response, load_jsonl, load_task, pad_batch, pair_rows,
                   step_on_path, step_pair)

# -----------------------------------------------------------------------------
out_dir = 'out/dpo'
init_from = 'out/sft/best.pt'   # the SFT checkpoint (policy start and reference), or 'resume'
pairs = 'on_policy'             # on_policy | hh | a folder with train.jsonl/val.jsonl of prompt/chosen/rejected
task = 'arith'                  # on_policy: the task whose training problems are sampled
task_dir = ''
n_prompts = 512                 # on_policy: training problems sampled
n_samples = 8                   # on_policy: samples per problem
pairs_per_prompt = 2            # on_policy: at most this many (correct, wrong) pairs per problem
greedy_pairs = False            # on_policy: one side of every pair is the greedy solution (what EM scores)
step_pairs = False              # on_policy: Step-DPO pairs, one step each (the greedy answer's first if wrong)
cut_rejected = False            # step pairs: score the rejected step only up to its first token unlike the chosen
own_steps = 0                   # step pairs: > 0 samples this many chosen steps from the model itself (Lai et al.)
temperature = 1.0
top_k = 0                       # 0 = no top-k filter
val_fraction = 0.1              # on_policy: share of the problems whose pairs are held out
loss_type = 'sigmoid'           # sigmoid (DPO eq. 7) | ipo (Azar et al. 2023 eq. 17)
beta = 0.1                      # 0 with nll_weight > 0: the NLL term alone (rejection-sampling fine-tuning)
label_smoothing = 0.0           # > 0 with sigmoid: conservative DPO (cDPO), labels flipped with this probability
nll_weight = 0.0                # > 0: add this times the chosen response's per-token NLL (RPO, Pang et al. 2024)
tool = False                    # math tasks: sample and evaluate with the calculator; no loss on its tokens
batch_size = 8                  # pairs per step
max_iters = 200
learning_rate = 1e-5
warmup_iters = 20
min_lr = 1e-6
weight_decay = 0.0
grad_clip = 1.0                 # 0 = no clipping (the norm is still computed, for the non-finite check)
max_bad_steps = 5               # non-finite steps are skipped; this many in a row stop the run
eval_interval = 50
eval_iters = 10                 # held-out pair batches per eval
n_eval = 200                    # task val problems scored by greedy EM at each eval (0 = none)
max_new_tokens = 128
log_interval = 10
name = ''                       # result name; '' = the out_dir's folder name
results_dir = ''                # '' = experiments/ (the final row goes to <results_dir>/dpo/<run>.json)
seed = 1337
device = 'auto'
dtype = 'auto'


# -----------------------------------------------------------------------------
# the loss (sequence_logps, log pi(y|x) summed over response tokens, is in model.py): the rest is plumbing

def dpo_loss(pi_chosen, pi_rejected, ref_chosen, ref_rejected, beta, loss_type='sigmoid', label_smoothing=0.0,
             nll_weight=0.0, chosen_tokens=None):
    """Per-pair losses and implicit rewards r = beta * log(pi/ref) (DPO §5). h is the log-ratio margin
    (log pi(yw)/ref(yw)) - (log pi(yl)/ref(yl)).
    sigmoid: -log sigma(beta h) (DPO eq. 7); with label smoothing e, (1-e) of that plus e of -log sigma(-beta h)
    (cDPO, Mitchell 2023). ipo: (h - 1/(2 beta))^2 (IPO, Azar et al. 2023 eq. 17).
    nll_weight a > 0 adds a * -log pi(yw) / |yw| (chosen_tokens = |yw|): iterative RPO's loss (Pang et al. 2024
    eq. 1), which keeps the chosen solutions likely; plain DPO can lower both responses' likelihoods."""
    h = (pi_chosen - ref_chosen) - (pi_rejected - ref_rejected)
    if loss_type == 'ipo':
        losses = (h - 1 / (2 * beta)) ** 2
    else:
        losses = -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    if nll_weight:
        losses = losses - nll_weight * pi_chosen / chosen_tokens
    return losses, beta * (pi_chosen - ref_chosen).detach(), beta * (pi_rejected - ref_rejected).detach()


def pair_up(group, k, rng, greedy=None):
    """At most k (chosen, rejected) texts from one problem's samples [dict(text, correct)], deduplicated.
    greedy=(text, correct): every pair has the greedy solution on one side, against samples of the other
    outcome: a wrong greedy answer is rejected against right samples, a right one is chosen against wrong
    samples. Pairs of two sampled solutions move the sampling distribution, which greedy decoding may not see."""
    good = list(dict.fromkeys(s['text'] for s in group if s['correct']))  # deduplicated, order kept
    bad = list(dict.fromkeys(s['text'] for s in group if not s['correct']))
    if greedy is None:
        combos = [(g, b) for g in good for b in bad]
    elif greedy[1]:
        combos = [(greedy[0], b) for b in bad]
    else:
        combos = [(g, greedy[0]) for g in good]
    return rng.sample(combos, min(k, len(combos)))


def step_pairs_of(wrong, reference, k, rng):
    """At most k distinct step pairs (tasks.step_pair: shared steps, the reference's step, the wrong one) from
    one problem's wrong solutions; the first solution's pair is always kept (the greedy answer, when wrong).
    Whole-solution pairs also push down every number computed after the mistake, which follows from it; a step
    pair scores only the step where the solution went wrong (Step-DPO, Lai et al. 2024 §3)."""
    found = list(dict.fromkeys(p for p in (step_pair(t, reference) for t in wrong) if p))  # order kept
    return found[:1] + rng.sample(found[1:], max(0, min(k, len(found)) - 1))


def own_chosen_steps(model, enc, rows, references, n, temperature, top_k, seed, autocast=None, tool=False):
    """Lai et al. (2024) §3: a step pair's chosen step sampled from the model itself after the shared steps (n
    draws), the first that stays on the reference's path (tasks.step_on_path); a pair with none is dropped. The
    reference's own step is one the model found unlikely there, and the NLL term then pulls on tokens the model
    would not write. rows: step-pair rows (prompt, shared, chosen, rejected, problem); references[problem]."""
    prompts = [enc.encode(r['prompt']) + encode_response(enc, r['shared'], tool)[0] for r in rows]
    g = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    longest = 48  # tokens a step may take; a draw cut there is not a step
    drawn = generate_batch(model, enc, prompts, n, temperature, top_k, longest, tool=tool, generator=g,
                           autocast=autocast, desc='own steps', stop_text='\n')
    out = []
    for r, got in zip(rows, drawn):
        for text, n_tokens in got or []:
            line, goes_on = text.split('\n')[0], '\n' in text
            ended = goes_on or n_tokens < longest  # at a newline, or at EOT after a last line
            if ended and line.strip() and step_on_path(r['shared'], line, references[r['problem']]):
                out.append(dict(r, chosen=line + '\n' * goes_on))
                break
    return out


# -----------------------------------------------------------------------------
# the run: only when executed, so that tests and other code can import dpo_loss
if __name__ == '__main__':
    config = configure(globals())
    rt = setup_runtime(device, dtype, seed)
    if rt['ddp']:
        raise UserError("dpo.py runs as one process; use python, not torchrun")
    if loss_type not in ('sigmoid', 'ipo'):
        raise UserError(f"loss_type must be sigmoid or ipo, got '{loss_type}'")
    if beta < 0 or (beta == 0 and (loss_type == 'ipo' or not nll_weight)):
        raise UserError(f"beta={beta}: beta must be > 0, or 0 with nll_weight > 0 and the sigmoid loss (its NLL term "
                        f"alone; ipo divides by beta)")
    if own_steps and not step_pairs:
        raise UserError("own_steps samples the chosen step of step pairs: set step_pairs=True too")
    if pairs.endswith('.json') and not os.path.isfile(pairs):
        raise UserError(f"{pairs} is missing: --pairs=<file>.json reads the pairs.json an earlier on_policy run wrote")
    t_start = time.time()

    # -----------------------------------------------------------------------------
    # models: the policy trains, the reference is a frozen copy of where it started

    resume = init_from == 'resume'
    ckpt = load_checkpoint(os.path.join(out_dir, 'ckpt.pt') if resume else init_from)
    ref_from = ckpt['ref_from'] if resume else init_from
    policy = model_from_checkpoint(ckpt, rt['device'])
    reference = model_from_checkpoint(load_checkpoint(ref_from), rt['device']) if resume else copy.deepcopy(policy)
    reference.eval().requires_grad_(False)
    tokenizer = ckpt.get('config', {}).get('tokenizer', 'gpt2')
    enc = get_tokenizer(tokenizer)
    T = policy.config.block_size
    check_writable(out_dir, need_bytes=4 * 4 * sum(p.numel() for p in policy.parameters()))  # before any sampling


    # -----------------------------------------------------------------------------
    # preference pairs -> [(prompt ids, chosen ids, rejected ids)]

    def on_policy_pairs():
        """Sample the reference (= the SFT model) on training problems; pair correct with wrong answers."""
        problems, _ = load_task(task, 'train', task_dir)
        problems = random.Random(seed).sample(problems, min(n_prompts, len(problems)))
        samples = sample_solutions(reference, enc, problems, n_samples, temperature, top_k or None, max_new_tokens,
                                   rt['autocast'], seed, desc='on-policy samples', tool=tool)
        greedy = {}
        if greedy_pairs or step_pairs:  # the reference's greedy solution of each problem, scored as EM scores it
            by_prompt = {s['prompt']: s for s in greedy_em(reference, enc, problems, task, max_new_tokens,
                                                            rt['autocast'], tool)[1]}
            greedy = {i: (by_prompt[p]['output'], by_prompt[p]['correct']) for i, (p, _, _) in enumerate(problems)
                      if p in by_prompt}
        by_problem = {}
        for s in samples:
            by_problem.setdefault(s['problem'], []).append(s)
        rng, rows = random.Random(seed), []
        for i, group in sorted(by_problem.items()):
            if step_pairs:
                wrong = [greedy[i][0]] if i in greedy and not greedy[i][1] else []
                wrong += [s['text'] for s in group if not s['correct']]
                for shared, c, b in step_pairs_of(wrong, group[0]['reference'], pairs_per_prompt, rng):
                    lead = ' ' if not shared else ''  # a response starts with a space (the prompt ends 'Answer:')
                    rows.append(dict(problem=i, prompt=group[0]['prompt'], shared=' ' + shared if shared else '',
                                     chosen=lead + c, rejected=lead + b))
                continue
            for g, b in pair_up(group, pairs_per_prompt, rng, greedy.get(i)):
                rows.append(dict(problem=i, prompt=group[0]['prompt'], chosen=' ' + g.strip(),
                                 rejected=' ' + b.strip()))
        if step_pairs and own_steps:
            n_rows = len(rows)
            rows = own_chosen_steps(reference, enc, rows, [ref for _, ref, _ in problems], own_steps, temperature,
                                    top_k or None, seed + 1, rt['autocast'], tool)
            print0(f"own steps: {len(rows)} of {n_rows} pairs have a sampled step on the reference's path")
        accuracy = sum(s['correct'] for s in samples) / max(1, len(samples))
        print0(f"on-policy: {len(samples)} samples of {len(by_problem)} problems, {accuracy:.1%} correct -> "
               f"{len(rows)} pairs")
        n_val = max(1, int(val_fraction * len(by_problem)))
        val_problems = set(sorted(by_problem)[-n_val:])  # held out by problem, not by pair
        stats = dict(samples=len(samples), sample_accuracy=accuracy)
        if greedy:
            stats.update(greedy_problems=len(greedy), greedy_accuracy=sum(c for _, c in greedy.values()) / len(greedy))
        return ([r for r in rows if r['problem'] not in val_problems],
                [r for r in rows if r['problem'] in val_problems], stats)


    def file_pairs(folder):
        out = []
        for split in ('train', 'val' if os.path.exists(os.path.join(folder, 'val.jsonl')) else 'test'):
            path = os.path.join(folder, f'{split}.jsonl')
            if not os.path.exists(path):
                raise UserError(f"{path} is missing: a pairs folder needs train.jsonl and val.jsonl (or test.jsonl) "
                                f"of {{\"prompt\", \"chosen\", \"rejected\"}}")
            rows, skipped = load_jsonl(path, ('prompt', 'chosen', 'rejected'))
            print0(f"{path}: {len(rows)} pairs ({skipped} malformed or empty rows skipped)")
            out.append(rows)
        return out[0], out[1], {}


    def encode(rows):
        """Token triples (tasks.encode_pair); skipped pairs are counted by reason."""
        out, skips = [], dict(same=0, too_long=0, split=0, prompt_cut=0)
        for r in rows:
            triple, why = encode_pair(enc, r['prompt'], r['chosen'], r['rejected'], T, tool, r.get('shared'),
                                      cut_rejected)
            if why in ('same', 'too_long', 'split'):
                skips[why] += 1
            else:
                skips['prompt_cut'] += why == 'prompt_cut'
                out.append(triple)
        return out, skips


    if resume and os.path.exists(os.path.join(out_dir, 'pairs.json')):
        with open(os.path.join(out_dir, 'pairs.json')) as f:  # the pairs a killed run trained on: resume is exact
            saved = json.load(f)
        train_rows, val_rows, pair_stats = saved['train'], saved['val'], saved['stats']
    elif pairs == 'on_policy':
        train_rows, val_rows, pair_stats = on_policy_pairs()
    elif pairs.endswith('.json'):  # an earlier run's pairs
        with open(pairs) as f:
            saved = json.load(f)
        train_rows, val_rows, pair_stats = saved['train'], saved['val'], dict(saved['stats'], pairs_from=pairs)
    else:
        folder = data_dir('preference') if pairs == 'hh' else pairs
        if folder is None:
            raise UserError("pairs='hh' reads $DATA_DIR/preference; set DATA_DIR")
        train_rows, val_rows, pair_stats = file_pairs(folder)
    write_json(dict(train=train_rows, val=val_rows, stats=pair_stats), os.path.join(out_dir, 'pairs.json'))
    data = {}
    for split, rows in (('train', train_rows), ('val', val_rows)):
        data[split], skips = encode(rows)
        print0(f"{split}: {len(data[split])} pairs; skipped: {skips['same']} chosen == rejected, {skips['too_long']} "
               f"responses too long for the {T}-token context; {skips['prompt_cut']} prompts cut from the left")
        pair_stats[f'{split}_pairs'], pair_stats[f'{split}_skipped'] = len(data[split]), skips
        if not data[split]:
            raise UserError(f"no usable {split} pairs (an on-policy run needs problems the SFT model solves "
                            f"sometimes but not always: raise n_prompts or n_samples)")


    def get_batch(split, it):
        """2B rows: the chosen responses of B pairs, then their rejected ones. Step `it`'s pairs are a pure
        function of (seed, it): resume is exact."""
        g = torch.Generator().manual_seed(seed * 1_000_003 + it * 2 + (split == 'val'))
        batch = [data[split][i] for i in torch.randint(len(data[split]), (batch_size,), generator=g).tolist()]
        x, y = pad_batch(pair_rows(batch))
        return x.to(rt['device']), y.to(rt['device'])


    def step_stats(x, y):
        """Loss and TRL's metric names for one batch of pairs."""
        B = x.size(0) // 2
        if beta == 0 and policy.training:
            # at beta 0 the preference term is the constant log 2 (DPO eq. 7; cDPO too) and has no gradient: a
            # training step needs only the NLL term, the policy on the chosen half (no rejected, no reference:
            # 3 of the 8 units of work, a forward being one and a backward two). Evals run everything.
            with rt['autocast']:
                pi = sequence_logps(policy, x[:B], y[:B])
            zero = torch.zeros_like(pi)  # the rejected half's and the reference's logps, which beta 0 multiplies away
            losses, _, _ = dpo_loss(pi, zero, zero, zero, beta, loss_type, label_smoothing, nll_weight,
                                    (y[:B] != -1).sum(-1))
            return losses.mean(), {'logps/chosen': pi.mean().item()}
        with rt['autocast']:
            pi = sequence_logps(policy, x, y)
            with torch.no_grad():
                ref = sequence_logps(reference, x, y)
        losses, r_chosen, r_rejected = dpo_loss(pi[:B], pi[B:], ref[:B], ref[B:], beta, loss_type, label_smoothing,
                                                nll_weight, (y[:B] != -1).sum(-1))
        h = (pi[:B] - ref[:B]) - (pi[B:] - ref[B:])  # the log-ratio margin: its sign is the implicit reward's
        stats = {'rewards/chosen': r_chosen.mean().item(), 'rewards/rejected': r_rejected.mean().item(),
                 'rewards/accuracies': (h > 0).float().mean().item(),  # r_chosen > r_rejected for any beta > 0
                 'rewards/margins': (r_chosen - r_rejected).mean().item(),
                 'logps/chosen': pi[:B].mean().item(), 'logps/rejected': pi[B:].mean().item()}
        return losses.mean(), stats


    val_task = load_task(task, 'val', task_dir)[0] if pairs == 'on_policy' or pairs.endswith('.json') else []


    @torch.no_grad()
    def drift_batch():
        """The reference solutions of 64 val problems, and the frozen reference's NLL on them: computed once,
        the policy's NLL on the same batch at each eval is the drift."""
        solved = [encode_example(enc, p, s, tool) for p, s, _ in val_task[:64]]
        x, y = pad_batch([row for row in solved if len(row[0]) <= T + 1])
        x, y = x.to(rt['device']), y.to(rt['device'])
        with rt['autocast']:
            return x, y, reference(x, y)[1].item()


    drift = drift_batch() if val_task else None


    @torch.no_grad()
    def evaluate():
        """Held-out pairs (loss, reward accuracy), drift from the reference (response NLL of the reference
        solutions under policy vs reference: a KL proxy), and greedy EM on the task's val problems."""
        policy.eval()
        rows = []
        for k in range(eval_iters):
            loss, stats = step_stats(*get_batch('val', 10_000_000 + k))
            rows.append(dict(stats, loss=loss.item()))
        metrics = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        if drift:
            x, y, metrics['ref_nll_reference'] = drift
            with rt['autocast']:
                metrics['ref_nll'] = policy(x, y)[1].item()
        if n_eval and val_task:
            em, samples = greedy_em(policy, enc, val_task[:n_eval], task, max_new_tokens, rt['autocast'], tool)
            metrics.update(em)
            write_jsonl(samples, os.path.join(out_dir, 'samples.jsonl'))
        policy.train()
        return metrics


    # -----------------------------------------------------------------------------
    optimizer = policy.configure_optimizer(weight_decay, learning_rate, (0.9, 0.95), rt['device_type'])
    iter_num, best, bad = 0, -float('inf'), dict(row=0, total=0)  # bad: non-finite steps in a row, in all
    if resume:
        optimizer.load_state_dict(ckpt['optimizer'])
        torch.set_rng_state(ckpt['rng_cpu'])
        iter_num, best = ckpt['iter_num'], ckpt['best_metric']
    ckpt = None
    config['tokenizer'] = tokenizer
    log = start_log(out_dir, config, iter_num if resume else 0)


    def save(name, metrics, resumable=True):
        extra = dict(optimizer=optimizer.state_dict(), rng_cpu=torch.get_rng_state()) if resumable else {}
        save_checkpoint(os.path.join(out_dir, name), policy, policy.config.__dict__, config, iter_num=iter_num,
                        best_metric=best, ref_from=ref_from, metrics=metrics, **extra)


    policy.train()
    last = (time.time(), iter_num)
    while True:
        lr = set_lr(optimizer, cosine_lr(iter_num, learning_rate, warmup_iters, max_iters, min_lr))
        if iter_num % eval_interval == 0 or iter_num == max_iters:
            metrics = evaluate()
            em = f", greedy EM {metrics['em']:.3f}" if 'em' in metrics else ''
            print0(f"step {iter_num}: val loss {metrics['loss']:.4f}, reward acc {metrics['rewards/accuracies']:.3f}, "
                   f"margin {metrics['rewards/margins']:.3f}{em}")
            log(dict(iter=iter_num, split='val', **metrics, time_s=round(time.time() - t_start, 2)))
            # best = the metric the stage is for: EM when there is a task, else held-out reward accuracy
            score = metrics.get('em', metrics['rewards/accuracies'])
            if iter_num > 0:
                if score > best:
                    best = score
                    save('best.pt', metrics, resumable=False)
                save('ckpt.pt', metrics)
            last = (time.time(), iter_num)
        if iter_num >= max_iters:
            break
        loss, stats = step_stats(*get_batch('train', iter_num))
        loss.backward()
        optimizer_step(optimizer, policy.parameters(), loss.detach(), grad_clip, bad, max_bad_steps, iter_num,
                       f"The last good checkpoint is {out_dir}/ckpt.pt; lower learning_rate or beta")
        if iter_num % log_interval == 0:
            dt = (time.time() - last[0]) / max(1, iter_num + 1 - last[1])
            last = (time.time(), iter_num + 1)
            print0(step_line(iter_num, loss.item(), lr, dt) + (f", reward acc {stats['rewards/accuracies']:.2f}, "
                   f"margin {stats['rewards/margins']:.3f}" if 'rewards/margins' in stats else ''))
            log(dict(iter=iter_num, split='train', loss=loss.item(), lr=lr, **stats))
        iter_num += 1

    @torch.no_grad()
    def heldout_reward_accuracy():
        """Every held-out pair once (the evals above sample eval_iters batches): the share whose implicit reward
        ranks chosen over rejected, beta * margin > 0 (DPO §5), by the last policy."""
        policy.eval()
        right = 0
        for i in range(0, len(data['val']), batch_size):
            batch = data['val'][i:i + batch_size]
            x, y = pad_batch(pair_rows(batch))
            right += round(step_stats(x.to(rt['device']), y.to(rt['device']))[1]['rewards/accuracies'] * len(batch))
        return dict(heldout_reward_accuracy=right / len(data['val']), heldout_pairs=len(data['val']))


    name = name or os.path.basename(os.path.normpath(out_dir))
    summary = dict(name=name, out_dir=out_dir, pairs=pairs, task=task if pairs == 'on_policy' else None,
                   **heldout_reward_accuracy(), init_from=ref_from, iters=iter_num, skipped_steps=bad['total'],
                   pair_stats=pair_stats,
                   **{f'val_{k}': v for k, v in metrics.items()}, best_metric=best, config=config,
                   **provenance(t_start))
    write_json(summary, os.path.join(out_dir, 'summary.json'))
    append_result(summary, 'dpo', name, results_dir or os.path.join(REPO, 'experiments'))
    print0(f"done: val loss {metrics['loss']:.4f}, reward accuracy {summary['heldout_reward_accuracy']:.3f} on all "
           f"{summary['heldout_pairs']} held-out pairs"
           + (f", greedy EM {metrics['em']:.3f}" if 'em' in metrics else ''))
