"""Issue 14, the data and load side: each fact in one place. data and load use peftbench.translate's definitions (the same
objects, not copies), data still offers every name it did, and data, files and load import only modules whose notebook
sorts earlier."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / 'peftbench'

# what peftbench.data offered before files split from it; the file checks now live in peftbench.files only
OFFERED = ['BUILDERS', 'SHAPE_COLUMNS', 'OPTIONAL', 'PREFERENCE', 'ROLES', 'ALIASES', 'CHAT_TEMPLATES', 'DataError', 'DataWarning',
           'detect_shape', 'check_columns', 'row_problem', 'clean', 'check_source', 'load_source', 'render', 'resolve_template',
           'examples', 'tokenize', 'tokenizer_for', 'shapes_of', 'load_data', 'Preview', 'preview']
MOVED = ['SCAN_BYTES', 'SPLIT_WORDS', 'check_file', 'check_source', 'load_source']
SHARED = ['DataError', 'BUILDERS', 'SHAPE_COLUMNS', 'OPTIONAL', 'ROLES', 'ALIASES', 'CHAT_TEMPLATES', 'row_problem', 'render',
          'resolve_template', 'examples']


def test_data_offers_its_names():
    from peftbench import data, files
    assert [n for n in OFFERED if not hasattr(data, n)] == []
    assert [n for n in MOVED if n not in files.__all__] == []


@pytest.mark.parametrize('name', SHARED)
def test_one_definition(name):
    "data's formatting and constants are translate's objects, so the engine and the exported script cannot drift."
    from peftbench import data, files, translate
    assert getattr(data, name) is getattr(translate, name)
    if hasattr(files, name): assert getattr(files, name) is getattr(translate, name)


def test_load_uses_translate():
    "load builds the model through translate's pieces rather than its own copies."
    src = (PKG / 'load.py').read_text()
    for f in ('translate.tokenizer(', 'translate.model_kwargs(', 'translate.prepare_model(', 'translate.add_adapter('): assert f in src
    for gone in ('prepare_model_for_kbit_training', 'get_peft_model', 'AutoTokenizer'): assert gone not in src


from test_layout import NB, imported  # the one reader of notebook order and imports (tests/test_layout.py)


@pytest.mark.parametrize('mod', ['files', 'data', 'load'])
def test_layers(mod):
    "A module imports only modules whose notebook sorts earlier (no cycles, a readable order)."
    mine = NB[mod]
    later = sorted(m for m in imported(mod) if NB[m] >= mine)
    assert later == [], f'peftbench.{mod} ({mine}) imports {later}, whose notebooks do not sort earlier'
