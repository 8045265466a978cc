"""
Supervised finetuning (instruction tuning) of a pretrained checkpoint: the loss covers response tokens only.
Template (tasks.py): "Question: {question}\nAnswer: {solution}<|endoftext|>" for math tasks, Alpaca's
instruction/input/response for instructions. Evaluates held-out loss and greedy exact match, saves samples.
    python data/arith/prepare.py && python sft.py config/sft_arith.py
    python sft.py --init_from=out/tiny/best.pt --task=gsm8k
    python sft.py config/sft_arith.py --init_from=data/models/SmolLM2-135M-Instruct --learning_rate=1e-4 --batch_size=8
    torchrun --nproc_per_node=2 sft.py config/sft_arith.py    # DDP: the global batch is split over the ranks
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import math
import time

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from common import (REPO, UserError, append_result, check_writable, configure, cosine_lr, end_ddp, get_tokenizer,
                    is_hf_folder, load_checkpoint, load_model, model_from_checkpoint, optimizer_step, print0,
                    provenance, save_checkpoint, set_lr, setup_runtime, start_log, step_line, write_json, write_jsonl)
from engine import greedy_em
from tasks import encode_example, load_task, pad_batch

# -----------------------------------------------------------------------------
out_dir = 'out/sft'
init_from = 'out/tiny/best.pt'  # a pretrained checkpoint, a Hugging Face Llama folder, or 'resume' (out_dir/ckpt.pt)
task = 'arith'                  # arith | gsm8k | alpaca
task_dir = ''                   # '' = data/arith (arith) or $DATA_DIR/{gsm8k,sft}; else a folder of <split>.jsonl
batch_size = 16                 # global: split over the ranks under torchrun
max_iters = 300
learning_rate = 3e-4
warmup_iters = 20
min_lr = 3e-5
weight_decay = 0.0
grad_clip = 1.0                 # 0 = no clipping (the norm is still computed, for the non-finite check)
max_bad_steps = 5               # non-finite steps are skipped; this many in a row stop the run
dropout = 0.0
eval_interval = 100
eval_iters = 10
n_eval = 100                    # val problems scored by greedy exact match at each eval
max_new_tokens = 128
tool = False                    # math tasks: the calculator writes each '<<expr=' result (no loss on its tokens;
                                # evals decode with it): the model learns which numbers to combine, not the sums
log_interval = 10
name = ''                       # result name; '' = the out_dir's folder name
results_dir = ''                # '' = experiments/ (the final metrics row goes to <results_dir>/sft/<run>.json)
seed = 1337
device = 'auto'
dtype = 'auto'
# -----------------------------------------------------------------------------
config = configure(globals())
rt = setup_runtime(device, dtype, seed)
world, rank, master = rt['world_size'], rt['rank'], rt['master']
if batch_size % world:
    raise UserError(f"batch_size={batch_size} must be divisible by the {world} processes")
t_start = time.time()

# -----------------------------------------------------------------------------
# model
resume = init_from == 'resume'
if not resume and is_hf_folder(init_from):
    # a Hugging Face Llama folder (e.g. SmolLM2-135M-Instruct): imported as a checkpoint whose tokenizer is the
    # folder's own, so everything below (and every later stage reading our best.pt) treats it like ours
    hf, meta = load_model(init_from)
    ckpt = dict(model=hf.state_dict(), model_args=dict(hf.config.__dict__), config=meta['config'])
    del hf
else:
    ckpt = load_checkpoint(os.path.join(out_dir, 'ckpt.pt') if resume else init_from)
model_args = dict(ckpt['model_args'], dropout=dropout if not resume else ckpt['model_args']['dropout'])
model = model_from_checkpoint(dict(ckpt, model_args=model_args), rt['device'])
tokenizer = ckpt.get('config', {}).get('tokenizer', 'gpt2')
enc = get_tokenizer(tokenizer)
T = model.config.block_size

# -----------------------------------------------------------------------------
# data: tokenised (prompt, response) pairs; targets are -1 on the prompt (and, with the tool, on the
# calculator's tokens), so only what the model writes is learned


def encode(pairs):
    """[(ids, n_prompt, skip)], skip = indices of calculator-written tokens (tasks.encode_example), skipping
    (and counting) examples longer than the context: a truncated solution would teach the model to stop
    before its final answer."""
    out, too_long = [], 0
    for prompt, response, _ in pairs:
        row = encode_example(enc, prompt, response, tool and task != 'alpaca')
        if len(row[0]) > T + 1:
            too_long += 1
            continue
        out.append(row)
    return out, too_long


data, val_pairs = {}, None
for split in ('train', 'val'):
    pairs, skipped = load_task(task, split, task_dir)
    data[split], too_long = encode(pairs)
    if split == 'val':
        val_pairs = pairs
    print0(f"{task} {split}: {len(data[split])} examples ({skipped} malformed rows skipped, "
           f"{too_long} longer than the {T}-token context skipped)")
    if not data[split]:
        raise UserError(f"no usable {split} examples for task {task}")


def get_batch(split, it, part=slice(None)):
    """Right-padded batch: padding sits after every real token, so causal attention needs no mask; its targets
    are -1. Rows of step `it` are a pure function of (seed, it): resume is exact, and under DDP rank r takes
    rows r, r + world, ... of the same global batch. Also returns the flat positions that have a target (the
    only ones the LM head runs on) and the global batch's count of them."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + it * 2 + (split == 'val'))
    rows = [data[split][i] for i in torch.randint(len(data[split]), (batch_size,), generator=g).tolist()]
    n_tokens = sum(len(ids) - n_prompt - len(skip) for ids, n_prompt, skip in rows)  # tokens with a loss
    x, y = pad_batch(rows[part])
    keep = (y.view(-1) != -1).nonzero()[:, 0]  # (N,), found on the CPU: no device sync
    return x.to(rt['device']), y.to(rt['device']), keep.to(rt['device']), n_tokens


@torch.no_grad()
def evaluate():
    """Held-out response loss, and greedy exact match on the first n_eval val problems."""
    model.eval()
    losses = []
    for k in range(eval_iters):
        x, y, *_ = get_batch('val', 10_000_000 + k)
        with rt['autocast']:
            losses.append(raw_model(x, y)[1].item())
    metrics, samples = greedy_em(raw_model, enc, val_pairs[:n_eval], task, max_new_tokens, rt['autocast'], tool)
    model.train()
    metrics['val_loss'] = sum(losses) / len(losses)
    return metrics, samples


# -----------------------------------------------------------------------------
optimizer = model.configure_optimizer(weight_decay, learning_rate, (0.9, 0.95), rt['device_type'])
iter_num, best, bad = 0, float('inf'), dict(row=0, total=0)  # bad: non-finite steps in a row, in all
if resume:
    optimizer.load_state_dict(ckpt['optimizer'])
    torch.set_rng_state(ckpt['rng_cpu'])
    iter_num, best = ckpt['iter_num'], ckpt['best_val_loss']
ckpt = None
raw_model = model
if rt['ddp']:
    model = DDP(model, device_ids=[rt['local_rank']] if rt['device_type'] == 'cuda' else None)
config['tokenizer'] = tokenizer
if master:  # only rank 0 writes: config, log, samples, checkpoints, results
    check_writable(out_dir, need_bytes=3 * 4 * sum(p.numel() for p in raw_model.parameters()))
log = start_log(out_dir, config, iter_num if resume else 0, master)


model.train()
last = (time.time(), iter_num)
while True:
    lr = set_lr(optimizer, cosine_lr(iter_num, learning_rate, warmup_iters, max_iters, min_lr))
    if (iter_num % eval_interval == 0 or iter_num == max_iters) and master:
        metrics, samples = evaluate()  # rank 0 alone; the others wait at the next all-reduce
        em = '' if metrics['em'] is None else f", greedy EM {metrics['em']:.3f} on {metrics['n_em']}"
        print0(f"step {iter_num}: val loss {metrics['val_loss']:.4f}{em}")
        log(dict(iter=iter_num, **metrics, time_s=round(time.time() - t_start, 2)))
        write_jsonl([dict(s, iter=iter_num) for s in samples], os.path.join(out_dir, 'samples.jsonl'))
        best = min(best, metrics['val_loss'])
        if iter_num > 0 and math.isfinite(metrics['val_loss']):
            extra = dict(iter_num=iter_num, best_val_loss=best, metrics=metrics)
            save_checkpoint(os.path.join(out_dir, 'ckpt.pt'), raw_model, raw_model.config.__dict__, config,
                            optimizer=optimizer.state_dict(), rng_cpu=torch.get_rng_state(), **extra)
            if metrics['val_loss'] <= best:
                save_checkpoint(os.path.join(out_dir, 'best.pt'), raw_model, raw_model.config.__dict__, config, **extra)
        last = (time.time(), iter_num)
    if iter_num >= max_iters:
        break
    x, y, keep, n_tokens = get_batch('train', iter_num, slice(rank, None, world))
    with rt['autocast']:
        logits, _ = model(x, select=keep)  # (N, V): logits at the response tokens only
    # the global batch's mean over response tokens: this rank's sum / all tokens, x world because DDP
    # averages the ranks' gradients; with one process it is the plain token mean
    loss = F.cross_entropy(logits.float(), y.view(-1)[keep], reduction='sum') * world / n_tokens + raw_model.router_loss()
    loss.backward()
    optimizer_step(optimizer, model.parameters(), loss.detach(), grad_clip, bad, max_bad_steps, iter_num,
                   f"The last good checkpoint is {out_dir}/ckpt.pt; lower learning_rate")
    if iter_num % log_interval == 0:
        loss = loss.detach() / world
        if rt['ddp']:  # the global batch's loss, for the log
            torch.distributed.all_reduce(loss)
        dt = (time.time() - last[0]) / max(1, iter_num + 1 - last[1])
        last = (time.time(), iter_num + 1)
        print0(step_line(iter_num, loss.item(), lr, dt))
        log(dict(iter=iter_num, loss=loss.item(), lr=lr))
    iter_num += 1

if master:
    summary = dict(name=name or os.path.basename(os.path.normpath(out_dir)), out_dir=out_dir, task=task, init_from=config['init_from'],
                   iters=iter_num, skipped_steps=bad['total'], best_val_loss=best, val_loss=metrics['val_loss'], val_em=metrics['em'],
                   val_em_n=metrics['n_em'], **{k: metrics[k] for k in ('format_failures', 'wrong', 'wrong_with_arithmetic_slip')
                                                if k in metrics}, config=config, **provenance(t_start))
    if 'em_ci95' in metrics:
        summary['val_em_ci95'] = metrics['em_ci95']
    write_json(summary, os.path.join(out_dir, 'summary.json'))
    append_result(summary, 'sft', summary['name'], results_dir or os.path.join(REPO, 'experiments'))
    print0(f"done: val loss {metrics['val_loss']:.4f}" + ('' if metrics['em'] is None else f", greedy EM {metrics['em']:.3f}"))
if rt['ddp']:
    del model  # DDP's reducer holds gloo work objects: freed now, not by a half-torn-down interpreter (SIGABRT)
    end_ddp()
