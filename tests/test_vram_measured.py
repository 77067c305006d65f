"""The analytic VRAM estimate against peaks measured on a real GPU (an H200): bench/results/vram_measured_h200.json,
24 configurations of bench/vram_accuracy.py's grid (provenance inside). Targets of issue 15: every row within 5%,
the median within 2%, and never under the measured peak by more than 3% (under is the side that goes out of memory).
Also the rows measured later (bench/results/vram_gpu_*.json): the grid again, set 'more' (configurations the fixture
does not hold) and set 'long' (many variable-length batches).

Every grid and 'more' row was measured on synthetic text that fills every row to max_length: its batches carry no
padding, so transformers drops the all-ones mask and CUDA's SDPA runs causal with grouped k, v. The estimate of
that case is `estimate(r, gpu, padding=False)` (`bench/vram_accuracy.padding_of`); the default, `padding=True`, is
what a user with examples of varying length gets, and sits above it (by up to 5% without checkpointing)."""
import json, statistics, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'bench'))
FIXTURE = ROOT / 'bench' / 'results' / 'vram_measured_h200.json'
LATER = sorted((ROOT / 'bench' / 'results').glob('vram_gpu_*.json'))
H200 = 143771 * 2**20


def errors(rows, padding=True):
    "(row, relative error of the analytic peak allocated) for measured rows, the recipe built as the measuring script built it."
    import vram_accuracy as va
    from peftbench.catalog import GPU
    from peftbench.memory import estimate
    gpu, out = GPU('NVIDIA H200', H200), []
    for row in rows:
        m = row.get('measured_peak_allocated_gib', 0) * 2**30 or (row.get('measured') or {}).get('allocated')
        if not m: continue
        e = estimate(va.recipe(row['model'], row['settings'], row['model'], 'data.jsonl', 'out'), gpu, padding=padding)
        out.append((row, (e.peak_allocated_bytes - m) / m))
    return out


def check(errs, n, under=-0.03, worst=0.05, median=0.02):
    "Every row within `worst`, none under by more than `under`, the median |error| under `median`."
    assert len(errs) >= n
    bad = [(r['i'], r['model'], r['settings'], f'{e:+.1%}') for r, e in errs if abs(e) > worst]
    assert not bad, f'rows more than {worst:.0%} off: {bad}'
    low = [(r['i'], r['model'], r['settings'], f'{e:+.1%}') for r, e in errs if e < under]
    assert not low, f'rows under by more than {-under:.0%}: {low}'
    med = statistics.median(abs(e) for _, e in errs)
    assert med < median, f'median |error| {med:.2%}'


def later(path, kind): return [r for r in json.loads(path.read_text())['rows'] if r['set'] == kind]


def test_fixture_has_provenance():
    d = json.loads(FIXTURE.read_text())
    assert len(d['rows']) == 24 and d['machine']['gpu'].startswith('NVIDIA H200') and d['provenance']
    import vram_accuracy as va  # the rows are the grid of the script that measured them
    assert [(r['model'], r['settings']) for r in d['rows']] == [(n, kw) for n, kw in va.GRID]


def test_every_measured_row_within_targets():
    "The estimate a user gets (padded batches, the default) against the fixture: every target, the dangerous side included."
    check(errors(json.loads(FIXTURE.read_text())['rows']), 24)


def test_fixture_under_its_own_condition():
    """The estimate of the fixture's condition (full rows, `padding=False`): every row within 5%, the median within 2%.
    Its one row under by more than 3% (row 4, r 64 on attention: -3.03% against 3.72 GiB) measured 3.60 GiB when the
    grid ran again on the same GPU (+0.2%, test below): two measurements of one configuration 3.2% apart."""
    errs = errors(json.loads(FIXTURE.read_text())['rows'], padding=False)
    check(errs, 24, under=-0.05)
    assert statistics.median(abs(e) for _, e in errs) < 0.01
    padded = dict((r['i'], e) for r, e in errors(json.loads(FIXTURE.read_text())['rows']))
    assert all(e <= padded[r['i']] + 1e-9 for r, e in errs)  # padding only ever adds


@pytest.mark.parametrize('path', LATER, ids=lambda p: p.name)
def test_grid_measured_again_within_targets(path):
    "The fixture's configurations measured again by today's bench on the same kind of GPU, under their condition (full rows)."
    check(errors(later(path, 'grid'), padding=False), 12)


@pytest.mark.parametrize('path', LATER, ids=lambda p: p.name)
def test_rows_the_fixture_does_not_hold_within_targets(path):
    """Configurations measured after the formulas were set, under their condition (full rows): every target. The default
    estimate (padded batches) never under them by more than 3% either."""
    check(errors(later(path, 'more'), padding=False), 10)
    assert min(e for _, e in errors(later(path, 'more'))) > -0.03


@pytest.mark.parametrize('path', LATER, ids=lambda p: p.name)
def test_real_run_figure_covers_long_runs(path):
    "The estimate's real-run figure against max reserved memory after many variable-length batches, for the allocator setting used."
    import vram_accuracy as va
    from peftbench.catalog import GPU
    from peftbench.memory import estimate
    rows = [r for r in json.loads(path.read_text())['rows'] if r['set'] == 'long' and (r.get('measured') or {}).get('reserved')]
    assert rows
    for r in rows:
        e = estimate(va.recipe(r['model'], r['settings'], r['model'], 'data.jsonl', 'out'), GPU('NVIDIA H200', H200))
        got, real = r['measured']['reserved'], e.real_run['expandable_segments' if r['expandable_segments'] else 'default']
        assert -0.03 < (real - got) / got < 0.10, (r['model'], r['expandable_segments'], real / 2**30, got / 2**30)
        assert e.peak_reserved_bytes < real or r['expandable_segments']  # the default allocator fragments beyond the 3-step reserve
