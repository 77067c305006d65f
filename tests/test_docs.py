"""Offline checks of the docs site (Quarto cannot run here): API pages render, links resolve, README and index agree,
and docs notebooks stay small. Each notebook is also executed, as a test, by tests/test_notebooks.py."""
import importlib, json, re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))
MODULES = sorted(p.stem for p in (ROOT / 'peftbench').glob('*.py') if not p.stem.startswith('_'))
REPO_URLS = ('https://github.com/peftbench/peftbench/blob/main/', 'https://colab.research.google.com/github/peftbench/peftbench/blob/main/')
MAX_OUTPUT, MAX_NOTEBOOK = 100_000, 1_000_000  # bytes: one output, one notebook file


def cells(nb, kind=None):
    "The cells of notebook `nb` (a path), with sources as strings."
    out = json.loads(nb.read_text())['cells']
    for c in out: c['source'] = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
    return [c for c in out if kind is None or c['cell_type'] == kind]


def rel(p): return str(p.relative_to(NBS))


# (a) every public name of every module renders with nbdev's show_doc, as the API pages do

@pytest.mark.parametrize('mod', MODULES)
def test_show_doc_renders(mod):
    from nbdev.showdoc import show_doc
    m = importlib.import_module(f'peftbench.{mod}')
    names = getattr(m, '__all__', None)
    assert names, f'peftbench.{mod} has no __all__ (nbdev-export writes one for exported names)'
    for name in names:
        md = show_doc(getattr(m, name), name=name)._repr_markdown_()
        assert f'### {name}' in md, (mod, name, md[:300])
        obj = getattr(m, name)
        if callable(obj) and not isinstance(obj, type) or isinstance(obj, type) and obj.__module__.startswith('peftbench'):
            assert (obj.__doc__ or '').strip(), f'peftbench.{mod}.{name} has no docstring, so its API entry is empty'


# (b) links between pages resolve

_LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)|(?:href|src)="([^"]+)"')
_FENCE = re.compile(r'```.*?```', re.S)


def links(text):
    "Link targets in markdown text (inline links, images, href/src attributes), outside code fences and inline code."
    text = re.sub(r'`[^`\n]*`', '', _FENCE.sub('', text))
    return [a or b for a, b in _LINK.findall(text)]


def resolves(target: str, base: Path) -> bool:
    "Whether a link `target` written in a page in folder `base` points to a page or file of the site."
    for url in REPO_URLS:  # links into this repository (the Colab badge, source links) must name a file that exists
        if target.startswith(url): return (ROOT / target[len(url):].split('#')[0]).exists()
    if re.match(r'^[a-z][a-z0-9+.-]*:', target) or target.startswith(('#', '//')): return True  # other sites, mail, anchors
    path = target.split('#')[0].split('?')[0]
    p = (base / path).resolve()
    if p.suffix in ('.html', '.md', '.ipynb', '.qmd'):
        return any(p.with_suffix(s).exists() for s in ('.ipynb', '.qmd', '.md'))
    return p.exists()


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=rel)
def test_links_resolve(nb):
    bad = [t for c in cells(nb, 'markdown') for t in links(c['source']) if not resolves(t, nb.parent)]
    assert not bad, f'{rel(nb)} links to pages or files that do not exist: {bad}'


def sidebar_entries(items):
    for it in items:
        if isinstance(it, str): yield it
        elif isinstance(it, dict):
            if 'href' in it: yield it['href']
            yield from sidebar_entries(it.get('contents', []))


def test_sidebar():
    sb = yaml.safe_load((NBS / 'sidebar.yml').read_text())
    entries = list(sidebar_entries(sb['website']['sidebar']['contents']))
    missing = [e for e in entries if not resolves(e, NBS)]
    assert not missing, f'sidebar.yml lists pages that do not exist: {missing}'
    listed = {str(Path(e).with_suffix('')) for e in entries}
    orphans = [rel(nb) for nb in NOTEBOOKS if str(Path(rel(nb)).with_suffix('')) not in listed]
    assert not orphans, f'notebooks missing from nbs/sidebar.yml (the site would not link them): {orphans}'
    from nbdev.config import get_config
    assert get_config().custom_sidebar, 'set custom_sidebar = true in [tool.nbdev], or nbdev-docs overwrites nbs/sidebar.yml'


def test_quarto_config():
    "_quarto.yml parses and uses the two metadata files; nbdev.yml is what nbdev-docs would write (so a build changes nothing)."
    q = yaml.safe_load((NBS / '_quarto.yml').read_text())
    assert q['project']['type'] == 'website' and set(q['metadata-files']) == {'nbdev.yml', 'sidebar.yml'}
    from nbdev.config import get_config
    from nbdev.quarto import _nbdev_yml
    cfg = get_config()
    want = _nbdev_yml.format(**{k: cfg[k] for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}, doc_path=cfg.doc_path.name)
    assert (NBS / 'nbdev.yml').read_text() == want, 'nbs/nbdev.yml differs from what nbdev-docs writes from pyproject.toml'
    for c in ('styles.css',): assert (NBS / c).is_file()


# (c) the README stays in step with index.ipynb
#
# The rule: README.md is index.ipynb without the executed examples. Concretely,
#  1. the README's first set-up command (line 1 of its first code block) is in a code block of index, verbatim,
#     and its "**peftbench** is ..." paragraph is in index verbatim;
#  2. every `## ` heading of the README is a `## ` heading of index, in the same order (index may have more);
#  3. in each such section every block of the README (paragraph, list, table, fenced block) equals a block of
#     index's markdown in that section, and a ```python block equals index's visible code cells of the section,
#     joined by newlines, with their `#|` directive lines dropped.

def blocks(md: str) -> list[str]:
    "Markdown split into blocks at blank lines, keeping fenced code blocks whole."
    out, cur, fence = [], [], False
    for line in md.strip('\n').split('\n'):
        if line.startswith('```'): fence = not fence
        if not line.strip() and not fence:
            if cur: out.append('\n'.join(cur)); cur = []
        else: cur.append(line)
    if cur: out.append('\n'.join(cur))
    return out


def sections(md: str) -> dict:
    "`## ` heading -> markdown below it (the text before the first heading under '')."
    out, key = {'': []}, ''
    for line in md.split('\n'):
        if line.startswith('## '): key = line[3:].strip(); out[key] = []
        else: out[key].append(line)
    return {k: '\n'.join(v) for k, v in out.items()}


def index_sections():
    "`## ` heading -> (markdown, code cells) of index.ipynb; directive lines dropped, hidden cells left out."
    out, key = {'': ([], [])}, ''
    for c in cells(NBS / 'index.ipynb'):
        src = c['source']
        if c['cell_type'] == 'markdown':
            for line in src.split('\n'):
                if line.startswith('## '): key = line[3:].strip(); out[key] = ([], [])
                else: out[key][0].append(line)
            out[key][0].append('')
        elif c['cell_type'] == 'code' and not re.search(r'^#\|\s*(hide|include:\s*false)', src, re.M):
            out[key][1].append('\n'.join(l for l in src.split('\n') if not l.startswith('#|')).strip('\n'))
    return {k: ('\n'.join(md), code) for k, (md, code) in out.items()}


def test_readme_in_step_with_index():
    readme, idx = (ROOT / 'README.md').read_text(), index_sections()
    idx_md = '\n'.join(md for md, _ in idx.values())
    first = re.search(r'```\w*\n(.*?)\n', readme).group(1)
    assert any(first in b for b in blocks(idx_md) if b.startswith('```')), f'index.ipynb lacks the set-up command {first!r}'
    intro = next(b for b in blocks(readme) if b.startswith('**peftbench** is'))
    assert intro in blocks(idx_md), 'the "**peftbench** is ..." paragraph differs between README.md and index.ipynb'
    rs = {k: v for k, v in sections(readme).items() if k}
    order = [k for k in idx if k in rs]
    assert order == list(rs), f'README sections {list(rs)} are not index sections in the same order (index has {list(idx)})'
    for head, text in rs.items():
        md, code = idx[head]
        ib = blocks(md)
        for b in blocks(text):
            if b.startswith('```python'):
                assert b[len('```python\n'):-len('\n```')].strip('\n') == '\n'.join(code), f'the Python code of "## {head}" differs'
            else: assert b in ib, f'"## {head}": this README block is not in index.ipynb:\n{b}'


# (d) docs notebooks stay small: no widget state, no big outputs

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=rel)
def test_notebook_small(nb):
    assert nb.stat().st_size < MAX_NOTEBOOK, f'{rel(nb)} is {nb.stat().st_size:,} bytes; clear or shrink its outputs'
    d = json.loads(nb.read_text())
    assert 'widgets' not in d.get('metadata', {}), f'{rel(nb)} carries widget state in its metadata; clear it (and outputs)'
    for i, c in enumerate(d['cells']):
        for o in c.get('outputs', []):
            n = len(json.dumps(o))
            assert n < MAX_OUTPUT, f'{rel(nb)} cell {i} has a {n:,}-byte output; commit small static figures only'
            assert 'application/vnd.jupyter.widget-view+json' not in o.get('data', {}), f'{rel(nb)} cell {i} has a widget output (state is not committed, so it renders empty)'


# pages: a title for every page; tutorials are pages, not modules

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=rel)
def test_page_has_title(nb):
    md = cells(nb, 'markdown')
    assert md and md[0]['source'].lstrip().startswith('# '), f'{rel(nb)}: the first markdown cell should start with "# Title"'


def test_tutorials_are_pages():
    for nb in sorted((NBS / 'tutorials').glob('*.ipynb')):
        assert not any(re.search(r'^#\|\s*default_exp', c['source'], re.M) for c in cells(nb, 'code')), f'{rel(nb)} exports a module'
