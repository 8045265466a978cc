"""
Pretrain a GPT from scratch (or resume one). One process:
    python train.py config/train_tiny.py
    python train.py config/train_max.py --batch_size=8
Distributed data parallel, N processes on one node:
    torchrun --standalone --nproc_per_node=2 train.py config/train_tiny.py
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import dataclasses
import json
import math
import signal
import sys
import time

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from common import (UserError, check_writable, configure, cosine_lr, dataset_dir, end_ddp, format_eta, load_checkpoint,
                    load_meta, lock_out_dir, measure_matmul_peak, model_from_checkpoint, nats_to_bpb, optimizer_step,
                    peak_memory_bytes, print0, provenance, save_checkpoint, set_lr, setup_runtime, start_log,
                    step_line, synchronize, wandb_run, write_json)
from model import GPT, GPTConfig, estimate_memory

# -----------------------------------------------------------------------------
# default config (a small model on WikiText-2); config/*.py files and --key=value override any of it
out_dir = 'out/default'
init_from = 'scratch'        # 'scratch' | 'resume' (from out_dir/ckpt.pt) | path to a checkpoint to start from
eval_interval = 200
log_interval = 10
eval_iters = 20
eval_only = False
always_save_checkpoint = True  # ckpt.pt at every eval (for resume); best.pt only when val improves
seed = 1337
# data
dataset = 'wikitext2'        # data/<dataset>/ or a directory path holding train.bin, val.bin, meta.json
eval_dataset = ''            # a second prepared dataset (same tokenizer) whose val split is scored too, e.g. wikitext2
batch_size = 8               # micro-batch per process
block_size = 256
gradient_accumulation_steps = 1  # global batch = batch_size * gradient_accumulation_steps * world_size
# model
n_layer = 6
n_head = 6
n_kv_head = None             # None = n_head; fewer = GQA, 1 = MQA
n_embd = 384
ffn_hidden = None
rope_theta = 10000.0
tie_embeddings = True
dropout = 0.0
n_experts = 0                # > 0: Mixture-of-Experts FFN (see model.MoE)
moe_top_k = 2
moe_every = 1
capacity_factor = 0.0        # 0 = no capacity limit
aux_loss_coef = 0.01
z_loss_coef = 0.001
sink_token = False           # StreamingLLM §3.3: learn a dedicated attention-sink token at position 0
# optimizer: AdamW, linear warmup then cosine decay to min_lr
learning_rate = 1e-3
max_iters = 2000
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0              # 0 disables clipping (the norm is still computed, for the NaN check)
decay_lr = True
warmup_iters = 100
lr_decay_iters = None        # None = max_iters
min_lr = 1e-4
max_bad_steps = 5            # non-finite loss/grad steps are skipped; this many in a row stops the run
# system
device = 'auto'              # auto | cpu | cuda | cuda:1 | mps
dtype = 'auto'               # auto = bfloat16 on Ampere+, float16 on older CUDA, float32 on CPU
compile = False
activation_checkpointing = False
loss_chunk = 0               # > 0: cross-entropy over this many rows at a time; B*T*V logits never materialise
memory_limit_gb = 0.0        # CUDA: cap this process at it (emulates a smaller card) and warn when the plan exceeds it
wandb_log = False            # also log to Weights & Biases (pip install wandb; WANDB_MODE=offline needs no network)
wandb_project = 'modern-llm'
wandb_run_name = ''          # '' = wandb's own name
# -----------------------------------------------------------------------------
config = configure(globals())
lr_decay_iters = config['lr_decay_iters'] = lr_decay_iters or max_iters
rt = setup_runtime(device, dtype, seed)
master = rt['master']
if master:
    lock_out_dir(out_dir)  # one live run per out_dir: a second one stops here, before it reads or writes anything
t_start = time.time()
MAX_EPOCHS = 4  # more passes over the training set than this earns a warning at start

# -----------------------------------------------------------------------------
# data: random windows from a uint16 memmap. The windows of iteration `it` are a pure function of
# (seed, it), so a resumed run, or one split over more processes, sees exactly the same tokens.
data_path = dataset_dir(dataset)
meta = load_meta(data_path, dataset)
data = {s: np.memmap(os.path.join(data_path, f'{s}.bin'), dtype=np.uint16, mode='r') for s in ('train', 'val')}
if eval_dataset:  # e.g. WikiText-2 val while pretraining on FineWeb-Edu: numbers stay comparable across corpora
    eval_path = dataset_dir(eval_dataset)
    eval_meta = load_meta(eval_path, eval_dataset)
    if eval_meta['tokenizer'] != meta['tokenizer']:
        raise UserError(f"eval_dataset {eval_dataset} uses tokenizer {eval_meta['tokenizer']}, the training data "
                        f"{meta['tokenizer']}; prepare it with --tokenizer={meta['tokenizer']}")
    data['eval'] = np.memmap(os.path.join(eval_path, 'val.bin'), dtype=np.uint16, mode='r')
for s, d in data.items():
    if len(d) <= block_size + 1:
        raise UserError(f"{d.filename} has {len(d)} tokens, fewer than block_size+1={block_size + 1}")
world, rank = rt['world_size'], rt['rank']
tokens_per_iter = batch_size * gradient_accumulation_steps * world * block_size


def get_batch(split, it, part):
    """Rows `part` (a batch_size slice) of the global batch drawn for step `it`: micro-step m of rank r
    reads part m * world + r, so any split of the global batch over processes reads the same rows."""
    d = data[split]
    n = batch_size * gradient_accumulation_steps * world
    g = torch.Generator().manual_seed(seed * 1_000_003 + it * 2 + (split != 'train'))
    starts = torch.randint(len(d) - block_size - 1, (n,), generator=g)
    mine = starts[part * batch_size:][:batch_size].numpy()
    rows = d.view(np.ndarray)[mine[:, None] + np.arange(block_size + 1)].astype(np.int64)  # (B, T+1), one gather
    x, y = torch.from_numpy(np.ascontiguousarray(rows[:, :-1])), torch.from_numpy(np.ascontiguousarray(rows[:, 1:]))
    if rt['device_type'] == 'cuda':
        return x.pin_memory().to(rt['device'], non_blocking=True), y.pin_memory().to(rt['device'], non_blocking=True)
    return x.to(rt['device']), y.to(rt['device'])


# -----------------------------------------------------------------------------
# model
# every GPTConfig field that is also a config key; the vocabulary comes from the data
model_args = {f.name: config[f.name] for f in dataclasses.fields(GPTConfig) if f.name in config}
model_args['vocab_size'] = meta['vocab_size']
iter_num, best_val_loss, ckpt = 0, float('inf'), None
if init_from == 'resume':
    ckpt = load_checkpoint(os.path.join(out_dir, 'ckpt.pt'))
elif init_from != 'scratch':
    ckpt = load_checkpoint(init_from)
if ckpt is not None:
    if ckpt.get('config', {}).get('tokenizer', meta['tokenizer']) != meta['tokenizer']:
        raise UserError(f"checkpoint tokenizer {ckpt['config']['tokenizer']} != dataset tokenizer {meta['tokenizer']}")
    if ckpt['model_args']['vocab_size'] != meta['vocab_size']:
        raise UserError(f"checkpoint vocab {ckpt['model_args']['vocab_size']} != {data_path}/meta.json vocab {meta['vocab_size']}")
    # the architecture comes from the checkpoint; block_size and dropout may change when starting a new run
    model_args = dict(ckpt['model_args'])
    if init_from != 'resume':
        model_args['dropout'] = dropout
    model = model_from_checkpoint(dict(ckpt, model_args=model_args))
    if block_size > model_args['block_size']:
        raise UserError(f"block_size={block_size} exceeds the checkpoint's block_size={model_args['block_size']}")
else:
    model = GPT(GPTConfig(**model_args))
config['tokenizer'] = meta['tokenizer']
if init_from == 'resume':
    iter_num, best_val_loss = ckpt['iter_num'], ckpt['best_val_loss']
model.activation_checkpointing = activation_checkpointing
model.loss_chunk = loss_chunk
model.to(rt['device'])

plan = estimate_memory(model.config, batch_size, act_bytes=2 if rt['dtype'] != 'float32' else 4,
                       activation_checkpointing=activation_checkpointing, loss_chunk=loss_chunk)
gpu_bytes = torch.cuda.get_device_properties(rt['device']).total_memory if rt['device_type'] == 'cuda' else 0
limit = memory_limit_gb * 1e9 or gpu_bytes
if memory_limit_gb and gpu_bytes:  # a bigger card behaves like a 12 GB 3060: OOM where it would
    torch.cuda.set_per_process_memory_fraction(min(1.0, limit / gpu_bytes), torch.device(rt['device']).index or 0)
print0(f"model: {model.num_params(non_embedding=False) / 1e6:.2f}M parameters ({model.num_params(active=True) / 1e6:.2f}M "
       f"active per token), {tokens_per_iter:,} tokens/iter, device {rt['device']} {rt['dtype']}, world {world}")
print0("memory plan (GB): " + ", ".join(f"{k} {v / 1e9:.2f}" for k, v in plan.items() if k != 'n_params'))
# the token budget against the data: Chinchilla (Hoffmann et al. 2022) trains ~20 tokens per parameter; past a few
# epochs a model memorizes its corpus instead of learning from it
budget, n_train = max_iters * tokens_per_iter, len(data['train'])
epochs = budget / n_train
print0(f"plan: {max_iters:,} iters x {tokens_per_iter:,} tokens = {budget:,} tokens, "
       f"{budget / model.num_params(non_embedding=False):.1f} tokens/parameter (Chinchilla: ~20), "
       f"{epochs:.2f} epochs of {dataset} ({n_train / 1e6:,.1f}M tokens)")
if epochs > MAX_EPOCHS:
    print0(f"WARNING: {epochs:.0f} epochs of {dataset} will memorize it; use a bigger corpus "
           f"(python data/fineweb_edu/prepare.py, then --dataset=fineweb_edu --eval_dataset={dataset}) or fewer max_iters")
if limit and plan['total_training'] > 0.9 * limit:
    print0(f"WARNING: planned {plan['total_training'] / 1e9:.1f} GB is over 90% of {limit / 1e9:.1f} GB; expect OOM. "
           f"Lower batch_size (raise gradient_accumulation_steps to keep the global batch) or set "
           f"activation_checkpointing=True")

optimizer = model.configure_optimizer(weight_decay, learning_rate, (beta1, beta2), rt['device_type'])
scaler = torch.amp.GradScaler(rt['device_type'], enabled=rt['dtype'] == 'float16')
if init_from == 'resume':
    optimizer.load_state_dict(ckpt['optimizer'])
    scaler.load_state_dict(ckpt['scaler'])
    torch.set_rng_state(ckpt['rng_cpu'])  # dropout masks continue as if never stopped
    if rt['device_type'] == 'cuda' and 'rng_cuda' in ckpt:
        torch.cuda.set_rng_state(ckpt['rng_cuda'])
ckpt = None  # free memory

raw_model = model
if compile:
    print0("compiling the model (takes a minute)...")
    model = torch.compile(model)
if rt['ddp']:
    model = DDP(model, device_ids=[rt['local_rank']] if rt['device_type'] == 'cuda' else None)

if master:
    check_writable(out_dir, need_bytes=3 * 4 * sum(p.numel() for p in raw_model.parameters()))
    print(json.dumps(config))
tracker = wandb_run(wandb_project, wandb_run_name, config) if wandb_log and master else None
log = start_log(out_dir, dict(config, model_args=raw_model.config.__dict__), iter_num if init_from == 'resume' else 0,
                master, tracker)


def raise_if_oom(e):
    """Out of memory is a configuration problem: say what to change instead of crashing with a traceback."""
    if isinstance(e, torch.OutOfMemoryError) or "can't allocate memory" in str(e):
        raise UserError(f"out of memory at batch_size={batch_size}, block_size={block_size} (plan: "
                        f"{plan['total_training'] / 1e9:.1f} GB). Lower batch_size and raise "
                        f"gradient_accumulation_steps to keep the global batch, or set activation_checkpointing=True"
                        ) from None


@torch.no_grad()
def estimate_loss():
    """Mean loss over eval_iters fixed batches per split, shared out over the ranks and all-reduced."""
    model.eval()
    out = {}
    for split in data:
        losses = torch.zeros(2, device=rt['device'])  # (sum, count)
        for k in range(rank, eval_iters, world):
            x, y = get_batch(split, 10_000_000 + k, 0)  # fixed eval batches, whatever the world size
            with rt['autocast']:
                _, loss = raw_model(x, y)
            losses += torch.stack([loss.float(), torch.ones((), device=rt['device'])])
        if rt['ddp']:
            torch.distributed.all_reduce(losses)
        out[split] = (losses[0] / losses[1]).item()
    model.train()
    return out


def save(name, val_loss, resumable=True):
    """ckpt.pt carries everything a resume needs; best.pt only the weights."""
    state = dict(optimizer=optimizer.state_dict(), scaler=scaler.state_dict(), rng_cpu=torch.get_rng_state(),
                 **({'rng_cuda': torch.cuda.get_rng_state()} if rt['device_type'] == 'cuda' else {}))
    save_checkpoint(os.path.join(out_dir, name), raw_model, raw_model.config.__dict__, config, iter_num=iter_num,
                    best_val_loss=best_val_loss, val_loss=val_loss, **(state if resumable else {}))


# -----------------------------------------------------------------------------
# training loop
peak_flops = measure_matmul_peak(rt['device'], torch.bfloat16 if rt['dtype'] == 'bfloat16' else torch.float32)
print0(f"measured matmul peak: {peak_flops / 1e9:.1f} GFLOP/s (the MFU denominator)")
val_tokens_bytes = meta['splits']['val']['tokens'], meta['splits']['val']['bytes']
eval_tokens_bytes = (eval_meta['splits']['val']['tokens'], eval_meta['splits']['val']['bytes']) if eval_dataset else None
bad, tokens_seen = dict(row=0, total=0), iter_num * tokens_per_iter  # non-finite steps: in a row, in all
stop = {}  # Ctrl-C (SIGINT) or SIGTERM: finish the step, save a resumable ckpt.pt, exit


def request_stop(signum, frame):
    stop['signal'] = signum
    signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once, without saving
    print0(f"\n{signal.Signals(signum).name}: saving a resumable checkpoint after this step (again to quit without saving)")


for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, request_stop)


def stop_requested():
    """Under DDP every rank must stop at the same step, whichever of them saw the signal: all-reduce the flag."""
    if rt['ddp']:
        flag = torch.tensor(float('signal' in stop), device=rt['device'])
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if flag.item() > 0:
            stop.setdefault('signal', signal.SIGTERM)
    return 'signal' in stop


t_train, last, speed = time.time(), None, {}
model.train()
while True:
    lr = set_lr(optimizer, cosine_lr(iter_num, learning_rate, warmup_iters, lr_decay_iters, min_lr) if decay_lr
                else learning_rate)

    if iter_num % eval_interval == 0 or iter_num == max_iters:
        try:
            losses = estimate_loss()
        except (torch.OutOfMemoryError, RuntimeError) as e:
            raise_if_oom(e)
            raise
        ppl = math.exp(min(losses['val'], 50))
        bpb = nats_to_bpb(losses['val'], *val_tokens_bytes)
        row = dict(iter=iter_num, train_loss=losses['train'], val_loss=losses['val'], val_ppl=ppl, val_bpb=bpb)
        if eval_dataset:
            row.update(eval_val_loss=losses['eval'], eval_val_bpb=nats_to_bpb(losses['eval'], *eval_tokens_bytes))
        print0(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}, "
               f"val ppl {ppl:.2f}, val bpb {bpb:.4f}"
               + (f", {eval_dataset} val bpb {row['eval_val_bpb']:.4f}" if eval_dataset else ''))
        log(dict(row, lr=lr, tokens=tokens_seen, time_s=round(time.time() - t_start, 2)))
        improved = losses['val'] < best_val_loss
        best_val_loss = min(best_val_loss, losses['val'])
        if last is not None:  # keep eval time out of the next tok/s figure
            last = (time.time(), iter_num - 1)
        if not math.isfinite(losses['val']):
            print0(f"step {iter_num}: val loss is not finite; not saving a checkpoint")
        elif master and iter_num > 0 and not eval_only:
            if improved:
                save('best.pt', losses['val'], resumable=False)
            if improved or always_save_checkpoint or iter_num == max_iters:
                save('ckpt.pt', losses['val'])
    if eval_only or iter_num >= max_iters:
        break

    # forward/backward over the micro-steps; DDP all-reduces gradients only on the last one
    loss_sum = torch.zeros((), device=rt['device'])
    try:
        for micro_step in range(gradient_accumulation_steps):
            x, y = get_batch('train', iter_num, micro_step * world + rank)
            if rt['ddp']:
                model.require_backward_grad_sync = micro_step == gradient_accumulation_steps - 1
            with rt['autocast']:
                _, loss = model(x, y)
                loss = loss / gradient_accumulation_steps
            scaler.scale(loss).backward()
            loss_sum += loss.detach()
    except (torch.OutOfMemoryError, RuntimeError) as e:
        raise_if_oom(e)
        raise
    grad_norm = optimizer_step(optimizer, raw_model.parameters(), loss_sum, grad_clip, bad, max_bad_steps, iter_num,
                               f"The last good checkpoint is {out_dir}/ckpt.pt; lower learning_rate or check the data",
                               scaler)
    tokens_seen += tokens_per_iter

    if iter_num % log_interval == 0 or iter_num == max_iters - 1:
        synchronize(rt['device_type'])
        now, row = time.time(), dict(iter=iter_num, loss=loss_sum.item(), lr=lr, grad_norm=grad_norm.item())
        dt = (now - last[0]) / (iter_num - last[1]) if last is not None else None  # since the previous log line
        line = step_line(iter_num, row['loss'], lr, dt)
        if dt is not None:
            tok_s = tokens_per_iter / dt
            mfu = raw_model.estimate_mfu(tok_s / world, peak_flops, block_size)
            row.update(tok_s=tok_s, mfu=mfu)
            speed = dict(tok_s=round(tok_s, 1), mfu=round(mfu, 4))  # the latest window: past compile and warmup
            line += f", {tok_s:,.0f} tok/s, mfu {mfu * 100:.1f}%, eta {format_eta((max_iters - iter_num - 1) * dt)}"
        moe = raw_model.moe_stats()  # of the last micro-step
        if moe:
            row.update(aux_loss=moe['aux_loss'].item(), z_loss=moe['z_loss'].item(), dropped=moe['dropped'].item(),
                       expert_load=moe['load'].tolist())
            line += f", aux {row['aux_loss']:.3f}, z {row['z_loss']:.2f}, dropped {row['dropped']}"
        print0(line)
        log(dict(row, tokens=tokens_seen, time_s=round(now - t_start, 2)))
        last = (now, iter_num)
    iter_num += 1
    if stop_requested():
        if master:
            save('ckpt.pt', None)
            print(f"saved {out_dir}/ckpt.pt at iter {iter_num}; continue with --init_from=resume", flush=True)
        break

# -----------------------------------------------------------------------------
if master and not eval_only and not stop:
    peak_mb = peak_memory_bytes(rt['device_type']) / 2**20
    summary = dict(out_dir=out_dir, iters=iter_num, tokens=tokens_seen, params=raw_model.num_params(),
                   active_params=raw_model.num_params(active=True), peak_memory_mb=round(peak_mb, 1),
                   best_val_loss=best_val_loss, best_val_ppl=math.exp(best_val_loss),
                   best_val_bpb=nats_to_bpb(best_val_loss, *val_tokens_bytes), skipped_steps=bad['total'],
                   peak_flops=peak_flops, **speed,
                   train_time_s=round(time.time() - t_train, 2), config=config, **provenance(t_start))
    write_json(summary, os.path.join(out_dir, 'summary.json'))
    print(f"done: best val loss {best_val_loss:.4f} (ppl {math.exp(best_val_loss):.2f}), summary in {out_dir}/summary.json")
if tracker is not None:
    tracker.finish()
code = 128 + stop['signal'] if stop else 0  # the shell's code for "ended by this signal"
if rt['ddp']:
    del model  # DDP's reducer holds gloo work objects: freed now, not by a half-torn-down interpreter (SIGABRT)
    end_ddp(code)
if code:
    sys.exit(code)
