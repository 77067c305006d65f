"One pytest case per notebook in nbs/, run by nbdev's own notebook runner (the same one `nbdev-test` uses)."
import os
from pathlib import Path

import pytest
import nbdev.test as nbtest  # not `from nbdev.test import test_nb`: pytest would collect it as a test
from nbdev.config import get_config

NBS = Path(__file__).resolve().parent.parent / 'nbs'
NOTEBOOKS = sorted(p for p in NBS.rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb):
    flags = os.environ.get('NBDEV_FLAGS', '').split()  # e.g. NBDEV_FLAGS="slow" to run slow cells too
    skip = [f for f in get_config().tst_flags.split() if f not in flags]
    ok, secs = nbtest.test_nb(nb, skip_flags=skip, force_flags=flags, showerr=True, cell_timeout=int(get_config().cell_timeout))
    assert ok, f'{nb.name} failed (traceback above)'
