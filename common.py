"""
Run plumbing shared by every stage: the configurator, device/dtype/DDP setup, the tokenizer,
data-directory lookup, checkpoints (atomic, validated, weights_only) and provenance for results.

Nothing here is specific to one stage; stage scripts import this module and model.py, never each other.
"""
import ast
import contextlib
import datetime
import difflib
import itertools
import json
import math
import os
import platform
import re
import subprocess
import sys
import time

import torch

from model import GPT, GPTConfig, ConfigError

REPO = os.path.dirname(os.path.abspath(__file__))
CKPT_FORMAT = 1  # bump when the checkpoint layout changes; older code refuses newer checkpoints


# -----------------------------------------------------------------------------
# Errors a user can fix get one clear line, not a traceback wall.

class UserError(Exception):
    """Bad input, missing data, wrong config: printed as one line, exit code 1."""


def _excepthook(kind, value, tb, _default=sys.excepthook):
    if isinstance(value, (UserError, ConfigError)):
        print(f"error: {value}", file=sys.stderr)
    else:
        _default(kind, value, tb)


sys.excepthook = _excepthook


# -----------------------------------------------------------------------------
# Configurator: defaults are the calling script's globals, a config file is executed over
# them, then --key=value overrides (ast.literal_eval) are type-checked against the defaults.

CONFIG_TYPES = (int, float, bool, str, type(None), tuple, list)


def config_keys(namespace):
    return [k for k, v in namespace.items()
            if not k.startswith('_') and isinstance(v, CONFIG_TYPES)]


def _check_key(key, keys):
    if key not in keys:
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; valid keys: {', '.join(sorted(keys))}"
        raise UserError(f"unknown config key '{key}'{hint}")


def _coerce(key, value, default):
    """Type-check `value` against the default's type. int -> float is allowed; None accepts anything."""
    if default is None or value is None:
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (tuple, list)) and isinstance(value, (tuple, list)):
        return type(default)(value)
    if type(value) is not type(default):
        raise UserError(f"config key '{key}' expects {type(default).__name__} (default {default!r}), "
                        f"got {type(value).__name__} {value!r}")
    return value


def configure(namespace, argv=None):
    """Apply config files and --key=value overrides to `namespace` (a script's globals()).
    Returns the final config dict. Positional args ending in .py are config files."""
    argv = sys.argv[1:] if argv is None else argv
    keys = config_keys(namespace)
    for arg in argv:
        if not arg.startswith('--'):
            if not os.path.isfile(arg):
                raise UserError(f"config file '{arg}' does not exist")
            scope = {k: namespace[k] for k in keys}
            try:
                with open(arg) as f:
                    exec(compile(f.read(), arg, 'exec'), scope)  # config files are the only executed Python
            except Exception as e:  # noqa: BLE001 - any failure of the user's file is reported as one line
                raise UserError(f"config file '{arg}' failed: {type(e).__name__}: {e}") from None
            for k, v in scope.items():
                if k.startswith('_') or not isinstance(v, CONFIG_TYPES):
                    continue  # imports, helper functions
                _check_key(k, keys)
                namespace[k] = _coerce(k, v, namespace[k])
        else:
            if '=' not in arg:
                raise UserError(f"override '{arg}' must look like --key=value")
            key, val = arg[2:].split('=', 1)
            _check_key(key, keys)
            try:
                value = ast.literal_eval(val)
            except (SyntaxError, ValueError):
                value = val  # a bare string, e.g. --dataset=wikitext2
            namespace[key] = _coerce(key, value, namespace[key])
    return {k: namespace[k] for k in keys}


def split_suite(argv):
    """`python eval.py lm --ckpt=...`: a leading bare word names the suite/mode; the rest go to configure()."""
    if argv and not argv[0].startswith('--') and not argv[0].endswith('.py'):
        return argv[0], argv[1:]
    return None, argv


# -----------------------------------------------------------------------------
# Device, precision, distributed

def setup_runtime(device='auto', dtype='auto', seed=1337):
    """Returns a dict with device, dtype, autocast context, DDP rank info. Starts DDP under torchrun."""
    ddp = int(os.environ.get('RANK', -1)) != -1
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else (
            'mps' if getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available() else 'cpu')
    if device.startswith('cuda') and not torch.cuda.is_available():
        raise UserError(f"device='{device}' asked for but CUDA is not available; use --device=cpu (or auto)")
    rank, local_rank, world = 0, 0, 1
    if ddp:
        import torch.distributed as dist
        rank, local_rank, world = int(os.environ['RANK']), int(os.environ['LOCAL_RANK']), int(os.environ['WORLD_SIZE'])
        if device.startswith('cuda'):
            device = f'cuda:{local_rank}'
            torch.cuda.set_device(device)
        dist.init_process_group(backend='nccl' if device.startswith('cuda') else 'gloo')
    device_type = 'cuda' if device.startswith('cuda') else device
    if dtype == 'auto':
        # bf16 on Ampere+ (the 3060 is SM 8.6); fp16 + GradScaler on older GPUs; fp32 on CPU, where
        # bf16 is emulated (~100x slower matmuls on this machine's Zen 3 cores).
        if device_type == 'cuda':
            dtype = 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
        else:
            dtype = 'float32'
    if dtype not in ('float32', 'bfloat16', 'float16'):
        raise UserError(f"dtype must be auto, float32, bfloat16 or float16, got '{dtype}'")
    ptdtype = getattr(torch, dtype)
    autocast = (contextlib.nullcontext() if dtype == 'float32'
                else torch.autocast(device_type=device_type, dtype=ptdtype))
    torch.manual_seed(seed)
    if device_type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return dict(device=device, device_type=device_type, dtype=dtype, ptdtype=ptdtype, autocast=autocast,
                ddp=ddp, rank=rank, local_rank=local_rank, world_size=world, master=rank == 0)


def cosine_lr(it, lr, warmup_iters, decay_iters, min_lr):
    """Linear warmup, then cosine decay to min_lr at decay_iters (Loshchilov & Hutter 2017), then flat."""
    if it < warmup_iters:
        return lr * (it + 1) / (warmup_iters + 1)
    if it > decay_iters:
        return min_lr
    ratio = (it - warmup_iters) / max(1, decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - min_lr)


def set_lr(optimizer, lr):
    """Put this step's learning rate on every parameter group; returns it, for the log line."""
    for group in optimizer.param_groups:
        group['lr'] = lr
    return lr


def optimizer_step(optimizer, params, loss, grad_clip, bad, max_bad_steps, iter_num, hint, scaler=None):
    """The end of every training step, the same in all five loops: unscale (fp16), clip the global gradient norm
    to grad_clip (0 = no clipping; the norm is computed either way, for the check), then step only when the loss
    and the norm are finite. A non-finite step is skipped and counted in bad = {'row': .., 'total': ..};
    max_bad_steps of them in a row stop the run with one line that ends in `hint`. Returns the norm."""
    if scaler is not None:
        scaler.unscale_(optimizer)
    norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip > 0 else float('inf'))
    if torch.isfinite(norm) and torch.isfinite(loss):  # under DDP grads are all-reduced: every rank agrees
        scaler.step(optimizer) if scaler is not None else optimizer.step()
        bad['row'] = 0
    else:
        bad['row'], bad['total'] = bad['row'] + 1, bad['total'] + 1
        print0(f"iter {iter_num}: non-finite loss or gradient, step skipped ({bad['row']} in a row)")
        if bad['row'] >= max_bad_steps:
            raise UserError(f"{bad['row']} non-finite steps in a row at iter {iter_num}; stopping. {hint}")
    if scaler is not None:
        scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return norm


def step_line(iter_num, loss, lr, dt=None):
    """The log line every loop prints, nanoGPT's: 'iter 100: loss 2.3100, lr 3.00e-04, 412 ms/iter'."""
    return f"iter {iter_num}: loss {loss:.4f}, lr {lr:.2e}" + (f", {dt * 1000:.0f} ms/iter" if dt is not None else '')


def format_eta(seconds):
    """3h05m / 12m30s / 40s: a remaining time a person reads at a glance."""
    s = int(max(0, seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def end_ddp(code=0):
    """Leave a torchrun process once its work is written: wait for every rank, destroy the process group, and exit
    without the interpreter's teardown, where gloo's threads can still abort a finished process ("terminate called
    without an active exception", exit -6). Drop the DDP model before calling (its reducer holds gloo objects)."""
    torch.distributed.barrier()  # no rank tears down gloo while another still has it open
    torch.distributed.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def print0(*args, **kwargs):
    if int(os.environ.get('RANK', 0)) == 0:
        print(*args, **kwargs, flush=True)


def synchronize(device_type):
    if device_type == 'cuda':
        torch.cuda.synchronize()


def peak_memory_bytes(device_type):
    """High-water memory of this process: the CUDA allocator's peak, else the process's max RSS (Linux: KiB)."""
    if device_type == 'cuda':
        return torch.cuda.max_memory_allocated()
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def speedrun_malloc_env():
    """The glibc malloc thresholds speedrun.sh exports (its `export MALLOC_..._=${MALLOC_..._:-N}` line), read from
    there so that the benchmarks that run with and without them (experiments/bench/malloc.py,
    experiments/speedrun/before_after.py) use the speedrun's own values."""
    with open(os.path.join(REPO, 'speedrun.sh')) as f:
        return dict(re.findall(r'(MALLOC_\w+_)=\$\{\1:-(\d+)\}', f.read()))


def measure_copy_bandwidth(device='cpu'):
    """Bytes/s read plus written by copying 64 MB, best of 10: what a batch-1 decode, which reads every weight once
    a token, can at best stream (its floor: this / the weight bytes)."""
    src = torch.empty(16 * 2**20, device=device)
    dst = torch.empty_like(src)
    best = 0.0
    for _ in range(10):
        t0 = time.perf_counter()
        dst.copy_(src)
        synchronize(torch.device(device).type)
        best = max(best, 2 * src.numel() * 4 / (time.perf_counter() - t0))
    return best


_PEAK_CACHE = {}


def measure_matmul_peak(device='cpu', dtype=torch.float32, n=1024, seconds=0.5):
    """Measured dense matmul FLOP/s on this device: the denominator for MFU. Measured, not a spec sheet,
    because 'peak' on a shared 2-core CPU is whatever the cores actually deliver."""
    key = (str(device), dtype, n)
    if key in _PEAK_CACHE:
        return _PEAK_CACHE[key]
    device_type = 'cuda' if str(device).startswith('cuda') else 'cpu'
    if device_type == 'cuda':
        n = max(n, 4096)
    g = torch.Generator(device).manual_seed(0)  # a private generator: the global RNG (resume state) is untouched
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    a @ b  # warmup
    synchronize(device_type)
    best, t_end = 0.0, time.time() + seconds
    while time.time() < t_end:
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        synchronize(device_type)
        best = max(best, 4 * 2 * n ** 3 / (time.perf_counter() - t0))
    _PEAK_CACHE[key] = best
    return best


def timed_train_step(net, opt, x, hf=False):
    """Seconds of one full training step (forward, backward, update) on tokens x predicting themselves. `hf`
    calls a transformers causal LM (labels=) instead of our GPT (or any model called as net(x, targets))."""
    t0 = time.perf_counter()
    loss = net(input_ids=x, labels=x).loss if hf else net(x, x)[1]
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    synchronize('cuda' if x.is_cuda else 'cpu')
    return time.perf_counter() - t0


def time_train_steps(net, batch, block_size, vocab_size, steps=5, device='cpu', hf=False):
    """Median seconds of a full AdamW training step on random tokens, after 2 warmup steps."""
    import statistics
    net.to(device).train()
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.1)
    x = torch.randint(0, vocab_size, (batch, block_size), device=device)
    return statistics.median([timed_train_step(net, opt, x, hf) for _ in range(steps + 2)][2:])


# -----------------------------------------------------------------------------
# Data: one interface for local data everywhere, the DATA_DIR environment variable.

def data_dir(name=None):
    """Local copy of a public dataset under $DATA_DIR/<name>, or None when DATA_DIR is unset (= use online
    sources). A DATA_DIR that is set but lacks the folder is an error, never a silent download."""
    root = os.environ.get('DATA_DIR')
    if not root:
        return None
    if not os.path.isdir(root):
        raise UserError(f"DATA_DIR={root} is not a directory (unset it to use online sources)")
    if name is None:
        return root
    path = os.path.join(root, name)
    if not os.path.isdir(path):
        raise UserError(f"DATA_DIR={root} has no '{name}/' folder (see DATA_DIR's README for the layout, "
                        f"or unset DATA_DIR to download)")
    return path


def hub_texts(path, name=None, split='train', column='text', **kwargs):
    """The `column` of a Hugging Face hub dataset, row by row (streamed: nothing is held but the current shard).
    A machine that cannot reach the hub gets one line that names DATA_DIR instead of a traceback."""
    from datasets import load_dataset
    try:
        for row in load_dataset(path, name, split=split, streaming=True, **kwargs):
            yield row[column]
    except ConnectionError as e:  # datasets' "Couldn't reach 'wikitext' on the Hub" and requests' errors
        raise UserError(f"cannot download {path} from the Hugging Face hub ({str(e).splitlines()[0][:120]}); "
                        f"offline, point DATA_DIR at a local copy (DATA_DIR=path/to/data, see README)") from None


WIKITEXT = {'wikitext2': 'wikitext-2-raw-v1', 'wikitext103': 'wikitext-103-raw-v1'}


def wikitext_rows(split, name='wikitext2'):
    """WikiText raw (Merity et al. 2016), row by row: the hub's rows, or $DATA_DIR/<name>/<split>.txt (the original
    wiki.<split>.raw layout) turned into the same rows, blank single-space lines becoming empty rows (per the data
    README). Streamed, so WikiText-103's 0.5 GB never sits in memory. split: train, validation or test."""
    local = data_dir(name)
    if local is None:
        yield from hub_texts('wikitext', WIKITEXT[name], split=split)
        return
    with open(os.path.join(local, f'{split}.txt'), encoding='utf-8', newline='\n') as f:
        for line in f:
            if line.endswith('\n'):  # a last line without its newline is not a row (the hub drops it too)
                yield line if line[:-1].strip() else ''


def wikitext2_text(split):
    """WikiText-2 raw as one string (2M tokens: small enough to hold)."""
    return ''.join(wikitext_rows(split, 'wikitext2'))


def dataset_dir(dataset):
    """A training dataset (train.bin/val.bin/meta.json): data/<name>/ in the repo, or a directory path."""
    return dataset if os.sep in dataset or os.path.isdir(dataset) else os.path.join(REPO, 'data', dataset)


def token_dir(prepare_file, tokenizer):
    """Where data/<name>/prepare.py writes by default: data/<name> for gpt2, data/<name>_8k for gpt2_8k."""
    here = os.path.dirname(os.path.abspath(prepare_file))
    return here if tokenizer == 'gpt2' else here + tokenizer.removeprefix('gpt2')


def load_meta(ddir, dataset):
    meta_path = os.path.join(ddir, 'meta.json')
    for f in ('train.bin', 'val.bin', 'meta.json'):
        p = os.path.join(ddir, f)
        if not os.path.exists(p) or os.path.getsize(p) == 0:
            name, _, vocab = os.path.basename(dataset.rstrip('/')).partition('_')
            how = f"python data/{name}/prepare.py" + (f" --tokenizer=gpt2_{vocab}" if vocab else "")
            raise UserError(f"{p} is missing or empty; prepare it with: {how} "
                            f"(with DATA_DIR=path/to/data to prepare offline)")
    with open(meta_path) as f:
        return json.load(f)


GPT2_BPE_HASHES = dict(vocab_bpe_hash="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
                       encoder_json_hash="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783")
GPT2_BPE_URL = 'https://openaipublic.blob.core.windows.net/gpt-2/encodings/main'
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""  # tiktoken's r50k


class HFTokenizer:
    """A Hugging Face model folder's tokenizer behind the three things our code uses of tiktoken (encode, decode,
    eot_token), so HF decoders imported with GPT.from_hf run through the same generation and task code."""

    def __init__(self, folder):
        from transformers import AutoTokenizer
        self.tok = AutoTokenizer.from_pretrained(folder)
        self.eot_token = self.tok.eos_token_id
        self.n_vocab = len(self.tok)

    def encode(self, text, **_):
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids):
        return self.tok.decode(ids)


def get_tokenizer(name='gpt2'):
    """tiktoken GPT-2 BPE ('gpt2'), or the same BPE cut to its first merges ('gpt2_8k' = 8192 ids, the last one
    <|endoftext|>); a path to a Hugging Face model folder gives that folder's tokenizer (HFTokenizer).
    BPE merges are ranked, every token is built from lower-ranked ones, so keeping the lowest
    ranks is itself a valid BPE: no training, tiktoken still encodes, and a small model's 50k-wide softmax
    shrinks 6x (bench: 2.3-4.4x more training tok/s on CPU at the small shapes). The BPE files come from
    $DATA_DIR/gpt2_bpe when DATA_DIR is set, else tiktoken downloads (and caches) them."""
    if os.path.isdir(name):
        return HFTokenizer(name)
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    m = re.fullmatch(r'gpt2(?:_(\d+)k)?', name)
    if not m:
        raise UserError(f"unknown tokenizer '{name}' (supported: gpt2, gpt2_<N>k such as gpt2_8k)")
    local = data_dir('gpt2_bpe') if os.environ.get('DATA_DIR') else None
    where = local or GPT2_BPE_URL
    try:
        ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=f'{where}/vocab.bpe',
                                                encoder_json_file=f'{where}/encoder.json', **GPT2_BPE_HASHES)
    except Exception as e:  # noqa: BLE001 - offline without DATA_DIR: one line, and the local route
        raise UserError(f"cannot read the GPT-2 BPE files from {where} ({type(e).__name__}); offline, set DATA_DIR "
                        f"to a folder with gpt2_bpe/vocab.bpe and gpt2_bpe/encoder.json") from None
    n_vocab = 50257
    if m.group(1):
        n_vocab = int(m.group(1)) * 1024
        if not 257 <= n_vocab <= 50257:
            raise UserError(f"tokenizer '{name}': vocabulary must be between 257 and 50257 ids")
        ranks = {token: rank for token, rank in ranks.items() if rank < n_vocab - 1}
    return tiktoken.Encoding(name=name, pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={'<|endoftext|>': n_vocab - 1}, explicit_n_vocab=n_vocab)


# -----------------------------------------------------------------------------
# Checkpoints: atomic writes, validated loads, weights_only=True always.

def check_writable(out_dir, need_bytes=0):
    """Fail before training, not at the first save, when out_dir cannot hold a checkpoint."""
    import shutil
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = os.path.join(out_dir, f'.write_probe_{os.getpid()}')
        with open(probe, 'w') as f:
            f.write('ok')
        os.remove(probe)
    except OSError as e:
        raise UserError(f"cannot write to out_dir={out_dir}: {e.strerror}") from None
    free = shutil.disk_usage(out_dir).free
    if need_bytes and free < need_bytes:
        raise UserError(f"out_dir={out_dir} has {free / 1e9:.2f} GB free; a checkpoint needs ~{need_bytes / 1e9:.2f} GB")


def atomic_save(obj, path):
    """torch.save to a temp file in the same directory, fsync, then os.replace: a kill at any moment leaves
    either the old file or the new one, never half of one."""
    tmp = f'{path}.tmp'
    try:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:  # a full disk (ENOSPC) or a quota: the previous file is untouched
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise UserError(f"could not write {path}: {e.strerror or e} (disk full?); the previous "
                        f"{os.path.basename(path)} is intact") from None
    os.replace(tmp, path)


_LOCKS = {}  # out_dir (real path) -> its open lock file, held for the life of the process


def lock_out_dir(out_dir):
    """One live run per out_dir: an exclusive flock on out_dir/.lock, held until the process exits. The kernel
    drops it when the process dies, SIGKILL included, so a killed run never leaves a stale lock behind."""
    import fcntl
    if os.path.realpath(out_dir) in _LOCKS:
        return
    try:
        os.makedirs(out_dir, exist_ok=True)
        f = open(os.path.join(out_dir, '.lock'), 'a+')
    except OSError as e:
        raise UserError(f"cannot write to out_dir={out_dir}: {e.strerror}") from None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        raise UserError(f"out_dir={out_dir} is in use by a running process (pid {f.read().strip() or '?'}); "
                        f"wait for it or stop it, or choose another out_dir") from None
    f.seek(0)
    f.truncate()
    f.write(f'{os.getpid()}\n')
    f.flush()
    _LOCKS[os.path.realpath(out_dir)] = f


def wandb_run(project, name, config):
    """An experiment-tracker run (Weights & Biases), as nanoGPT's wandb_log switch: an optional package, imported
    only when asked for. WANDB_MODE=offline logs to ./wandb without a network (`wandb sync` uploads it later)."""
    try:
        import wandb
    except ImportError:
        raise UserError("wandb_log=True needs the wandb package: pip install wandb "
                        "(WANDB_MODE=offline works without a network)") from None
    return wandb.init(project=project, name=name or None, config=config)


def start_log(out_dir, config, keep_before, master=True, tracker=None):
    """Open a run folder: lock it (lock_out_dir), write config.json and the JSONL log's kept rows (a resumed run
    drops what the killed run wrote after its checkpoint; a new run passes 0 and starts empty). Returns log(row),
    which appends a row, and sends it to `tracker` (a wandb_run) too; under DDP only rank 0 (master) writes."""
    log_path = os.path.join(out_dir, 'log.jsonl')
    if master:
        lock_out_dir(out_dir)  # before the first write: a second run into a live out_dir stops here
        write_json(config, os.path.join(out_dir, 'config.json'))
        kept = []
        if os.path.exists(log_path):
            with open(log_path) as f:
                kept = [line for line in f if json.loads(line)['iter'] < keep_before]
        with open(log_path, 'w') as f:
            f.writelines(kept)

    def log(row):
        if master:
            with open(log_path, 'a') as f:
                f.write(json.dumps(row) + '\n')
            if tracker is not None:
                tracker.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=row['iter'])
    return log


def write_jsonl(rows, path):
    """One JSON object per line (samples, predictions, error examples), written whole then renamed."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    with open(f'{path}.tmp', 'w') as f:
        f.writelines(json.dumps(r, default=str) + '\n' for r in rows)
    os.replace(f'{path}.tmp', path)


_NUMBER_LIST = re.compile(r'\[\s+((?:-?[\d.eE+-]+|null|true|false)(?:,\s+(?:-?[\d.eE+-]+|null|true|false))*)\s+\]')


def write_examples(rows, path, key='category', per_key=3):
    """A results folder keeps a sample of per-example output, not a dump: the first per_key rows of each value of
    row[key] (a category, a tag set, right/wrong; rows without it form one group), in their order. Rerunning the
    command regenerates the whole list."""
    counts, kept = {}, []
    for r in rows:
        group = str(r.get(key))
        counts[group] = counts.get(group, 0) + 1
        if counts[group] <= per_key:
            kept.append(r)
    write_jsonl(kept, path)
    return kept


def write_json(obj, path):
    """Indented JSON, written whole then renamed; a list of plain numbers stays on one line (a 32x32 attention map
    is 32 lines, not 1,024)."""
    text = _NUMBER_LIST.sub(lambda m: '[' + ', '.join(x.strip() for x in m.group(1).split(',')) + ']',
                            json.dumps(obj, indent=2, default=str))
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        f.write(text + '\n')
    os.replace(tmp, path)


def save_checkpoint(path, model, model_args, config, **extra):
    """`extra` holds the stage's resume state: optimizer, iter_num, rng, ... Everything must be tensors,
    containers and primitives so that torch.load(weights_only=True) can read it back."""
    raw = model.module if hasattr(model, 'module') else model
    raw = getattr(raw, '_orig_mod', raw)  # torch.compile wrapper
    if not all(torch.isfinite(p).all() for p in raw.parameters()):
        raise UserError(f"refusing to save {path}: the model has NaN/inf weights (the previous checkpoint is kept)")
    ckpt = dict(format_version=CKPT_FORMAT, model=raw.state_dict(), model_args=model_args,
                config=config, **extra)
    atomic_save(ckpt, path)


def load_checkpoint(path, map_location='cpu'):
    """Load and validate a checkpoint written by save_checkpoint. Every failure is one clear line."""
    if os.path.isdir(path):
        path = os.path.join(path, 'ckpt.pt')
    if not os.path.exists(path):
        raise UserError(f"no checkpoint at {path}; train one first (python train.py config/train_tiny.py)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated zip, pickle garbage, disallowed globals
        raise UserError(f"{path} is not a readable checkpoint (truncated or corrupt?): {type(e).__name__}") from None
    if not isinstance(ckpt, dict) or 'model' not in ckpt or 'model_args' not in ckpt:
        raise UserError(f"{path} is not a modern-llm checkpoint (no model/model_args)")
    version = ckpt.get('format_version', 0)
    if version > CKPT_FORMAT:
        raise UserError(f"{path} has checkpoint format {version}, newer than this code's {CKPT_FORMAT}; update the code")
    return ckpt


def model_from_checkpoint(ckpt, device='cpu'):
    """Build the GPT a checkpoint describes and load its weights (strict: another architecture is an error)."""
    try:
        model = GPT(GPTConfig(**ckpt['model_args']))
    except TypeError as e:
        raise UserError(f"checkpoint model_args do not fit this GPTConfig: {e}") from None
    state = {k.removeprefix('_orig_mod.').removeprefix('module.'): v for k, v in ckpt['model'].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[:3]
        raise UserError(f"checkpoint weights do not match its architecture: {' '.join(first)}") from None
    return model.to(device)


def is_hf_folder(path):
    """A Hugging Face model folder (config.json, no ckpt.pt): export.py's, finetune.py's, SmolLM2. Our run folders
    hold a config.json too (the run's config), so ckpt.pt is what marks them as ours."""
    return (os.path.isdir(path) and os.path.exists(os.path.join(path, 'config.json'))
            and not os.path.exists(os.path.join(path, 'ckpt.pt')))


def load_model(path, device='cpu'):
    """Our checkpoint (file or run folder with ckpt.pt), or a Hugging Face Llama folder (export.py's, or any
    bias-free Llama such as SmolLM2) imported with GPT.from_hf."""
    if is_hf_folder(path):
        sidecar = os.path.join(path, 'modern_llm.json')  # written by export.py: our tokenizer's name
        info = json.load(open(sidecar)) if os.path.exists(sidecar) else {'tokenizer': path}  # else the folder's own
        return GPT.from_hf(path).to(device), {'config': info}
    ckpt = load_checkpoint(path)
    return model_from_checkpoint(ckpt, device), ckpt


def ckpt_name(ckpt):
    """A result name from --ckpt: the run folder of a checkpoint file, or the folder itself (HF folders)."""
    path = os.path.abspath(ckpt)
    return os.path.basename(path if os.path.isdir(path) else os.path.dirname(path))


def load_for_inference(path, device='cpu'):
    """load_model in eval mode with the tokenizer its checkpoint names (tiktoken, or an HF folder's own):
    how every script that samples or scores starts. Returns (model, enc, meta)."""
    model, meta = load_model(path, device)
    return model.eval(), get_tokenizer(meta.get('config', {}).get('tokenizer', 'gpt2')), meta


# -----------------------------------------------------------------------------
# Provenance: every result row says what made it.

# what runs write, so that a run never makes the code "dirty" for the next: results, the paper and its figures,
# checkpoints, and the README, whose results table report/make.py rewrites (speedrun.sh's last step)
PROVENANCE_EXCLUDE = ('experiments', 'report', 'out', 'README.md')


def git_state():
    """(commit, sha256 of the tracked code's diff against it or None when clean). Untracked files and the
    folders runs write (PROVENANCE_EXCLUDE) are left out."""
    import hashlib
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return 'unknown', None
        diff = subprocess.run(['git', 'diff', 'HEAD', '--binary', '--', '.',
                               *[f':(exclude){d}' for d in PROVENANCE_EXCLUDE]],
                              cwd=REPO, capture_output=True, timeout=30).stdout
        return head.stdout.strip(), hashlib.sha256(diff).hexdigest()[:16] if diff else None
    except (OSError, subprocess.SubprocessError):
        return 'unknown', None


def run_command():
    """This process's command line as something a person can paste into a shell (torchrun included)."""
    import shlex
    cmd = shlex.join([os.path.basename(sys.executable)] + sys.argv)
    if os.environ.get('LOCAL_WORLD_SIZE'):
        cmd = shlex.join(['torchrun', '--standalone', f"--nproc_per_node={os.environ['LOCAL_WORLD_SIZE']}"] + sys.argv)
    return cmd


def hardware():
    hw = dict(platform=platform.platform(), processor=platform.processor() or platform.machine(),
              cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(), torch=torch.__version__)
    if torch.cuda.is_available():
        hw['gpu'] = torch.cuda.get_device_name(0)
    try:
        hw['loadavg_1m'] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return hw


def provenance(t0=None):
    """Where a result came from, as taken when this process started (RUN_START, below): the command, the commit
    and the diff hash of the code that ran (code_diff_sha256 None = committed code), hardware, the start time; and
    the wall time since t0 (default: the process's start)."""
    return dict(RUN_START, hardware=hardware(), wall_time_s=round(time.time() - (t0 or _T0), 2))


_T0 = time.time()
_commit, _diff = git_state()
RUN_START = dict(command=run_command(), git_commit=_commit, code_dirty=_diff is not None, code_diff_sha256=_diff,
                 date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))


def append_result(row, suite, name, root=os.path.join(REPO, 'experiments')):
    """Write <root>/<suite>/<name>.json and update the suite's results.csv (one row per name); git log is the
    history of both."""
    import csv
    exp = os.path.join(root, suite)
    os.makedirs(exp, exist_ok=True)
    write_json(row, os.path.join(exp, f'{name}.json'))
    flat = {k: (json.dumps(v) if isinstance(v, (dict, list, tuple)) else v) for k, v in row.items()}
    flat = {k: (f'(in {name}.json)' if isinstance(v, str) and len(v) > 1000 else v) for k, v in flat.items()}
    csv_path = os.path.join(exp, 'results.csv')
    rows = []
    if os.path.exists(csv_path):
        with open(csv_path) as f:
            rows = [r for r in csv.DictReader(f) if r.get('name') != name]
    rows.append(flat)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(csv_path + '.tmp', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    os.replace(csv_path + '.tmp', csv_path)


def nats_to_bpb(loss, n_tokens, n_bytes):
    """Bits per byte: total nats over the text / ln 2 / its UTF-8 bytes. Tokenizer-independent."""
    return loss * n_tokens / (math.log(2) * n_bytes)


# -----------------------------------------------------------------------------
# Token files written by data/*/prepare.py and read by every stage. A corpus streams through in pieces, so
# memory stays bounded whatever its size (FineWeb-Edu's billions of tokens as well as WikiText-2's 2 million).

EOT = '<|endoftext|>'        # document separator in every corpus: '\n<|endoftext|>\n' between documents
_SAFE_CUT = re.compile(r'\S\n ?\S')
CHUNK_CHARS = 1 << 20        # target size of one piece of text handed to the tokenizer
BATCH_CHARS = 1 << 23        # text tokenized at once (tiktoken's thread pool): the memory bound of a prepare run


def joined(docs, sep='\n' + EOT + '\n'):
    """Documents as the pieces of sep.join(docs), without building the joined string."""
    for i, doc in enumerate(docs):
        yield doc if i == 0 else sep + doc


def text_pieces(chunks, size=None):
    """Re-cut a stream of text into ~size-character pieces, each cut right after a newline that has a non-space
    character before it and, after it, a non-space or one space and a non-space ('x\ny', 'x\n y': WikiText's rows
    all start with a space). Encoding the pieces one by one gives exactly the ids of encoding their concatenation
    (tested), because GPT-2's pre-tokenizer makes such a newline a token of its own. Text without a cut stays whole."""
    size = size or CHUNK_CHARS
    tail, n, want = [], 0, 2 * size
    for chunk in itertools.chain(chunks, [None]):  # None: the stream has ended, the tail goes out whole
        if chunk is not None:
            tail.append(chunk)
            n += len(chunk)
            if n < want:
                continue
        text, i = ''.join(tail), 0
        while m := _SAFE_CUT.search(text, i + size):
            yield text[i:m.start() + 2]
            i = m.start() + 2
        tail, n = [text[i:]], len(text) - i
        want = max(2 * size, 2 * n)  # no cut in the tail yet: wait for twice as much text before looking again
    if n:
        yield tail[0]


def check_disk(out_dir, n_tokens, bytes_per_token=2):
    """Say how much disk a prepare run needs before it writes anything, and refuse when it does not fit."""
    import shutil
    os.makedirs(out_dir, exist_ok=True)
    need, free = n_tokens * bytes_per_token, shutil.disk_usage(out_dir).free
    print(f"writing ~{n_tokens / 1e6:,.1f}M tokens = ~{need / 1e9:.2f} GB to {out_dir} ({free / 1e9:.1f} GB free)")
    if need > free:
        raise UserError(f"{out_dir} has {free / 1e9:.2f} GB free but the token files need ~{need / 1e9:.2f} GB; "
                        f"free some space, choose another out_dir or lower max_tokens")


def write_token_dataset(out_dir, splits, source, tokenizer='gpt2', allowed_special=(), max_tokens=None,
                        est_tokens=None):
    """Tokenize {split: text, or an iterable of text pieces} into <split>.bin (uint16) and record per-split
    tokens, UTF-8 bytes and whitespace words in meta.json, so that bits-per-byte and word-level perplexity need
    no raw text later. Pieces stream through BATCH_CHARS at a time; each .bin is written to .tmp and renamed
    when complete, and meta.json comes last, so an interrupted run never leaves a dataset that looks whole.
    max_tokens: {split: cap} (the split's stream is cut there). est_tokens: the expected total, for the disk
    check (default: the caps, else ~1 token per 3 characters of the given texts)."""
    import numpy as np
    enc = get_tokenizer(tokenizer)
    max_tokens = max_tokens or {}
    if est_tokens is None:
        est_tokens = sum(max_tokens.get(s) or (len(t) // 3 if isinstance(t, str) else 0) for s, t in splits.items())
    check_disk(out_dir, est_tokens)
    meta = dict(tokenizer=tokenizer, vocab_size=enc.n_vocab, eot_token=enc.eot_token, dtype='uint16',
                source=source, splits={})
    for split, pieces in splits.items():
        pieces = text_pieces([pieces]) if isinstance(pieces, str) else pieces
        cap = max_tokens.get(split) or float('inf')
        path = os.path.join(out_dir, f'{split}.bin')
        stats = dict(tokens=0, bytes=0, words=0)
        with open(path + '.tmp', 'wb') as f:
            batch, n = [], 0
            for piece in itertools.chain(pieces, [None]):  # None: flush the last batch
                if piece is not None:
                    batch.append(piece)
                    n += len(piece)
                    # a capped split takes about what it still needs (>= 2 characters a token), so that a
                    # shared stream (val, then train) loses at most one piece at the cut
                    if n < min(BATCH_CHARS, 2 * (cap - stats['tokens'])):
                        continue
                for text, ids in zip(batch, enc.encode_batch(batch, allowed_special=set(allowed_special))):
                    keep = ids[:int(min(len(ids), cap - stats['tokens']))]
                    if len(keep) < len(ids):  # the cap cuts this piece: count only the text kept
                        text = enc.decode(keep)
                    np.array(keep, dtype=np.uint16).tofile(f)
                    stats['tokens'] += len(keep)
                    stats['bytes'] += len(text.encode('utf-8'))
                    stats['words'] += len(text.split())
                batch, n = [], 0
                if stats['tokens'] >= cap:
                    break
            if stats['tokens'] == 0:
                raise UserError(f"split '{split}' of {source} is empty")
        os.replace(path + '.tmp', path)
        meta['splits'][split] = stats
        print(f"{split}: {stats['tokens']:,} tokens, {stats['bytes']:,} bytes")
    write_json(meta, os.path.join(out_dir, 'meta.json'))
    return meta
