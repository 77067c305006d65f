"The `peftbench` command as users run it: a subprocess, exit codes, messages, and the demo's outputs."
import json, os, subprocess, sys
from pathlib import Path

import pytest

ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}


def cli(*args, cwd=None, timeout=600):
    return subprocess.run([str(Path(sys.executable).parent / 'peftbench'), *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=timeout)


@pytest.mark.parametrize('args, needle', [
    (['estimate', './no/such/folder'], 'does not exist'),
    (['train', 'missing.yaml', '--out', 'x'], "recipe file 'missing.yaml' does not exist"),
])
def test_bad_input_is_one_sentence(tmp_path, args, needle):
    p = cli(*args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and 'Traceback' not in p.stderr
    assert '--debug' not in p.stderr


def test_invalid_recipe_lists_every_problem(tmp_path):
    (tmp_path / 'r.yaml').write_text('adapter:\n  method: lora\n  r: 0\ntraining:\n  lr: -1\n')
    p = cli('train', 'r.yaml', '--out', 'run', cwd=tmp_path)
    assert p.returncode == 2 and 'Traceback' not in p.stderr
    assert 'lora r must be a positive integer, got 0' in p.stderr and 'training.lr' in p.stderr
    assert not (tmp_path / 'run').exists()  # a recipe that fails validation never starts


def test_unreachable_hub_model(tmp_path):
    (tmp_path / 'r.yaml').write_text('model:\n  name: some-org/no-such-model-xyz\n')
    p = cli('train', 'r.yaml', '--out', 'run', '--max-steps', '1', cwd=tmp_path)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr
    assert "cannot load model 'some-org/no-such-model-xyz'" in p.stderr


def test_debug_shows_traceback(tmp_path):
    p = cli('train', 'missing.yaml', '--debug', cwd=tmp_path)
    assert p.returncode != 0 and 'Traceback' in p.stderr


def test_estimate_json(tmp_path):
    p = cli('estimate', 'Qwen/Qwen2.5-0.5B', '--quant', '4bit', '--gc', '--gpu', 'T4', '--json', cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    e = json.loads(p.stdout)
    assert e['peak_allocated_bytes'] <= e['peak_reserved_bytes'] <= e['total_bytes'] and e['verdict'] == 'fits'


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    "The demo's run folder: the one .ci/run made (PEFTBENCH_DEMO_DIR), or a fresh run."
    d = os.environ.get('PEFTBENCH_DEMO_DIR')
    if d: return Path(d).resolve()  # commands below run in other folders
    d = tmp_path_factory.mktemp('demo') / 'run'
    p = cli('demo', '--out', str(d))
    assert p.returncode == 0, p.stderr[-3000:]
    return d


def test_demo_outputs(demo_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from peftbench.pico import pico_path
    from peftbench.recipe import Recipe
    assert Recipe.load(demo_dir / 'recipe.yaml').adapter.method == 'lora'
    log = [json.loads(l) for l in (demo_dir / 'log.jsonl').read_text().splitlines()]
    train = [e for e in log if e['event'] == 'train']
    assert train and all({'step', 'loss', 'lr', 'epoch'} <= set(e) for e in train)
    assert train[-1]['loss'] < train[0]['loss'] / 2
    assert log[-1]['event'] == 'end' and log[-1]['status'] == 'finished'
    m = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(pico_path()), str(demo_dir / 'adapter'))
    assert any('lora_A' in n for n, _ in m.named_parameters())
    rows = json.loads((demo_dir / 'compare.json').read_text())
    assert len(rows) == 100 and all({'prompt', 'base', 'adapted', 'base_format', 'adapted_format'} <= set(r) for r in rows)


def test_demo_adapter_does_the_task(demo_dir):
    "The adapted model follows the format and names the right style on >= 80% of the held-out prompts; the base on <= 10%."
    from peftbench.pico import task_score
    rows = json.loads((demo_dir / 'compare.json').read_text())
    adapted = sum(r['adapted_format'] for r in rows) / len(rows)
    base = sum(r['base_format'] for r in rows) / len(rows)
    assert adapted >= 0.9 and base <= 0.1, (base, adapted)
    exact = {s: sum(r[f'{s}_exact'] for r in rows) / len(rows) for s in ('base', 'adapted')}
    assert exact['adapted'] >= 0.8 and exact['base'] <= 0.1, exact
    assert all(task_score(r[s], r['prompt'])['exact'] == r[f'{s}_exact'] for r in rows for s in ('base', 'adapted'))  # scored afresh
    s = json.loads((demo_dir / 'summary.json').read_text())
    assert s['metric']['format'] == {'base': base, 'adapted': adapted} and s['metric']['exact'] == exact


def test_compare_prints_the_table(demo_dir, tmp_path):
    "`peftbench compare RUN` on the demo's run: a row per held-out prompt, marked, the totals below; own prompts from a file."
    p = cli('compare', str(demo_dir), '--n', '5', '--max-new-tokens', '16', cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    lines = p.stdout.splitlines()
    assert [c.strip() for c in lines[0].split('|')] == ['prompt', 'base', 'adapted'], p.stdout
    rows = lines[2:7]
    assert all(r.count(' | ') == 2 for r in rows) and sum('✓' in r.split(' | ')[2] for r in rows) >= 3, p.stdout
    assert lines[7] == '' and lines[8].startswith('format: base') and lines[9].startswith('exact: base'), p.stdout
    assert f"comparing 5 prompts (greedy, up to 16 new tokens): the adapter in '{demo_dir}' off (base) and on (adapted)" in p.stderr
    (tmp_path / 'p.jsonl').write_text(json.dumps({'prompt': 'Q: What naming style is "read_only"? Answer in JSON.\nA:'}) + '\n')
    p = cli('compare', str(demo_dir), '--prompts', 'p.jsonl', cwd=tmp_path)
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 3 + 3 and 'read_only' in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize('args, needle', [
    (['compare', 'no/such/run'], "'no/such/run' does not exist; give a run folder"),
    (['compare', '.'], 'holds no adapter'),
    (['compare', 'DEMO', '--prompts', 'missing.txt'], "prompts file 'missing.txt' does not exist"),
    (['compare', 'DEMO', '--prompts', 'bad.jsonl'], 'line 1 of'),
])
def test_compare_bad_input(demo_dir, tmp_path, args, needle):
    (tmp_path / 'bad.jsonl').write_text('{"text": "no prompt key"}\n')
    p = cli(*[str(demo_dir) if a == 'DEMO' else a for a in args], cwd=tmp_path, timeout=120)
    assert p.returncode == 2 and needle in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stdout == '', p.stderr


def test_train_prints_dropped_rows_and_resume_honours_max_steps(tmp_path):
    "The data notes (rows dropped, and why) reach the terminal, one line each; --max-steps with --resume is never ignored."
    from peftbench.pico import demo_recipe, task_rows
    rows = [json.dumps(r) for r in task_rows('train')[:40]] + [json.dumps({'prompt': 'Q: ?\nA:', 'completion': ''})]
    (tmp_path / 'rows.jsonl').write_text('\n'.join(rows) + '\n')
    r = demo_recipe(tmp_path / 'unused', 2)
    r.data.source, r.training.logging_steps = str(tmp_path / 'rows.jsonl'), 1
    r.save(tmp_path / 'r.yaml')
    p = cli('train', 'r.yaml', '--out', 'run', cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert '0step' not in p.stderr and 'train: step 2/2 loss' in p.stderr and '\r' not in p.stderr, p.stderr[-2000:]  # plain lines in a log
    notes = [l for l in p.stderr.splitlines() if l.startswith('peftbench: note:')]
    assert len(notes) == 1 and '1 of 41 rows dropped' in notes[0] and "'completion' is empty" in notes[0], p.stderr[-2000:]
    start = next(json.loads(l) for l in (tmp_path / 'run' / 'log.jsonl').read_text().splitlines() if '"start"' in l)
    assert start['data_notes'] == [notes[0].split('note: ', 1)[1]] and start['data_counts']['train']['dropped'] == 1, start  # the log keeps them too
    p = cli('train', '--resume', '--out', 'run', '--max-steps', '3', cwd=tmp_path)
    log = [json.loads(l) for l in (tmp_path / 'run' / 'log.jsonl').read_text().splitlines() if l.strip()]
    if p.returncode == 0: assert log[-1]['status'] == 'finished' and log[-1]['step'] == 3, log[-1]  # extended as asked
    else: assert 'max' in p.stderr and 'Traceback' not in p.stderr and len(p.stderr.strip().splitlines()) <= 3, p.stderr[-2000:]  # or refused
