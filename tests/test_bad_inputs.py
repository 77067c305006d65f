"""The bad-input corpus (issue 13): recipes, CLI arguments and API calls a user gets wrong, one table.

Each case asserts: a non-zero exit status (CLI) or the expected exception (API); no traceback; at most 3 lines;
the field, option or file at fault named in the message; and, where the case points `--out` at a folder that holds
an earlier finished run, that the folder's files (names, sizes, sha256) are unchanged. Most CLI cases run
`peftbench.cli.main(argv)` in this process; a handful run the real `peftbench` command in a subprocess.
"""
import contextlib, dataclasses, hashlib, io, os, shutil, subprocess, sys
from pathlib import Path

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

from peftbench.recipe import Recipe, RecipeError, Hardware, ModelSpec, _PARTS

EXE = str(Path(sys.executable).parent / 'peftbench')
ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}
MAX_LINES = 3
CPU = Hardware()

# every boolean field of the recipe, found from the dataclasses (not listed by hand)
FLAGS = [(part, f.name) for part, cls in _PARTS.items() for f in dataclasses.fields(cls) if str(f.type).replace(' ', '') == 'bool']
NOT_BOOLS = [('"false"', 'false'), ('"no"', 'no'), ('"off"', 'off'), ('"true"', 'true'), ('0', 0), ('1', 1), ('null', None)]


# ---------------------------------------------------------------- the finished run that bad input must not touch
def snapshot(folder: Path) -> dict:
    "Every file under `folder`: relative name -> (size, sha256)."
    return {str(p.relative_to(folder)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob('*')) if p.is_file()}


@pytest.fixture(scope='session')
def finished(tmp_path_factory):
    "A run folder holding a finished run: the demo's (PEFTBENCH_DEMO_DIR, copied), or a few pico steps made once."
    dest = tmp_path_factory.mktemp('finished') / 'run'
    demo = os.environ.get('PEFTBENCH_DEMO_DIR')
    if demo and Path(demo, 'log.jsonl').is_file(): shutil.copytree(demo, dest)
    else:
        from peftbench.pico import demo_recipe
        from peftbench.train import Run
        r = demo_recipe(dest, 3)
        r.training.logging_steps = 1
        Run(r, CPU).train()
    assert '"status": "finished"' in (dest / 'log.jsonl').read_text()
    return dest


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------- running a case
def run_main(argv) -> tuple[int, str]:
    "`peftbench ARGV` in this process: (exit status, stdout and stderr together)."
    from peftbench.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    return rc, out.getvalue() + err.getvalue()


def run_exe(argv, cwd) -> tuple[int, str]:
    p = subprocess.run([EXE, *map(str, argv)], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)
    return p.returncode, p.stdout + p.stderr


def check_message(text: str, needle: str):
    assert 'Traceback' not in text, text
    lines = [l for l in text.strip().splitlines() if l.strip()]
    assert 1 <= len(lines) <= MAX_LINES, f'{len(lines)} lines:\n{text}'
    assert needle.lower() in text.lower(), f'{needle!r} not named in:\n{text}'


# ---------------------------------------------------------------- 1. recipe files through `peftbench train FILE --out FINISHED`
def _yaml(section, key, value): return f'{section}:\n  {key}: {value}\n'

YAML_FIELDS = [  # (id, file text, what the message must name)
    ('output_dir-int', 'training:\n  output_dir: 5\n', 'training.output_dir'),
    ('output_dir-list', 'training:\n  output_dir: [a, b]\n', 'training.output_dir'),
    ('model-name-int', 'model:\n  name: 5\n', 'model.name'),
    ('model-name-list', 'model:\n  name: [pico]\n', 'model.name'),
    ('model-name-empty', 'model:\n  name: ""\n', 'model.name'),
    ('model-revision-int', 'model:\n  revision: 3\n', 'model.revision'),
    ('model-dtype', 'model:\n  dtype: fp16\n', 'model.dtype'),
    ('model-attn', 'model:\n  attn_implementation: flash\n', 'model.attn_implementation'),
    ('quant-mode', 'quantization:\n  mode: 16bit\n', 'quantization.mode'),
    ('quant-mode-int', 'quantization:\n  mode: 4\n', 'quantization.mode'),
    ('quant-type', 'quantization:\n  quant_type: nf3\n', 'quantization.quant_type'),
    ('method-typo', 'adapter:\n  method: lorra\n', 'lora'),
    ('method-int', 'adapter:\n  method: 1\n', 'adapter.method'),
    ('r-zero', 'adapter:\n  r: 0\n', 'r'),
    ('r-string', 'adapter:\n  r: sixteen\n', 'adapter.r'),
    ('r-float', 'adapter:\n  r: 8.5\n', 'adapter.r'),
    ('r-bool', 'adapter:\n  r: true\n', 'adapter.r'),
    ('alpha-string', 'adapter:\n  alpha: big\n', 'adapter.alpha'),
    ('alpha-nan', 'adapter:\n  alpha: .nan\n', 'adapter.alpha'),
    ('dropout-high', 'adapter:\n  dropout: 1.5\n', 'adapter.dropout'),
    ('dropout-list', 'adapter:\n  dropout: [0.1]\n', 'adapter.dropout'),
    ('targets-int', 'adapter:\n  target_modules: 5\n', 'adapter.target_modules'),
    ('targets-mixed', 'adapter:\n  target_modules: [q_proj, 3]\n', 'adapter.target_modules'),
    ('targets-map', 'adapter:\n  target_modules: {q_proj: true}\n', 'adapter.target_modules'),
    ('targets-empty', 'adapter:\n  target_modules: []\n', 'adapter.target_modules'),
    ('saved-int', 'adapter:\n  modules_to_save: 5\n', 'adapter.modules_to_save'),
    ('saved-mixed', 'adapter:\n  modules_to_save: [lm_head, 1]\n', 'adapter.modules_to_save'),
    ('saved-map', 'adapter:\n  modules_to_save: {lm_head: 1}\n', 'adapter.modules_to_save'),
    ('saved-bool', 'adapter:\n  modules_to_save: true\n', 'adapter.modules_to_save'),
    ('init', 'adapter:\n  init: pisa\n', 'adapter.init'),
    ('loraplus-string', 'adapter:\n  loraplus_ratio: sixteen\n', 'adapter.loraplus_ratio'),
    ('extra-list', 'adapter:\n  extra: [a]\n', 'adapter.extra'),
    ('extra-unknown', 'adapter:\n  extra: {no_such_option: 1}\n', 'no_such_option'),
    ('extra-typo', 'adapter:\n  extra: {fan_in_fan_ot: true}\n', 'fan_in_fan_ot'),
    ('extra-sets-r', 'adapter:\n  extra: {r: 4}\n', 'adapter.extra'),
    ('source-int', 'data:\n  source: 7\n', 'data.source'),
    ('source-empty', 'data:\n  source: ""\n', 'data.source'),
    ('split-int', 'data:\n  split: 3\n', 'data.split'),
    ('shape', 'data:\n  shape: chat\n', 'data.shape'),
    ('template-int', 'data:\n  template: 3\n', 'data.template'),
    ('max_length-list', 'data:\n  max_length: [512]\n', 'data.max_length'),
    ('max_length-small', 'data:\n  max_length: 2\n', 'data.max_length'),
    ('eval_fraction-one', 'data:\n  eval_fraction: 1.0\n', 'data.eval_fraction'),
    ('max_examples-zero', 'data:\n  max_examples: 0\n', 'data.max_examples'),
    ('columns-list', 'data:\n  columns: [prompt]\n', 'data.columns'),
    ('columns-unknown', 'data:\n  columns: {question: prompt}\n', 'data.columns'),
    ('epochs-inf', 'training:\n  epochs: .inf\n', 'training.epochs'),
    ('max_steps-zero', 'training:\n  max_steps: 0\n', 'training.max_steps'),
    ('max_steps-string', 'training:\n  max_steps: ten\n', 'training.max_steps'),
    ('batch-float', 'training:\n  batch_size: 2.5\n', 'training.batch_size'),
    ('batch-string', 'training:\n  batch_size: 8x\n', 'training.batch_size'),
    ('lr-string', 'training:\n  lr: fast\n', 'training.lr'),
    ('lr-high', 'training:\n  lr: 5\n', 'training.lr'),
    ('lr-nan', 'training:\n  lr: .nan\n', 'training.lr'),
    ('scheduler', 'training:\n  scheduler: cosin\n', 'training.scheduler'),
    ('optimizer', 'training:\n  optimizer: adam\n', 'training.optimizer'),
    ('precision', 'training:\n  precision: bf32\n', 'training.precision'),
    ('save_steps-zero', 'training:\n  save_steps: 0\n', 'training.save_steps'),
    ('seed-negative', 'training:\n  seed: -1\n', 'training.seed'),
    ('probe_prompts-int', 'training:\n  probe_prompts: 5\n', 'training.probe_prompts'),
    ('probe_prompts-mixed', 'training:\n  probe_prompts: [hi, 2]\n', 'training.probe_prompts'),
    ('eval_steps-string', 'training:\n  eval_steps: often\n', 'training.eval_steps'),
    ('section-typo', 'adaptor:\n  r: 8\n', 'adapter'),
    ('key-typo', 'model:\n  nam: pico\n', 'model.nam'),
    ('section-scalar', 'model: pico\n', 'model'),
    ('section-list', 'training: [1, 2]\n', 'training'),
    ('qlora-needs-4bit', 'adapter:\n  method: qlora\n', 'quantization.mode'),
    ('fp16-on-cpu', 'training:\n  precision: fp16\n', 'training.precision'),
    ('section-twice', 'model:\n  name: pico\nmodel:\n  name: other\n', 'model'),
    ('key-twice', 'adapter:\n  r: 8\n  r: 16\n', "'r'"),
    ('yaml-python-tag', 'model: !!python/object:os.system {}\n', 'r.yaml'),
    ('revision-date', 'model:\n  revision: 2024-01-01\n', 'model.revision'),
]
YAML_FIELDS += [(f'{s}.{k}={y}', _yaml(s, k, y), f'{s}.{k}') for s, k in FLAGS for y, _ in NOT_BOOLS]


@pytest.mark.parametrize('text, needle', [c[1:] for c in YAML_FIELDS], ids=[c[0] for c in YAML_FIELDS])
def test_recipe_file(work, finished, text, needle):
    before = snapshot(finished)
    (work / 'r.yaml').write_text(text)
    rc, msg = run_main(['train', 'r.yaml', '--out', finished])
    assert rc != 0, msg
    check_message(msg, needle)
    assert snapshot(finished) == before


FILES = [  # (id, file name, content as bytes, or None for a folder, or False for no file)
    ('empty', 'r.yaml', b''),
    ('only-comments', 'r.yaml', b'# nothing here\n'),
    ('top-list', 'r.yaml', b'- model\n- adapter\n'),
    ('top-string', 'r.yaml', b'just some words\n'),
    ('top-number', 'r.yaml', b'42\n'),
    ('bad-indent', 'r.yaml', b'model:\n  name: pico\n   dtype: auto\n'),
    ('unclosed', 'r.yaml', b'adapter: {r: 8\n'),
    ('tab', 'r.yaml', b'model:\n\tname: pico\n'),
    ('not-utf8', 'r.yaml', b'model:\n  name: \xff\xfe\x00pico\n'),
    ('json-broken', 'r.json', b'{"model": {"name": "pico",}}'),
    ('json-list', 'r.json', b'[1, 2, 3]'),
    ('json-null', 'r.json', b'null'),
    ('json-key-twice', 'r.json', b'{"training": {"lr": 0.001, "lr": 0.1}}'),
    ('folder', 'r.yaml', None),
    ('missing', 'r.yaml', False),
]


@pytest.mark.parametrize('name, content', [c[1:] for c in FILES], ids=[c[0] for c in FILES])
def test_recipe_file_itself(work, finished, name, content):
    before = snapshot(finished)
    if content is None: (work / name).mkdir()
    elif content is not False: (work / name).write_bytes(content)
    rc, msg = run_main(['train', name, '--out', finished])
    assert rc != 0, msg
    check_message(msg, name)
    assert snapshot(finished) == before


# ---------------------------------------------------------------- 2. recipes as data through the Python API
DICTS = [(f'{s}.{k}={y}', {s: {k: v}}, f'{s}.{k}') for s, k in FLAGS for y, v in NOT_BOOLS]
DICTS += [
    ('not-a-mapping', ['model'], 'mapping'),
    ('string', 'model: pico', 'mapping'),
    ('section-none-ok-but-key-bad', {'model': {'name': None}}, 'model.name'),
    ('output_dir-int', {'training': {'output_dir': 5}}, 'training.output_dir'),
    ('saved-int', {'adapter': {'modules_to_save': 3}}, 'adapter.modules_to_save'),
    ('targets-tuple-of-int', {'adapter': {'target_modules': [1, 2]}}, 'adapter.target_modules'),
    ('extra-unknown', {'adapter': {'extra': {'lora_alphaa': 3}}}, 'lora_alphaa'),
    ('columns-int', {'data': {'columns': 5}}, 'data.columns'),
    ('lr-bool', {'training': {'lr': True}}, 'training.lr'),
    ('epochs-string', {'training': {'epochs': 'many'}}, 'training.epochs'),
]


@pytest.mark.parametrize('d, needle', [c[1:] for c in DICTS], ids=[c[0] for c in DICTS])
def test_recipe_dict(d, needle):
    def build():
        r = Recipe.from_dict(d)
        return r.check(CPU)
    with pytest.raises(RecipeError) as e: build()
    check_message(str(e.value), needle)


ASSIGNED = [(f'{s}.{k}={v!r}', s, k, v) for s, k in FLAGS for v in ('false', 0)]


@pytest.mark.parametrize('part, key, value', [c[1:] for c in ASSIGNED], ids=[c[0] for c in ASSIGNED])
def test_assigned_flag(part, key, value):
    "A flag set on a recipe object (as a panel or a script does) is refused by `check`, before anything loads."
    r = Recipe()
    setattr(getattr(r, part), key, value)
    with pytest.raises(RecipeError) as e: r.check(CPU)
    check_message(str(e.value), f'{part}.{key}')


def test_one_name_is_a_list():
    "A single module name is a one-element list, never a string peft would match letter by letter."
    r = Recipe.from_dict({'adapter': {'modules_to_save': 'lm_head', 'target_modules': 'q_proj'}})
    assert r.adapter.modules_to_save == ['lm_head'] and r.adapter.target_modules == ['q_proj']
    assert Recipe.from_dict({'adapter': {'target_modules': 'all-linear'}}).adapter.target_modules == 'all-linear'
    assert Recipe.from_dict({'training': {'probe_prompts': 'Hello'}}).training.probe_prompts == ['Hello']


# ---------------------------------------------------------------- 3. API calls with wrong types
def _quoted_false(): return Recipe(model=ModelSpec(trust_remote_code='false'))


def _api_cases():
    from peftbench import load, memory, export, train
    yield 'load-base-quoted-false', lambda p: load.load_base(_quoted_false(), CPU), 'model.trust_remote_code'
    yield 'load-tokenizer-quoted-false', lambda p: load.load_tokenizer(_quoted_false()), 'model.trust_remote_code'
    yield 'load-quoted-false', lambda p: load.load(_quoted_false(), CPU), 'model.trust_remote_code'
    from peftbench import data
    yield 'data-tokenizer-quoted-false', lambda p: data.tokenizer_for(_quoted_false()), 'model.trust_remote_code'
    yield 'load-data-quoted-false', lambda p: data.load_data(_quoted_false()), 'model.trust_remote_code'
    yield 'run-quoted-false', lambda p: train.Run(_quoted_false(), CPU).prepare(), 'model.trust_remote_code'
    yield 'export-quoted-false', lambda p: export.export(_quoted_false(), p / 'train.py'), 'model.trust_remote_code'
    yield 'estimate-string-r', lambda p: memory.estimate(Recipe.from_dict({'adapter': {'r': 'eight'}})), 'adapter.r'
    yield 'from-text-list', lambda p: Recipe.from_text('- a\n- b\n'), 'mapping'
    yield 'from-text-broken', lambda p: Recipe.from_text('a: [1\n'), 'YAML'
    yield 'from-dict-int', lambda p: Recipe.from_dict(5), 'mapping'
    yield 'load-folder', lambda p: (p / 'dir.yaml').mkdir() or Recipe.load(p / 'dir.yaml'), 'dir.yaml'
    yield 'load-missing', lambda p: Recipe.load(p / 'nope.yaml'), 'nope.yaml'
    yield 'check-part-wrong-type', lambda p: Recipe(model='pico').check(CPU), 'model'
    yield 'estimate-unknown-gpu', lambda p: memory.estimate(Recipe(), 'GTX 9999'), 'GTX 9999'


API = list(_api_cases())


@pytest.mark.parametrize('call, needle', [c[1:] for c in API], ids=[c[0] for c in API])
def test_api(tmp_path, call, needle):
    with pytest.raises((RecipeError, ValueError)) as e: call(tmp_path)
    check_message(str(e.value) or type(e.value).__name__, needle)


# ---------------------------------------------------------------- 4. command lines
GOOD = 'model:\n  name: pico\ntraining:\n  output_dir: FIN\n'  # a bad input ignored by mistake meets the finished run, never trains
CLI = [  # (id, argv with FIN for the finished run folder, needle)
    ('max-steps-zero', ['train', 'r.yaml', '--out', 'FIN', '--max-steps', '0'], '--max-steps'),
    ('max-steps-negative', ['train', 'r.yaml', '--out', 'FIN', '--max-steps', '-5'], '--max-steps'),
    ('max-steps-word', ['train', 'r.yaml', '--out', 'FIN', '--max-steps', 'ten'], '--max-steps'),
    ('max-steps-float', ['train', 'r.yaml', '--out', 'FIN', '--max-steps', '2.5'], '--max-steps'),
    ('resume-no-out', ['train', '--resume'], '--out'),
    ('resume-and-recipe', ['train', 'r.yaml', '--resume', '--out', 'FIN'], '--resume'),
    ('resume-and-overwrite', ['train', '--resume', '--overwrite', '--out', 'FIN'], '--overwrite'),
    ('resume-not-a-run', ['train', '--resume', '--out', 'empty'], 'empty'),
    ('resume-missing-folder', ['train', '--resume', '--out', 'no-such-run'], 'no-such-run'),
    ('resume-shrink', ['train', '--resume', '--out', 'FIN', '--max-steps', '1'], 'max'),
    ('train-no-recipe', ['train', '--out', 'FIN'], 'recipe'),
    ('train-finished', ['train', 'r.yaml', '--out', 'FIN'], 'finished'),
    ('train-missing-recipe', ['train', 'missing.yaml', '--out', 'FIN'], 'missing.yaml'),
    ('train-empty-out', ['train', 'r.yaml', '--out', ''], '--out'),
    ('train-out-is-a-file', ['train', 'r.yaml', '--out', 'FIN/log.jsonl'], 'log.jsonl'),
    ('train-unknown-option', ['train', 'r.yaml', '--out', 'FIN', '--steps', '5'], '--steps'),
    ('estimate-seq-zero', ['estimate', 'pico', '--seq', '0'], '--seq'),
    ('estimate-seq-negative', ['estimate', 'pico', '--seq', '-8'], '--seq'),
    ('estimate-batch-zero', ['estimate', 'pico', '--batch', '0'], '--batch'),
    ('estimate-r-zero', ['estimate', 'pico', '--r', '0'], '--r'),
    ('estimate-alpha-word', ['estimate', 'pico', '--alpha', 'big'], '--alpha'),
    ('estimate-fit-no-gpu', ['estimate', 'pico', '--fit'], '--gpu'),
    ('estimate-targets-none-exist', ['estimate', 'pico', '--targets', 'query,value'], 'query'),
    ('estimate-targets-typo', ['estimate', 'pico', '--targets', 'q_proj,v_prj'], 'v_prj'),
    ('estimate-targets-commas', ['estimate', 'pico', '--targets', ','], '--targets'),
    ('estimate-unknown-gpu', ['estimate', 'pico', '--gpu', 'GTX 9999'], 'GTX 9999'),
    ('estimate-empty-gpu', ['estimate', 'pico', '--gpu', ''], '--gpu'),
    ('estimate-empty-model', ['estimate', ''], 'model'),
    ('estimate-r-for-prefix', ['estimate', 'pico', '--method', 'prefix_tuning', '--r', '8'], '--r'),
    ('estimate-alpha-for-ia3', ['estimate', 'pico', '--method', 'ia3', '--alpha', '8'], '--alpha'),
    ('estimate-targets-for-full', ['estimate', 'pico', '--method', 'full', '--targets', 'q_proj'], '--targets'),
    ('estimate-quant-choice', ['estimate', 'pico', '--quant', '16bit'], '--quant'),
    ('estimate-method-typo', ['estimate', 'pico', '--method', 'lorra'], 'lora'),
    ('estimate-optimizer', ['estimate', 'pico', '--optim', 'adam'], 'training.optimizer'),
    ('estimate-missing-model', ['estimate', './no/such/model'], 'no/such/model'),
    ('estimate-missing-recipe', ['estimate', '--recipe', 'missing.yaml'], 'missing.yaml'),
    ('estimate-bad-recipe', ['estimate', '--recipe', 'bad.yaml'], 'model.trust_remote_code'),
    ('export-num-processes-zero', ['export', 'r.yaml', '--num-processes', '0'], '--num-processes'),
    ('export-num-processes-negative', ['export', 'r.yaml', '--num-processes', '-2'], '--num-processes'),
    ('export-launcher', ['export', 'r.yaml', '--accelerate', 'horovod'], '--accelerate'),
    ('export-not-py', ['export', 'r.yaml', '--out', 'train.txt'], 'train.txt'),
    ('export-bad-recipe', ['export', 'bad.yaml'], 'model.trust_remote_code'),
    ('export-missing-recipe', ['export', 'missing.yaml'], 'missing.yaml'),
    ('demo-steps-zero', ['demo', '--steps', '0'], '--steps'),
    ('no-command', [], 'peftbench'),
    ('unknown-command', ['fly'], 'fly'),
]


@pytest.mark.parametrize('argv, needle', [c[1:] for c in CLI], ids=[c[0] for c in CLI])
def test_command_line(work, finished, argv, needle):
    before = snapshot(finished)
    (work / 'r.yaml').write_text(GOOD.replace('FIN', str(finished)))
    (work / 'bad.yaml').write_text('model:\n  trust_remote_code: "false"\n')
    (work / 'empty').mkdir()
    rc, msg = run_main([a.replace('FIN', str(finished), 1) if a.startswith('FIN') else a for a in argv])
    assert rc != 0, msg
    check_message(msg, needle)
    assert snapshot(finished) == before


# ---------------------------------------------------------------- 4b. runs in folders: --overwrite with a bad recipe, resume of an edited run
OVERWRITE = [  # a bad recipe with --overwrite must fail before anything in the folder is deleted
    ('quoted-false', 'model:\n  trust_remote_code: "false"\n', 'model.trust_remote_code'),
    ('lr-word', 'training:\n  lr: fast\n', 'training.lr'),
    ('saved-int', 'adapter:\n  modules_to_save: 5\n', 'adapter.modules_to_save'),
    ('empty-file', '', 'r.yaml'),
    ('key-twice', 'training:\n  seed: 1\n  seed: 2\n', "'seed'"),
]


@pytest.mark.parametrize('text, needle', [c[1:] for c in OVERWRITE], ids=[c[0] for c in OVERWRITE])
def test_overwrite_with_bad_recipe(work, finished, text, needle):
    before = snapshot(finished)
    (work / 'r.yaml').write_text(text)
    rc, msg = run_main(['train', 'r.yaml', '--out', finished, '--overwrite'])
    assert rc != 0, msg
    check_message(msg, needle)
    assert snapshot(finished) == before


def _edit(f: Path):
    (f / 'recipe.yaml').write_text((f / 'recipe.yaml').read_text().replace('seed: 0', 'seed: many'))

RESUMED = [  # (id, change made to a copy of the finished run, argv after --out COPY, needle)
    ('recipe-edited-badly', _edit, [], 'training.seed'),
    ('recipe-deleted', lambda f: (f / 'recipe.yaml').unlink(), [], 'recipe.yaml'),
    ('recipe-emptied', lambda f: (f / 'recipe.yaml').write_text(''), [], 'recipe.yaml'),
    ('finished-no-max-steps', lambda f: None, [], 'finished'),
    ('finished-max-steps-not-beyond', lambda f: None, ['--max-steps', '2'], 'max_steps'),
]


@pytest.mark.parametrize('change, extra, needle', [c[1:] for c in RESUMED], ids=[c[0] for c in RESUMED])
def test_resume(work, finished, change, extra, needle):
    copy = work / 'copy'
    shutil.copytree(finished, copy)
    change(copy)
    before = snapshot(copy)
    rc, msg = run_main(['train', '--resume', '--out', copy, *extra])
    assert rc != 0, msg
    check_message(msg, needle)
    assert snapshot(copy) == before


def test_demo_into_finished_run(work, finished):
    "The demo refuses a folder with a finished run before it prints its plan (one line, not a page ending in an error)."
    before = snapshot(finished)
    rc, msg = run_main(['demo', '--out', finished, '--steps', '3'])
    assert rc != 0, msg
    check_message(msg, 'finished')
    assert snapshot(finished) == before


# ---------------------------------------------------------------- 5. a few as users run them: the real command in a subprocess
PROCS = [
    ('quoted-false', 'model:\n  trust_remote_code: "false"\n', ['train', 'r.yaml', '--out', 'FIN'], 'model.trust_remote_code'),
    ('empty-file', '', ['train', 'r.yaml', '--out', 'FIN'], 'r.yaml'),
    ('modules-to-save-int', 'adapter:\n  modules_to_save: 5\n', ['train', 'r.yaml', '--out', 'FIN'], 'adapter.modules_to_save'),
    ('max-steps-zero', 'model:\n  name: pico\n', ['train', 'r.yaml', '--out', 'FIN', '--max-steps', '0'], '--max-steps'),
    ('resume-no-out', '', ['train', '--resume'], '--out'),
    ('seq-zero', '', ['estimate', 'pico', '--seq', '0'], '--seq'),
]


@pytest.mark.parametrize('text, argv, needle', [c[1:] for c in PROCS], ids=[c[0] for c in PROCS])
def test_subprocess(work, finished, text, argv, needle):
    before = snapshot(finished)
    (work / 'r.yaml').write_text(text)
    rc, msg = run_exe([a.replace('FIN', str(finished), 1) if a.startswith('FIN') else a for a in argv], work)
    assert rc != 0, msg
    check_message(msg, needle)
    assert snapshot(finished) == before


def test_python_m(work, finished):
    "`python -m peftbench.cli` is the same command (it used to exit 0 without doing anything)."
    before = snapshot(finished)
    (work / 'r.yaml').write_text('data:\n  packing: "no"\n')
    p = subprocess.run([sys.executable, '-m', 'peftbench.cli', 'train', 'r.yaml', '--out', str(finished)], capture_output=True, text=True, env=ENV, cwd=work, timeout=300)
    assert p.returncode == 2, p.stdout + p.stderr
    check_message(p.stdout + p.stderr, 'data.packing')
    assert snapshot(finished) == before


WORKBENCH = [  # recipe files given to the Workbench's code panel: its message names the field or file, the recipe stays as it was
    ('quoted-false', b'model:\n  trust_remote_code: "false"\n', 'model.trust_remote_code'),
    ('key-twice', b'adapter:\n  r: 8\n  r: 9\n', "'r'"),
    ('empty', b'', 'empty'),
    ('list', b'- model\n', 'r.yaml'),
    ('not-utf8', b'model:\n  name: \xff\xfe\n', 'r.yaml'),
]


@pytest.mark.parametrize('via', ['load', 'upload'])
@pytest.mark.parametrize('content, needle', [c[1:] for c in WORKBENCH], ids=[c[0] for c in WORKBENCH])
def test_workbench(work, content, needle, via):
    import html, re
    from peftbench.ui import State
    from peftbench.workbench import CodePanel
    panel = CodePanel(State(Recipe(), hw=CPU))
    before = panel.state.recipe.to_dict()
    if via == 'load': (work / 'r.yaml').write_bytes(content); panel.load(work / 'r.yaml')
    else: panel._uploaded({'new': [{'name': 'r.yaml', 'content': memoryview(content)}]})
    text = html.unescape(re.sub('<[^>]+>', '', panel.msg.value))
    assert not text.startswith('loaded'), text
    check_message(text, needle)
    assert panel.state.recipe.to_dict() == before


def test_corpus_size():
    n = len(YAML_FIELDS) + len(FILES) + len(DICTS) + len(ASSIGNED) + len(API) + len(CLI) + len(OVERWRITE) + len(RESUMED) + 2 + len(PROCS) + 2 * len(WORKBENCH)
    assert n >= 150 and len(FLAGS) >= 9, (n, FLAGS)
