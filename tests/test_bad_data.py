"""Bad data files (issue 13): each malformed kind in each file type, built in `tmp_path`.

Each case asserts the exception type (`DataError`) or a non-zero CLI exit, no traceback, at most 3 lines, the file
named, and the line where a line applies. Dropped and truncated rows are reported with counts, and offline a Hub
id fails within 5 s in `arch`, `load`, the data loader and the panels.
"""
import html, json, os, re, subprocess, sys, textwrap, time
from pathlib import Path

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

from peftbench.recipe import Recipe
from peftbench.data import DataError, load_data

MAX_LINES = 3
LATIN = 'caf\xe9'.encode('latin-1')
BINARY = bytes(range(256)) * 8
CHAT = {'messages': [{'role': 'user', 'content': 'hi'}, {'role': 'assistant', 'content': 'yo'}]}
INSTR = {'instruction': 'Add 1 and 2', 'output': '3'}
PC = {'prompt': 'Q', 'completion': ' A'}
jl = lambda *rows: ''.join(json.dumps(r) + '\n' for r in rows)


def parquet(rows, schema=None) -> bytes:
    import io, pyarrow as pa, pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema) if rows or schema is None else pa.table({n: [] for n in schema.names}, schema=schema), buf)
    return buf.getvalue()


def pq_empty() -> bytes:
    import pyarrow as pa
    return parquet([], pa.schema([('prompt', pa.string()), ('completion', pa.string())]))


# name: (file name, content (str, bytes, a callable giving bytes, or None for a folder named like the file), what the message says, line)
CASES = {
    # JSON Lines
    'jsonl-malformed':      ('d.jsonl', jl(PC, PC) + '{"prompt": "Q", "completion": "A"\n', 'is not valid JSON', 3),
    'jsonl-python-repr':    ('d.jsonl', jl(PC) + "{'prompt': 'Q', 'completion': 'A'}\n", 'is not valid JSON', 2),
    'jsonl-torn-last-line': ('d.jsonl', jl(PC, PC, PC) + '{"prompt": "Q", "compl', 'is not valid JSON', 4),
    'jsonl-binary':         ('d.jsonl', BINARY, 'is not text', 1),
    'jsonl-latin1':         ('d.jsonl', jl(PC).encode() + b'{"prompt": "' + LATIN + b'", "completion": "A"}\n', 'is not UTF-8 text', 2),
    'jsonl-empty':          ('d.jsonl', '', 'is empty', None),
    'jsonl-blank-lines':    ('d.jsonl', '\n\n  \n', 'only blank lines', None),
    'jsonl-list-rows':      ('d.jsonl', '["Q", "A"]\n["Q2", "A2"]\n', 'holds a list where a row', 1),
    'jsonl-string-row':     ('d.jsonl', jl(PC) + '"just text"\n', 'holds a string where a row', 2),
    'jsonl-number-row':     ('d.jsonl', '1\n2\n', 'holds a number where a row', 1),
    'jsonl-null-row':       ('d.jsonl', jl(PC) + 'null\n', 'holds null where a row', 2),
    'jsonl-folder':         ('d.jsonl', None, 'is a folder, not a .jsonl file', None),
    'jsonl-mixed-shapes':   ('d.jsonl', jl(INSTR, INSTR, CHAT), 'mixes shapes', 3),
    'jsonl-no-shape':       ('d.jsonl', jl({'question': 'Q', 'answer': 'A'}), "cannot tell the data's shape", None),
    'jsonl-nothing-usable': ('d.jsonl', jl({'prompt': 'Q', 'completion': ''}), 'no usable rows', 1),
    # JSON
    'json-malformed':       ('d.json', '[\n  {"prompt": "Q", "completion": "A"},\n  {"prompt": "Q" "completion": "A"}\n]', 'is not valid JSON', 3),
    'json-unclosed':        ('d.json', '[{"prompt": "Q", "completion": "A"},\n', 'is not valid JSON', 2),
    'json-list-rows':       ('d.json', '[\n ["Q", "A"],\n ["Q2", "A2"]\n]', 'holds a list where a row', 2),
    'json-string-rows':     ('d.json', json.dumps([PC, 'text'], indent=1), 'holds a string where a row', 6),
    'json-empty-list':      ('d.json', '[]', 'empty list', None),
    'json-scalar':          ('d.json', '42', 'holds a number where rows', None),
    'json-empty':           ('d.json', '', 'is empty', None),
    'json-binary':          ('d.json', BINARY, 'is not text', 1),
    'json-latin1':          ('d.json', b'[{"prompt": "Q", "completion": "A"},\n {"prompt": "' + LATIN + b'", "completion": "A"}]', 'is not UTF-8 text', 2),
    'json-folder':          ('d.json', None, 'is a folder, not a .json file', None),
    'json-mixed-shapes':    ('d.json', json.dumps([CHAT, INSTR, CHAT], indent=1), 'mixes shapes', 14),
    # CSV
    'csv-header-only':      ('d.csv', 'prompt,completion\n', 'has a header (prompt, completion) but no rows', None),
    'csv-empty':            ('d.csv', '', 'is empty', None),
    'csv-blank':            ('d.csv', '\n\n', 'only blank lines', None),
    'csv-binary':           ('d.csv', BINARY, 'is not text', 1),
    'csv-latin1':           ('d.csv', b'prompt,completion\nQ,A\n' + LATIN + b',A\n', 'is not UTF-8 text', 3),
    'csv-extra-fields':     ('d.csv', 'prompt,completion\nQ,A\nQ,A, with a comma\n', 'has 3 fields where the header has 2', 3),
    'csv-folder':           ('d.csv', None, 'is a folder, not a .csv file', None),
    'csv-no-shape':         ('d.csv', 'a,b\n1,2\n', "cannot tell the data's shape", None),
    'csv-mixed-shapes':     ('d.csv', 'text,prompt,completion\nhello,,\nhi,,\n,Q,A\n', 'mixes shapes', 4),
    'csv-nothing-usable':   ('d.csv', 'prompt,completion\nQ,\n', 'no usable rows', 2),
    # Parquet
    'parquet-not-parquet':  ('d.parquet', jl(PC), 'is not a Parquet file', None),
    'parquet-binary':       ('d.parquet', BINARY, 'is not a Parquet file', None),
    'parquet-empty':        ('d.parquet', '', 'is empty', None),
    'parquet-no-rows':      ('d.parquet', pq_empty, 'has no rows', None),
    'parquet-folder':       ('d.parquet', None, 'is a folder, not a .parquet file', None),
    'parquet-no-shape':     ('d.parquet', lambda: parquet([{'question': 'Q', 'answer': 'A'}]), "cannot tell the data's shape", None),
    'parquet-mixed-shapes': ('d.parquet', lambda: parquet([{'text': 't', 'prompt': None, 'completion': None}, {'text': None, 'prompt': 'Q', 'completion': 'A'}]), 'mixes shapes', None),
    # plain text
    'txt-binary':           ('d.txt', BINARY, 'is not text', 1),
    'txt-latin1':           ('d.txt', b'one line\n' + LATIN + b'\n', 'is not UTF-8 text', 2),
    'txt-empty':            ('d.txt', '', 'is empty', None),
    'txt-blank':            ('d.txt', '\n \n\n', 'only blank lines', None),
    'txt-folder':           ('d.txt', None, 'is a folder, not a .txt file', None),
    # missing files
    'jsonl-missing':        ('nothing-here.jsonl', 'MISSING', 'does not exist', None),
    'csv-missing':          ('nothing-here.csv', 'MISSING', 'does not exist', None),
}


def make(tmp_path: Path, name: str, body) -> Path:
    f = tmp_path / name
    if body is None: f.mkdir(); return f
    if body == 'MISSING': return f
    if callable(body): body = body()
    f.write_bytes(body if isinstance(body, bytes) else body.encode())
    return f


def one_sentence(e: BaseException, f: Path, line):
    "The checks every case makes on the message."
    msg = str(e)
    assert msg.strip() and 'Traceback' not in msg and len(msg.splitlines()) <= MAX_LINES, msg
    assert str(f) in msg, f'the file is not named: {msg}'
    if line is not None: assert re.search(rf'\bline {line}\b', msg), f'line {line} is not named: {msg}'
    assert e.__cause__ is None and (e.__suppress_context__ or e.__context__ is None), 'a chained traceback would show'


@pytest.mark.parametrize('case', CASES)
def test_bad_file(tmp_path, case):
    name, body, says, line = CASES[case]
    f = make(tmp_path, name, body)
    r = Recipe(); r.data.source, r.data.template = str(f), 'chatml'
    with pytest.raises(DataError) as ei: load_data(r)
    assert says in str(ei.value), str(ei.value)
    one_sentence(ei.value, f, line)


def test_bad_file_in_a_folder(tmp_path):
    "A folder of files: the broken one and its line are named."
    d = tmp_path / 'data'; d.mkdir()
    (d / 'train-1.jsonl').write_text(jl(PC, PC))
    (d / 'train-2.jsonl').write_text(jl(PC) + '{"prompt": \n')
    r = Recipe(); r.data.source = str(d)
    with pytest.raises(DataError) as ei: load_data(r)
    one_sentence(ei.value, d / 'train-2.jsonl', 2)


def test_mixed_shapes_with_a_shape_set_are_a_note(tmp_path):
    "With data.shape set, the rows of the other shape are dropped and counted, never silently."
    f = make(tmp_path, 'd.jsonl', jl(INSTR, INSTR, CHAT))
    r = Recipe(); r.data.source, r.data.template, r.data.shape = str(f), 'chatml', 'instruction'
    with pytest.warns(UserWarning, match='1 of 3 rows dropped'): dd = load_data(r)
    assert len(dd['train']) == 2 and dd.counts['train']['dropped'] == 1
    assert dd.notes == [f"train: 1 of 3 rows dropped, the first at line 3 of '{f}': 'instruction' is empty"]


@pytest.mark.parametrize('ext', ['jsonl', 'json', 'csv', 'txt', 'parquet'])
def test_dropped_rows_are_counted(tmp_path, ext):
    "Each file type: dropped rows are counted, and named by their line where the file has lines."
    rows = [{'text': 'one'}, {'text': ''}, {'text': 'three'}, {'text': '  '}]
    f = tmp_path / f'd.{ext}'
    if ext == 'jsonl': f.write_text(jl(*rows)); where = 'line 2'
    elif ext == 'json': f.write_text(json.dumps(rows, indent=1)); where = 'line 5'
    elif ext == 'csv': f.write_text('text\none\n""\nthree\n"  "\n'); where = 'line 3'
    elif ext == 'txt': f.write_text('one\n\nthree\n  \n'); where = 'line 2'
    else: f.write_bytes(parquet(rows)); where = 'row 1'
    r = Recipe(); r.data.source = str(f)
    with pytest.warns(UserWarning): dd = load_data(r)
    assert dd['train']['text'] == ['one', 'three']
    assert dd.counts['train'] == {'rows': 4, 'dropped': 2, 'examples': 2, 'truncated': 0}
    assert any(n.startswith('train: 2 of 4 rows dropped, the first at ' + where) and "'text' is empty" in n for n in dd.notes), dd.notes


def test_truncated_rows_are_counted(tmp_path):
    f = make(tmp_path, 'd.jsonl', jl({'text': 'word ' * 200}, {'text': 'short'}, {'text': 'more words ' * 100}))
    r = Recipe(); r.data.source, r.data.max_length = str(f), 64
    with pytest.warns(UserWarning, match='2 of 3 examples are longer than data.max_length'): dd = load_data(r)
    assert dd.counts['train']['truncated'] == 2 and len(dd['train']) == 3


def test_max_length_beyond_positions_is_a_note():
    r = Recipe(); r.data.max_length = 100_000
    with pytest.warns(UserWarning, match=r"data.max_length \(100000\) is beyond the 512 positions of model 'pico'"): load_data(r)


# ---------------------------------------------------------------- the CLI: non-zero exit, one sentence, the file named
def run_main(argv) -> tuple[int, str]:
    "`peftbench ARGV` in this process: (exit status, stdout and stderr together)."
    import contextlib, io
    from peftbench.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    return rc, out.getvalue() + err.getvalue()


def run_exe(argv, cwd) -> tuple[int, str]:
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}
    p = subprocess.run([str(Path(sys.executable).parent / 'peftbench'), *argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize('case, exe', [('jsonl-malformed', True), ('csv-header-only', False), ('parquet-not-parquet', False),
                                       ('txt-latin1', False), ('jsonl-mixed-shapes', False)])
def test_cli_bad_file(tmp_path, monkeypatch, case, exe):
    "`peftbench train` (the real command, or its `main` in this process) on a bad data file: non-zero exit, the file and line named."
    name, body, says, line = CASES[case]
    f = make(tmp_path, name, body)
    (tmp_path / 'r.yaml').write_text(f'data:\n  source: {f}\n  template: chatml\ntraining:\n  max_steps: 1\n')
    monkeypatch.chdir(tmp_path)
    rc, msg = run_exe(['train', 'r.yaml', '--out', 'run'], tmp_path) if exe else run_main(['train', 'r.yaml', '--out', 'run'])
    lines = [l for l in msg.splitlines() if l.strip()]
    assert rc != 0 and 'Traceback' not in msg and len(lines) <= MAX_LINES, msg
    assert str(f) in msg and says in msg, msg
    if line is not None: assert f'line {line}' in msg, msg


# ---------------------------------------------------------------- offline: a Hub id fails within 5 s, everywhere
OFFLINE = textwrap.dedent('''
    import time, json, sys
    from peftbench.recipe import Recipe
    out = {}
    def timed(key, f):
        t = time.monotonic()
        try: f(); out[key] = (time.monotonic() - t, 'no error', '')
        except Exception as e: out[key] = (time.monotonic() - t, type(e).__name__, str(e))
    from peftbench.catalog import arch
    from peftbench.load import load
    from peftbench.data import load_source
    timed('arch', lambda: arch('meta-llama/Llama-3.2-1B-Instruct-typo'))
    timed('load', lambda: load(Recipe.from_dict({'model': {'name': 'Qwen/Qwen2.5-0.5B'}})))
    timed('data', lambda: load_source('tatsu-lab/alpaca'))
    print(json.dumps(out))
''')


def hub_answers() -> bool:
    import socket
    try: socket.create_connection(('huggingface.co', 443), 3).close(); return True
    except OSError: return False


@pytest.mark.parametrize('endpoint', ['default', 'https://hub.invalid', 'offline'])
def test_hub_ids_fail_fast_offline(tmp_path, endpoint):
    "With HF_HUB_OFFLINE unset and no route to the Hub (or an endpoint that cannot resolve), or with it set: one sentence in < 5 s."
    if endpoint == 'default' and hub_answers(): pytest.skip('the Hub is reachable from here')
    env = {k: v for k, v in os.environ.items() if k not in ('HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE', 'TRANSFORMERS_OFFLINE', 'HF_ENDPOINT')}
    env.update(HF_HOME=str(tmp_path / 'hf'), PYTHONWARNINGS='ignore')  # an empty cache
    if endpoint == 'offline': env['HF_HUB_OFFLINE'] = '1'
    elif endpoint != 'default': env['HF_ENDPOINT'] = endpoint
    p = subprocess.run([sys.executable, '-c', OFFLINE], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    names = {'arch': 'meta-llama/Llama-3.2-1B-Instruct-typo', 'load': 'Qwen/Qwen2.5-0.5B', 'data': 'tatsu-lab/alpaca'}
    for k, (secs, kind, msg) in out.items():
        assert kind in ('ModelError', 'LoadError', 'DataError'), (k, kind, msg)
        assert secs < 5, f'{k} took {secs:.1f} s'
        assert len(msg.splitlines()) == 1 and names[k] in msg and 'cannot be reached' in msg and 'HF_HOME' in msg, msg
    assert 'Retrying' not in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]


@pytest.fixture
def unreachable_hub(monkeypatch):
    "This process with HF_HUB_OFFLINE unset and a Hub endpoint that cannot resolve."
    from peftbench import catalog
    for k in ('HF_HUB_OFFLINE', 'HF_DATASETS_OFFLINE', 'TRANSFORMERS_OFFLINE'): monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv('HF_ENDPOINT', 'https://hub.invalid')
    catalog._PROBES.clear()
    yield
    catalog._PROBES.clear()


def test_model_panel_fails_fast_offline(unreachable_hub):
    from peftbench.recipe import Hardware
    from peftbench.model_panel import ModelPanel
    p = ModelPanel(hw=Hardware())
    t = time.monotonic()
    p.name.value = 'some-org/no-such-model-xyz'
    while 'cannot be reached' not in p.info.value and time.monotonic() - t < 5: time.sleep(0.02)
    assert 'cannot be reached' in p.info.value and 'some-org/no-such-model-xyz' in p.info.value, p.info.value
    assert time.monotonic() - t < 5


def test_data_panel_fails_fast_offline(unreachable_hub):
    from peftbench.data_panel import DataPanel
    p = DataPanel()
    p.source.value = 'some-org/no-such-data-xyz'
    t = time.monotonic()
    assert p.preview() is None
    assert time.monotonic() - t < 5
    shown = html.unescape(p.out.value)
    assert "could not load data set 'some-org/no-such-data-xyz'" in shown and 'cannot be reached' in shown, shown


def test_data_panel_names_the_file_and_line(tmp_path):
    from peftbench.data_panel import DataPanel
    f = make(tmp_path, 'd.jsonl', jl(PC) + '{"prompt": \n')
    p = DataPanel()
    p.source.value = str(f)
    assert p.preview() is None
    shown = html.unescape(p.out.value)
    assert str(f) in shown and 'line 2 is not valid JSON' in shown, shown
