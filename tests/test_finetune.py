"""finetune.py on tiny randomly initialised GPT-2 (Conv1D c_attn), T5 (encoder-decoder, q/v) and Llama folders
(no real weights are reachable offline): every task and mode runs, LoRA trains only adapters, rows are written;
bad input gets one clear line."""
import json
import math
import os

import pytest

from conftest import assert_stops_after_bad_steps, needs_data_dir, run, tiny_hf_folder

pytestmark = needs_data_dir()


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    d = tmp_path_factory.mktemp('hf')
    for arch in ('gpt2', 'llama', 't5'):
        tiny_hf_folder(d / arch, arch)
    return d


def ft(folder, tmp_path, *args):
    run('finetune.py', f'--model={folder}', '--n_train=64', '--n_eval=6', '--eval_batch_size=3', '--batch_size=2',
        '--max_iters=3', '--max_len=96', '--max_new_tokens=6', '--device=cpu', f'--results_dir={tmp_path}',
        f'--out_dir={tmp_path}/saved', *args)
    name = next(a.split('=', 1)[1] for a in args if a.startswith('--name='))
    return json.load(open(tmp_path / 'finetune' / f'{name}.json'))


@pytest.mark.parametrize('arch', ['gpt2', 'llama', 't5'])
def test_sst2_lora_every_architecture(folders, tmp_path, arch):
    row = ft(folders / arch, tmp_path, '--task=sst2', '--mode=lora', '--name=r')
    assert row['arch'] == arch and row['iters'] == 3 and row['n_eval'] == 6
    assert 0 < row['trainable_params'] < 0.2 * row['params']  # only the adapters train
    assert 0 <= row['accuracy'] <= 1 and 0 <= row['macro_f1'] <= 1 and row['git_commit']
    wrong = [json.loads(x) for x in open(tmp_path / 'finetune' / 'r_examples.jsonl')]
    assert len(wrong) == round((1 - row['accuracy']) * 6)
    assert all('p_positive' in w and w['categories'] for w in wrong)


def test_sst2_qlora_nf4_base(folders, tmp_path):
    """QLoRA-style: the frozen base goes to NF4 and the adapters still train (and are saved alone)."""
    row = ft(folders / 'llama', tmp_path, '--task=sst2', '--mode=lora', '--quantize=True', '--name=q')
    assert row['quantize'] is True and 0 < row['trainable_params'] < row['params'] and row['iters'] == 3
    assert os.listdir(tmp_path / 'saved') == ['adapter.pt']


def test_eval_py_scores_like_finetune_py(folders, tmp_path):
    """One prompt and one scorer: eval.py sst2 (our GPT.from_hf, right padding) gives the P(positive) that
    finetune.py (transformers, left padding) gives, example by example, for the base model and for the
    LoRA model finetune.py saved (adapters merged into an HF folder)."""
    for mode, ckpt in (('zero_shot', folders / 'llama'), ('lora', tmp_path / 'saved')):
        row = ft(folders / 'llama', tmp_path, '--task=sst2', f'--mode={mode}', f'--name={mode}', '--n_eval=12',
                 '--learning_rate=0.05')
        run('eval.py', 'sst2', f'--ckpt={ckpt}', '--n_problems=12', f'--results_dir={tmp_path}', f'--name=ev_{mode}',
            '--device=cpu', '--batch_size=5')
        ours = json.load(open(tmp_path / 'sst2' / f'ev_{mode}.json'))
        assert ours['accuracy'] == row['accuracy'] and ours['n_eval'] == row['n_eval'] == 12
        theirs = {w['input']: w['p_positive'] for w in map(json.loads, open(tmp_path / 'finetune' / f'{mode}_examples.jsonl'))}
        mine = {w['input']: w['p_positive'] for w in map(json.loads, open(tmp_path / 'sst2' / f'ev_{mode}_errors.jsonl'))}
        assert theirs.keys() == mine.keys() and all(abs(theirs[k] - mine[k]) < 1e-4 for k in theirs)
        if mode == 'zero_shot':
            base = theirs
    assert theirs != base  # the saved model is the trained one, not the base


def test_samsum_encoder_decoder_and_decoder(folders, tmp_path):
    row = ft(folders / 't5', tmp_path, '--task=samsum', '--mode=lora', '--name=t5')
    assert set(row) >= {'rouge1', 'rouge2', 'rougeL', 'rougeLsum'} and row['train_skipped'] >= 1  # the empty dialogue
    row = ft(folders / 'llama', tmp_path, '--task=samsum', '--mode=zero_shot', '--name=ll')
    assert row['trainable_params'] == 0 and 'rouge1' in row
    samples = [json.loads(x) for x in open(tmp_path / 'finetune' / 'll_examples.jsonl')]
    assert len(samples) == 3 and all({'input', 'output', 'reference'} <= set(s) for s in samples)  # write_examples: the first 3


def test_chat_lora_paired_with_its_chat_baseline(folders, tmp_path):
    """chat=True trains and scores in the tokenizer's chat template, and paired_with lines this run's items up
    with a baseline's: a paired bootstrap per ROUGE metric (exact McNemar for gsm8k's right/wrong), over the
    same dialogues. A baseline scored on other items is refused."""
    from transformers import AutoTokenizer
    chat = tmp_path / 'chat'
    tok = AutoTokenizer.from_pretrained(folders / 'llama')
    tok.chat_template = ("{% for m in messages %}<|endoftext|>{{ m['role'] }}\n{{ m['content'] }}<|endoftext|>\n"
                         "{% endfor %}{% if add_generation_prompt %}<|endoftext|>assistant\n{% endif %}")
    tok.save_pretrained(chat)
    for f in os.listdir(folders / 'llama'):
        if not (chat / f).exists():
            os.symlink(folders / 'llama' / f, chat / f)
    base = ft(chat, tmp_path, '--task=samsum', '--mode=zero_shot', '--chat=True', '--name=zs')
    assert len(base['item_scores']['rougeL']) == 6 and base['rougeL_ci95'][0] <= base['rougeL'] <= base['rougeL_ci95'][1]
    row = ft(chat, tmp_path, '--task=samsum', '--mode=lora', '--chat=True', '--paired_with=zs', '--name=lc')
    t = row['paired']['rougeL']
    assert t['test'] == 'paired_bootstrap' and t['n'] == 6 and t['baseline'] == 'zs'
    assert t['a_mean'] == pytest.approx(base['rougeL'], abs=0.01) and t['b_mean'] == pytest.approx(row['rougeL'], abs=0.01)
    p = run('finetune.py', f'--model={chat}', '--task=samsum', '--mode=zero_shot', '--chat=True', '--n_eval=5',
            '--max_new_tokens=2', '--paired_with=zs', f'--results_dir={tmp_path}', '--name=other', check=False)
    assert p.returncode == 1 and 'scores other items' in p.stderr
    p = run('finetune.py', f'--model={chat}', '--task=samsum', '--paired_with=nothing', f'--results_dir={tmp_path}', check=False)
    assert p.returncode == 1 and 'run that baseline first' in p.stderr


def test_engine_decodes_what_hf_generate_does(folders, tmp_path):
    """engine=True (GPT.from_hf + engine.generate_batch, ragged batches) gives the texts that HF generate gives,
    item by item: plain SAMSum, few-shot GSM8K (long shared exemplars), and a LoRA model after its merge."""
    for task, mode in (('samsum', 'zero_shot'), ('gsm8k', 'few_shot'), ('samsum', 'lora')):
        rows = [ft(folders / 'llama', tmp_path, f'--task={task}', f'--mode={mode}', '--k_shot=1', '--n_eval=7',
                   f'--engine={e}', f'--name={task}_{mode}_{e}', '--max_new_tokens=12', '--learning_rate=0.05')
                for e in (True, False)]
        assert rows[0]['item_scores'] == rows[1]['item_scores'] and rows[0]['config']['engine'] is True
        ours, hf = ([json.loads(x)['output'] for x in open(tmp_path / 'finetune' / f'{task}_{mode}_{e}_examples.jsonl')]
                    for e in (True, False))
        assert ours == hf and any(o.strip() for o in ours)


def test_gsm8k_few_shot_and_full(folders, tmp_path):
    row = ft(folders / 'gpt2', tmp_path, '--task=gsm8k', '--mode=few_shot', '--k_shot=2', '--name=fs')
    assert row['k_shot'] == 2 and len(row['em_ci95']) == 2
    row = ft(folders / 'gpt2', tmp_path, '--task=gsm8k', '--mode=full', '--name=full')
    assert row['trainable_params'] == row['params']


def test_finetune_bad_input(folders, tmp_path):
    p = run('finetune.py', '--task=poetry', check=False)
    assert p.returncode == 1 and "unknown task 'poetry'" in p.stderr
    p = run('finetune.py', '--task=sst2', '--chat=True', '--mode=zero_shot', check=False)
    assert p.returncode == 1 and 'chat=True is for samsum/gsm8k' in p.stderr
    p = run('finetune.py', f'--model={tmp_path}/no_such_model', '--task=sst2', '--mode=zero_shot', check=False)
    assert p.returncode == 1 and 'cannot load model' in p.stderr and 'data/models/prepare.py' in p.stderr
    data = tmp_path / 'data' / 'sst2'
    data.mkdir(parents=True)
    (data / 'train.jsonl').write_text('{"sentence": "good", "label": 1}\n{"sentence": "bad", "label": 7}\n{"sentence": ""}\n')
    (data / 'validation.jsonl').write_text('{"sentence": "fine", "label": 1}\n')
    p = run('finetune.py', f'--model={folders / "gpt2"}', '--task=sst2', '--mode=zero_shot', f'--results_dir={tmp_path}',
            env=dict(DATA_DIR=str(tmp_path / 'data')), check=False)
    assert p.returncode == 0, p.stderr
    assert 'sst2 train: 1 rows (2 skipped' in p.stdout


def test_eval_lm_and_attention_on_an_hf_folder(folders, tmp_path):
    """An HF Llama folder brings its own tokenizer: eval.py tokenizes WikiText-2's raw text with it, and bits
    per byte count the raw text's bytes (so they compare across tokenizers)."""
    run('eval.py', 'attention', f'--ckpt={folders / "llama"}', f'--results_dir={tmp_path}', '--name=hf', '--n_seqs=2',
        '--device=cpu')
    row = json.load(open(tmp_path / 'attention' / 'hf.json'))
    assert row['n_layer'] == 1 and row['context'] == 128 and len(row['maps'][0]) == 2 and len(row['tokens']) == 32
    run('eval.py', 'lm', f'--ckpt={folders / "llama"}', f'--results_dir={tmp_path}', '--name=hf', '--splits=val',
        '--max_tokens=300', '--context=64', '--device=cpu')
    row = json.load(open(tmp_path / 'lm' / 'hf_val.json'))
    assert row['tokens_scored'] == 299 and row['block_size'] == 64 and row['bpb'] > 0
    assert row['token_ppl'] == pytest.approx(math.exp(row['nll_per_token']))
    assert row['train_config'] is None  # no training summary beside a downloaded model (not the eval's own config)
    p = run('eval.py', 'lm', f'--ckpt={folders / "llama"}', '--dataset=tinystories', f'--results_dir={tmp_path}', check=False)
    assert p.returncode == 1 and "scored on WikiText-2's raw text only" in p.stderr


def test_attention_maps_match_transformers_output_attentions(folders):
    """Our attention maps of an imported Llama folder against transformers' own (eager attention,
    output_attentions=True): the independent reference for the HF rows of eval.py attention."""
    import torch
    from transformers import AutoModelForCausalLM
    from model import GPT
    hf = AutoModelForCausalLM.from_pretrained(folders / 'llama', attn_implementation='eager').eval()
    ours = GPT.from_hf(str(folders / 'llama')).eval()
    idx = torch.randint(0, 50257, (2, 24))
    with torch.no_grad():
        want = torch.stack(hf(idx, output_attentions=True).attentions)  # (L, B, H, T, T)
        got = ours.attention_maps(idx)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_finetune_step_guard(folders, tmp_path):
    """grad_clip=0 lets the gradient through and non-finite steps stop the run, saving nothing
    (assert_stops_after_bad_steps)."""
    p = run('finetune.py', f'--model={folders / "llama"}', '--task=sst2', '--mode=full', '--n_train=64', '--n_eval=6',
            '--batch_size=2', '--max_iters=20', '--max_len=96', '--device=cpu', f'--results_dir={tmp_path}',
            f'--out_dir={tmp_path}/nan', '--learning_rate=1e30', '--grad_clip=0', '--weight_decay=0', '--max_bad_steps=2',
            check=False)
    assert_stops_after_bad_steps(p)
    assert not os.path.exists(tmp_path / 'nan')
