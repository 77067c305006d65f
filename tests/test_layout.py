"""The package's layout (issue 14): every module imports only modules whose notebook sorts before its own (lazy imports
inside functions too), the engine never imports ipywidgets, no module is over 500 lines, and no string holds code."""
import ast, json, re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG, NBS = ROOT / 'peftbench', ROOT / 'nbs'


def notebooks() -> dict:
    "module name -> its notebook's file name, from each notebook's `#| default_exp` cell."
    out = {}
    for nb in sorted(NBS.glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            m = re.match(r'#\|\s*default_exp\s+(\S+)', ''.join(c['source']))
            if m: out[m.group(1)] = nb.name; break
    return out


NB = notebooks()
MODULES = sorted(NB)


def imported(mod: str) -> set:
    "The peftbench modules `mod` imports anywhere in its source."
    out = set()
    for node in ast.walk(ast.parse((PKG / f'{mod}.py').read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level == 1 and not base: out |= {a.name for a in node.names}  # from . import x
            elif node.level == 1: out.add(base.split('.')[0])
            elif base.startswith('peftbench.'): out.add(base.split('.')[1])
            elif base == 'peftbench': out |= {a.name for a in node.names if a.name in NB}
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('peftbench.')}
    return out & set(NB)


def test_every_module_has_a_notebook():
    made = {p.stem for p in PKG.glob('*.py') if not p.stem.startswith('_')}
    assert made == set(NB), f'modules without a notebook: {made - set(NB)}; notebooks without a module: {set(NB) - made}'


@pytest.mark.parametrize('mod', MODULES)
def test_imports_only_earlier_notebooks(mod):
    later = sorted(m for m in imported(mod) if m != mod and NB[m] > NB[mod])
    assert not later, f'{mod} ({NB[mod]}) imports {later}, whose notebooks sort after it'


@pytest.mark.parametrize('mod', [m for m in MODULES if not re.match(r'\d', NB[m]) or int(NB[m][:2]) < 10])
def test_engine_has_no_widgets(mod):
    src = (PKG / f'{mod}.py').read_text()
    assert 'ipywidgets' not in src or mod == 'cli', f'{mod} imports ipywidgets; the engine runs headless'


@pytest.mark.parametrize('mod', MODULES)
def test_module_size(mod):
    n = len((PKG / f'{mod}.py').read_text().splitlines())
    assert n <= 500, f'{mod}.py has {n} lines; split it by meaning into another notebook'


def test_translate_needs_nothing_from_peftbench():
    assert imported('translate') == set(), 'peftbench.translate must stand alone: the exported script is its source'


DEF = re.compile(r'^\s*(async\s+)?def \w+\(.*\)(\s*->.*)?:', re.M)

def holds_code(text: str) -> bool:
    "Whether a string is Python source: two or more function definitions on lines of their own."
    return len(DEF.findall(text)) >= 2


def test_holds_code_finds_a_template():
    assert holds_code("x = 1\ndef f(r):\n    return r\n\ndef g(r) -> int:\n    return 2\n")
    assert not holds_code("A docstring that mentions def f(x): once.")


@pytest.mark.parametrize('mod', MODULES)
def test_no_code_in_strings(mod):
    "A string that holds Python source is code hidden from linters and tests (the exported script is translate's source)."
    for node in ast.walk(ast.parse((PKG / f'{mod}.py').read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not holds_code(node.value), f'{mod}.py line {node.lineno}: a string holds code'
