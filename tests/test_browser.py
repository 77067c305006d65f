"""The Workbench in a real browser: JupyterLab on 127.0.0.1, headless Debian Chromium driven by Playwright.

`test_lab_harness` checks the plumbing alone (kernel = this venv's python, an ipywidgets round trip, a plotly
FigureWidget fed from a thread). `test_workbench` runs tests/browser/workbench.ipynb and drives the Workbench as a
person would: times it (visible, bar drawn), checks the memory bar's drawn total against its text (also in a second
browser view), counts the kernel's websocket frames per rank step and the long tasks while dragging, finds truncated
labels on every tab, then rank slider -> VRAM estimate, Train -> loss points, Stop -> checkpoint, Resume -> the whole
curve, Compare -> both columns, with the run status recorded (it never goes backwards). `test_lifecycle` runs
tests/browser/lifecycle.ipynb (10 steps): the empty loss plot, a finished run (Resume disabled with its reason),
Train again -> the ask box (nothing written until answered) -> "New folder".
Screenshots go to $CI_ARTIFACTS/browser/ (default ci-artifacts/browser/); workbench.png is the one for the docs.
The figures go to bench/results/workbench.json (written when the module's tests end, from what they measured).
"""
import datetime, json, os, re, shutil, sys, time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / 'browser'))
import labdriver as L  # noqa: E402
import probe as P  # noqa: E402

IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
ART = Path(os.environ.get('CI_ARTIFACTS', 'ci-artifacts'))
ART = (ART if ART.is_absolute() else REPO / ART) / 'browser'
RESULTS = REPO / 'bench' / 'results' / 'workbench.json'
S = 1000  # ms
# s per test (plus ~10 s to start the server): the file stays under ~6 minutes on a quiet 2-core machine
BUDGET = {'test_lab_harness': 70, 'test_workbench': 330, 'test_lifecycle': 200}
# the targets for one rank step and a drag; the times are recorded, bounded only generously (1 s / 2 s are for a quiet machine)
MAX_FRAMES, MAX_BYTES, MAX_LONG_MS = 8, 15_000, 100
MAX_VISIBLE_S, MAX_BAR_S = 60, 120
FIG: dict = {}  # what the tests measured, for bench/results/workbench.json
_deadline = [float('inf')]


def T(ms: float) -> float:
    "A wait of `ms`, cut to what is left of the test's budget (at least 1 s, so a spent budget fails at the next wait)."
    return max(1000.0, min(ms, (_deadline[0] - time.time()) * 1000))


def _need_browser():
    missing = []
    try: import playwright.sync_api  # noqa: F401
    except ImportError: missing.append('the playwright package (pip install -e ".[dev]")')
    if not Path(L.CHROMIUM).is_file(): missing.append(f'{L.CHROMIUM} (apt-get install chromium)')
    if missing:
        msg = 'the browser test needs ' + ' and '.join(missing)
        if IN_CI: pytest.fail(msg + '; CI=true, so it must run')
        pytest.skip(msg)


@pytest.fixture(scope='module')
def lab(tmp_path_factory, request):
    _need_browser()
    root, home = tmp_path_factory.mktemp('labroot'), tmp_path_factory.mktemp('labhome')
    for nb in (HERE / 'browser').glob('*.ipynb'): shutil.copy(nb, root / nb.name)
    ART.mkdir(parents=True, exist_ok=True)
    server = L.Lab(root, home, log=ART / 'jupyterlab.log').start()
    yield server
    server.stop()
    ran = {i.name for i in request.session.items if i.path == request.path}
    if FIG: record(FIG, RESULTS if ran >= {'test_workbench', 'test_lifecycle'} else ART / 'workbench.json')  # a partial run: an artifact


def record(fig: dict, path: Path):
    "Write what the tests measured to `path` (bench/results/workbench.json), with the machine and the time."
    import importlib.util
    from peftbench.cli import machine
    spec = importlib.util.spec_from_file_location('_versions', REPO / 'bench' / '_versions.py')
    v = importlib.util.module_from_spec(spec); spec.loader.exec_module(v)
    out = {'what': 'tests/test_browser.py: the Workbench in JupyterLab + headless Chromium (1600x1000)',
           'when': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'), 'machine': machine(), 'versions': v.versions(),
           'targets': {'frames_per_rank_step': MAX_FRAMES, 'bytes_per_rank_step': MAX_BYTES, 'longest_task_ms': MAX_LONG_MS,
                       'visible_s': 1, 'bar_s': 2, 'note': 'the 1 s / 2 s targets are for a quiet 2-core machine'}, **fig}
    path.write_text(json.dumps(out, indent=1, default=str) + '\n')
    print(f'\nfigures written to {path}')


@pytest.fixture(scope='module')
def browser(lab):
    from playwright.sync_api import sync_playwright
    pw = sync_playwright().start()
    b = L.launch(pw)
    yield b
    b.close(); pw.stop()


@pytest.fixture
def page(browser, lab, request):
    ctx = browser.new_context(viewport=P.VIEW, device_scale_factor=1)
    p = ctx.new_page()
    p.set_default_timeout(60 * S)
    p.console = L.Console(p)
    p.frames_in = P.Frames(p)  # the kernel's websocket frames, from the start
    _deadline[0] = time.time() + BUDGET.get(request.node.name, 120)
    failed = request.session.testsfailed
    yield p
    if request.session.testsfailed > failed:  # what the page showed when it failed
        try: p.screenshot(path=str(ART / f'failed-{request.node.name}.png'), full_page=True)
        except Exception as e: print(f'no screenshot of the failure: {e}')
    report = p.console.report()
    print('\n' + report)
    (ART / f'console-{request.node.name}.txt').write_text(report + '\n')
    ctx.close()


def shot(page, name, el=None):
    if el is not None: el.scroll_into_view_if_needed()
    page.screenshot(path=str(ART / name))


def check_clean(page, lab):
    errs = L.error_outputs(page)
    assert not errs, 'errors shown in the notebook:\n' + '\n---\n'.join(errs)
    assert not page.console.uncaught(), 'errors in the page:\n' + '\n'.join(page.console.uncaught())


def test_lab_harness(page, lab):
    "JupyterLab runs a notebook on this venv's kernel; an ipywidgets slider round-trips; a FigureWidget updates live."
    from playwright.sync_api import expect
    L.open_and_run(page, lab, 'widgets.ipynb', timeout_ms=T(60 * S))
    exe = page.locator('.jp-CodeCell').nth(0).locator('.jp-OutputArea-output').inner_text().strip()
    assert exe == sys.executable, f'the kernel runs {exe}, not {sys.executable}'
    handle = page.locator('.smoke-slider .noUi-handle')
    handle.focus(); page.keyboard.press('ArrowRight')
    expect(page.locator('.smoke-seen')).to_have_text('kernel saw 4', timeout=T(30 * S))
    page.wait_for_function("() => { const gd = document.querySelector('.smoke-plot .js-plotly-plot');"
                           " return gd && gd.data && gd.data[0] && gd.data[0].x && gd.data[0].x.length === 20; }", timeout=T(60 * S))
    shot(page, 'harness.png', page.locator('.smoke-plot'))
    check_clean(page, lab)


LOSS_X = "() => { const gd = document.querySelector('.peftbench-workbench .peftbench-loss .js-plotly-plot'); return gd && gd.data && gd.data[0] && gd.data[0].x ? [...gd.data[0].x] : []; }"
LOSS_POINTS = "() => { const gd = document.querySelector('.peftbench-workbench .peftbench-loss .js-plotly-plot'); return gd && gd.data && gd.data[0] && gd.data[0].x ? gd.data[0].x.length : -1; }"


def test_workbench(page, lab):
    "Issue 6's four steps (rank -> VRAM text, Train -> loss, Stop -> checkpoint, Compare -> text) and issue 16's evidence."
    t0, soft = time.time(), []  # soft: failed checks that let the later steps still run (and measure); asserted at the end
    tm = P.open_timed(page, lab, 'workbench.ipynb', timeout_ms=T(120 * S), bar_ms=75 * S)  # a bar not drawn in 75 s fails below
    FIG['timings'] = tm
    print(f'\nworkbench visible {tm["visible_s"]} s, bar drawn {tm["bar_s"]} s after its cell started')
    if tm['visible_s'] > MAX_VISIBLE_S: soft.append(f'the Workbench became visible after {tm["visible_s"]} s (> {MAX_VISIBLE_S} s)')
    if tm['bar_s'] is None: soft.append(tm['bar_error'])
    elif tm['bar_s'] > MAX_BAR_S: soft.append(f'the memory bar was drawn after {tm["bar_s"]} s (> {MAX_BAR_S} s)')
    P.wait_warm(page, T(90 * S))
    wb = page.locator('.peftbench-workbench').first
    soft += step_bar(page, 'bar'); print(f'0a. bar total = its text ({time.time() - t0:.1f} s)')
    soft += step_messages(page); print(f'0b. messages per rank step, long tasks while dragging ({time.time() - t0:.1f} s)')
    soft += step_labels(page); print(f'0c. labels on every tab ({time.time() - t0:.1f} s)')
    soft += step_new_view(page, lab); print(f'0d. a second browser view draws the same bar ({time.time() - t0:.1f} s)')
    watch_status(page)
    step_rank(page, wb); print(f'1. rank slider -> VRAM text ({time.time() - t0:.1f} s)')
    step_train(page, wb); print(f'2. Train -> loss points ({time.time() - t0:.1f} s)')
    step_stop(page, wb, lab.root / 'runs' / 'workbench'); print(f'3. Stop -> checkpoint ({time.time() - t0:.1f} s)')
    soft += step_resume(page, wb); print(f'3b. Resume -> the whole curve, Stop ({time.time() - t0:.1f} s)')
    step_compare(page, wb); print(f'4. Compare -> both columns ({time.time() - t0:.1f} s)')
    soft += status_order(page, 'workbench')
    docs_shot(page, wb, ART / 'workbench.png')
    check_clean(page, lab)
    FIG['workbench_test_s'] = round(time.time() - t0, 1)
    print(f'workbench test took {time.time() - t0:.1f} s')
    assert not soft, 'the Workbench falls short of issue 16:\n- ' + '\n- '.join(soft)


def step_bar(page, key) -> list[str]:
    "The memory bar: one bar; its segments' drawn widths (times the bytes per SVG unit) = .peftbench-vram-sum[data-bytes]; each term once."
    b = P.bar(page)
    FIG[key] = {k: b.get(k) for k in ('plots', 'sum_bytes', 'drawn_bytes', 'off', 'names', 'repeated', 'legend', 'sum_text')}
    print(f"bar: {b.get('plots')} bar(s), drawn {b.get('drawn_bytes', 0) / 2**30:.3f} GiB, text {b.get('sum_text')!r}"
          f" data-bytes {b.get('sum_bytes')}, terms {b.get('names')}")
    bad = []
    if b['plots'] != 1: bad.append(f"{key}: .peftbench-vram-plot holds {b['plots']} bars, not one")
    if b.get('error'): bad.append(f"{key}: {b['error']}")
    if not b.get('sum_bytes'): bad.append(f"{key}: no <span class='peftbench-vram-sum' data-bytes=N> in .peftbench-vram-total")
    elif abs(b['off']) > 0.01:
        bad.append(f"{key}: the bar draws {b['drawn_bytes']:.0f} bytes, the text says {b['sum_bytes']} ({b['off']:+.1%})")
    if b['repeated']: bad.append(f"{key}: terms drawn more than once: {b['repeated']}")
    legend = [x for x in b['legend'] if not x.lower().startswith('measured')]
    if len(set(legend)) != len(legend): bad.append(f"{key}: the legend repeats terms: {legend}")
    return bad


def step_messages(page) -> list[str]:
    "One rank step: at most 8 frames and 15 KB from the kernel; 10 steps in a row: no long task over 100 ms."
    one = P.rank_step(page, page.frames_in)
    FIG['rank_step'] = one
    d = P.drag(page, page.frames_in, steps=10)
    FIG['drag'] = d
    print(f"one rank step: {one['frames']} frames, {one['bytes']} bytes, {one['comm_msg']} comm_msg ({one['by_type']});"
          f" 10 steps: longest task {d['longest_ms']} ms ({d['long_tasks_ms']}), {d['frames']} frames, {d['bytes']} bytes")
    bad = []
    if one['frames'] > MAX_FRAMES or one['bytes'] > MAX_BYTES:
        bad.append(f"one rank step brought {one['frames']} frames ({one['by_type']}), {one['bytes']} bytes from the kernel"
                   f" (at most {MAX_FRAMES} frames and {MAX_BYTES} bytes)")
    if d['longest_ms'] > MAX_LONG_MS:
        bad.append(f"dragging the rank slider 10 steps blocked the page for {d['longest_ms']} ms (long tasks {d['long_tasks_ms']} ms;"
                   f" at most {MAX_LONG_MS} ms)")
    return bad


def step_labels(page) -> list[str]:
    "Every tab (and Compare, Code) at 1600x1000: no truncated, clipped or wrapping label; a screenshot each."
    missed = P.self_check(page)
    assert not missed, f'the label check misses planted labels: {missed}'
    found = P.per_tab(page, ART, prefix='tab')
    FIG['labels'] = {'offenders': sum(map(len, found.values())), 'per_tab': found}
    for tab, xs in found.items(): print(f'labels on {tab}: ' + ('ok' if not xs else '; '.join(f"{x['text']!r} ({x['why']})" for x in xs)))
    return [f"{tab}: {x['text']!r} <{x['tag']} class='{x['class']}'> {x['why']} (scrollWidth {x['scrollWidth']}, clientWidth"
            f" {x['clientWidth']})" for tab, xs in found.items() for x in xs]


def step_new_view(page, lab) -> list[str]:
    "Save the notebook, open it in a second browser view: the same bar is drawn (re-sent whole), with its total = its text."
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_timeout(1000)
    ctx = page.context.browser.new_context(viewport=P.VIEW, device_scale_factor=1)
    try:
        p2 = ctx.new_page(); p2.set_default_timeout(60 * S)
        t = time.time()
        p2.goto(lab.notebook_url('workbench.ipynb'), wait_until='domcontentloaded', timeout=T(60 * S))
        try: P.bar_drawn(p2, T(45 * S))
        except Exception:
            p2.screenshot(path=str(ART / 'new-view.png'))
            return [f'a second browser view drew no memory bar within 45 s: {P.bar(p2)}']
        FIG['new_view_bar_s'] = round(time.time() - t, 2)
        p2.wait_for_timeout(1500)  # a stale figure would show first, then nothing corrects it
        bad = step_bar(p2, 'bar_new_view')
        first, again = P.bar(page), FIG['bar_new_view']  # the first view now (the rank moved since FIG['bar'])
        if first.get('sum_bytes') and again.get('sum_bytes') and first['sum_bytes'] != again['sum_bytes']:
            bad.append(f"the second view says {again['sum_bytes']} bytes, the first {first['sum_bytes']}")
        if first.get('drawn_bytes') and abs((again.get('drawn_bytes') or 0) / first['drawn_bytes'] - 1) > 0.01:
            bad.append(f"the second view draws {again.get('drawn_bytes')} bytes, the first {first['drawn_bytes']}: a stale bar")
        p2.screenshot(path=str(ART / 'new-view.png'))
        return bad
    finally: ctx.close()


STATUS = """() => { window.__pbStatus = []; const seen = window.__pbStatus; let last = null;
  const look = () => { const e = document.querySelector('.peftbench-workbench .peftbench-run-status');
    const t = e ? e.innerText.trim() : ''; if (t !== last) { last = t; seen.push({t: performance.now(), text: t}); } };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true});
  document.addEventListener('click', ev => { const b = ev.target.closest('.peftbench-workbench button');
    if (b) seen.push({t: performance.now(), click: b.innerText.trim()}); }, true);
  look(); }"""


def watch_status(page):
    "Record every text of the run status (and every button click) from now on."
    page.evaluate(STATUS)


def _phase(text: str):
    t = text.lower()
    if re.search(r'\b(finished|stopped|failed)\b', t): return 3
    if 'stopping' in t: return 2
    if re.search(r'\b(running|paused|pausing|resuming)\b', t): return 1
    if re.search(r'\b(starting|loading)\b', t): return 0
    return None


def status_order(page, key) -> list[str]:
    "Between two clicks the status only moves forward: starting -> running -> stopping -> stopped/finished/failed."
    seen = page.evaluate('() => window.__pbStatus || []')
    FIG.setdefault('status_seen', {})[key] = [x.get('text') or f"[click {x['click']}]" for x in seen]
    bad, top, was = [], -1, None
    for x in seen:
        if 'click' in x: top, was = -1, None; continue
        ph = _phase(x['text'])
        if ph is None: continue
        if ph < top: bad.append(f'{key}: the status went back from {was!r} to {x["text"]!r}')
        if ph >= top: top, was = ph, x['text']
    return bad


def step_resume(page, wb) -> list[str]:
    "3b. Resume the stopped run: the plot keeps the whole curve (from the first step), it grows; then Stop again."
    from playwright.sync_api import expect
    before = page.evaluate(LOSS_X)
    status = wb.locator('.peftbench-run-status')
    button(wb.locator('.peftbench-runpanel'), 'Resume').click()
    expect(status).to_contain_text('running', timeout=T(120 * S))
    page.wait_for_function(f'() => ({LOSS_POINTS})() > {len(before)}', timeout=T(90 * S), polling=250)
    after = page.evaluate(LOSS_X)
    FIG['resume'] = {'points_before': len(before), 'first_step_before': before[:1], 'points_after': len(after), 'first_step_after': after[:1]}
    print(f'resume: {len(before)} points from step {before[:1]} -> {len(after)} points from step {after[:1]}')
    bad = []
    if not after or not before or after[0] != before[0] or after[0] > 1:
        bad.append(f'after Resume the loss plot starts at step {after[:1]} (before: {before[:1]}): not the whole curve')
    shot(page, '3b-resume.png', wb.locator('.peftbench-loss'))
    button(wb.locator('.peftbench-runpanel'), 'Stop').click()
    expect(status).to_contain_text('stopped', timeout=T(120 * S))
    return bad


def test_lifecycle(page, lab):
    "A 10-step run: the empty loss plot, a finished run (Resume disabled, with why), Train again asks, New folder trains."
    from playwright.sync_api import expect
    t0, soft = time.time(), []
    wb = show(page, lab, 'lifecycle.ipynb')
    runp, status = wb.locator('.peftbench-runpanel'), wb.locator('.peftbench-run-status')
    soft += step_loss_empty(page, wb); print(f'1. the empty loss plot ({time.time() - t0:.1f} s)')
    watch_status(page)
    button(runp, 'Train').click()
    expect(status).to_contain_text('finished', timeout=T(150 * S))
    print(f'2. a 10-step run finished: {status.inner_text()!r} ({time.time() - t0:.1f} s)')
    soft += step_loss_width(page, wb)
    resume = button(runp, 'Resume')
    expect(resume).to_be_disabled(timeout=T(10 * S))
    why = resume.get_attribute('title') or ''
    print(f'3. Resume disabled: {why!r}')
    if not why.strip(): soft.append('Resume is disabled after the run finished, but its tooltip (title) does not say why')
    shot(page, 'lifecycle-finished.png', wb.locator('.peftbench-runpanel'))
    soft += step_ask(page, wb, lab.root / 'runs'); print(f'4. Train again asks; New folder trains ({time.time() - t0:.1f} s)')
    soft += status_order(page, 'lifecycle')
    check_clean(page, lab)
    FIG['lifecycle_test_s'] = round(time.time() - t0, 1)
    assert not soft, 'the run lifecycle falls short of issue 16:\n- ' + '\n- '.join(soft)


def step_loss_empty(page, wb) -> list[str]:
    "Before Train: the loss plot shows its empty state (.peftbench-loss-empty, visible), not blank axes."
    empty = wb.locator('.peftbench-loss .peftbench-loss-empty')
    ok = empty.count() > 0 and empty.first.is_visible()
    FIG['loss_empty_visible'] = ok
    shot(page, 'loss-empty.png', wb.locator('.peftbench-loss'))
    return [] if ok else ['before Train the loss plot shows no visible .peftbench-loss-empty']


def step_loss_width(page, wb) -> list[str]:
    "With points: the loss plot spans its row (the plot's drawn width against the width of .peftbench-loss's row)."
    w = page.evaluate("""() => { const box = document.querySelector('.peftbench-workbench .peftbench-loss');
        const svg = box && box.querySelector('.js-plotly-plot .main-svg'); const row = box && box.parentElement;
        return svg ? {plot: svg.getBoundingClientRect().width, row: row.getBoundingClientRect().width,
                      empty: [...box.querySelectorAll('.peftbench-loss-empty')].some(e => e.offsetParent !== null)} : null; }""")
    FIG['loss_width'] = w
    print(f'loss plot width: {w}')
    if not w: return ['the loss plot has no drawn figure after the run']
    bad = [] if w['plot'] >= 0.95 * w['row'] else [f"the loss plot is {w['plot']:.0f} px wide in a row of {w['row']:.0f} px"]
    if w['empty']: bad.append('the loss plot still shows its empty state with points drawn')
    return bad


def step_ask(page, wb, runs: Path) -> list[str]:
    "Train into the finished run's folder: the ask box (New folder / Overwrite), log.jsonl untouched; New folder trains there."
    from playwright.sync_api import expect
    runp, status = wb.locator('.peftbench-runpanel'), wb.locator('.peftbench-run-status')
    log = runs / 'short' / 'log.jsonl'
    before = log.read_bytes() if log.is_file() else None
    button(runp, 'Train').click()
    ask = wb.locator('.peftbench-run-ask')
    try: expect(ask).to_be_visible(timeout=T(20 * S))
    except AssertionError: return [f'Train into a finished run\'s folder shows no .peftbench-run-ask (status: {status.inner_text()!r})']
    new, over = button(ask, 'New folder'), button(ask, 'Overwrite')
    bad = [f'the ask box has no {n!r} button' for n, b in (('New folder', new), ('Overwrite', over)) if not b.count()]
    sentence = ask.inner_text()
    m = re.search(r'\b(runs/short-?\w*)', sentence.replace('runs/short ', ' ', 1)) or re.search(r'(\S+/short\S*)', sentence)
    print(f'ask: {sentence!r}')
    shot(page, 'lifecycle-ask.png', ask)
    page.wait_for_timeout(1500)
    if (log.read_bytes() if log.is_file() else None) != before: bad.append(f'{log} changed before the question was answered')
    if bad: return bad
    new.click()
    expect(ask).to_be_hidden(timeout=T(20 * S))
    expect(status).to_contain_text('finished', timeout=T(150 * S))
    made = sorted(p.name for p in runs.iterdir() if p.name.startswith('short-') and (p / 'log.jsonl').is_file())
    FIG['ask'] = {'sentence': sentence, 'new_folders': made}
    print(f'New folder: trained into {made}; status {status.inner_text()!r}')
    if not made: bad.append(f'"New folder" trained into no new folder under {runs}')
    elif m and Path(m.group(1).rstrip('.,;:)')).name not in made:
        bad.append(f'the ask box named {m.group(1)!r}, the run went to {made}')
    if (log.read_bytes() if log.is_file() else None) != before: bad.append(f'{log} changed although the answer was "New folder"')
    return bad


def show(page, lab, nb):
    "Open and run notebook `nb`; the Workbench it shows."
    from playwright.sync_api import expect
    L.open_and_run(page, lab, nb, timeout_ms=T(120 * S))
    wb = page.locator('.peftbench-workbench').first
    expect(wb).to_be_visible(timeout=T(30 * S))
    # the Workbench warms up on a thread (detects the machine, re-estimates, builds the plots): wait for its end, the loss plot
    expect(wb.locator('.peftbench-loss .js-plotly-plot')).to_be_attached(timeout=T(90 * S))
    return wb


def step_rank(page, wb):
    "1. Moving the adapter rank slider changes the VRAM estimate text (to the estimate for the new rank)."
    from playwright.sync_api import expect
    tab = wb.locator('.lm-TabBar-tab', has_text=re.compile(r'^\s*Adapter\s*$'))
    if tab.count(): tab.first.click()
    slider = wb.locator('.peftbench-r')
    expect(slider).to_be_visible()
    readout, total = slider.locator('.widget-readout'), wb.locator('.peftbench-vram-total')
    expect(total).to_contain_text('peak', timeout=T(30 * S))
    r0, v0 = readout.inner_text().strip(), total.inner_text().strip()
    slider.locator('.noUi-handle').focus()
    for _ in range(16): page.keyboard.press('ArrowRight', delay=30)
    _wait_stable(page, '.peftbench-workbench .peftbench-r .widget-readout', quiet=1.0, timeout=30)
    r1 = readout.inner_text().strip()
    assert int(r1) > int(r0), f'the rank slider did not move: {r0} -> {r1}'
    _wait_changed(page, '.peftbench-workbench .peftbench-vram-total', v0, timeout=T(60 * S))
    if re.search(r'\br=\d+', v0):  # the estimate names its rank: wait for the one of the slider's final value
        expect(total).to_contain_text(re.compile(rf'\br={r1}\b'), timeout=T(60 * S))
    v1 = total.inner_text().strip()
    print(f'rank {r0} -> {r1}: {v0!r} -> {v1!r}')
    shot(page, '1-rank.png', total)


def step_train(page, wb):
    "2. Train starts a run whose loss points arrive in the plotly loss plot."
    from playwright.sync_api import expect
    status = wb.locator('.peftbench-run-status')
    button(wb.locator('.peftbench-runpanel'), 'Train').click()
    expect(status).to_contain_text('running', timeout=T(120 * S))
    page.wait_for_function(f'() => ({LOSS_POINTS})() >= 3', timeout=T(150 * S), polling=250)
    n1 = page.evaluate(LOSS_POINTS)
    page.wait_for_function(f'() => ({LOSS_POINTS})() > {n1}', timeout=T(60 * S), polling=250)
    print(f'loss points {n1} -> {page.evaluate(LOSS_POINTS)}')
    shot(page, '2-train.png', wb.locator('.peftbench-loss'))


def step_stop(page, wb, out):
    "3. Stop ends the run with a checkpoint: named in the status, complete on disk in run folder `out`."
    from playwright.sync_api import expect
    status = wb.locator('.peftbench-run-status')
    button(wb.locator('.peftbench-runpanel'), 'Stop').click()
    expect(status).to_contain_text('stopped', timeout=T(120 * S))
    expect(status).to_contain_text(re.compile(r'checkpoint-\d+'), timeout=T(30 * S))
    text = status.inner_text()
    ck = re.search(r'checkpoint-\d+', text).group(0)
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else 'nothing'
    assert (out / ck / 'peftbench-complete.json').is_file(), f'{out / ck} is not a complete checkpoint; the run folder holds {held}'
    print(f'status: {text!r}')
    shot(page, '3-stop.png', status)


def step_compare(page, wb):
    "4. Compare fills both columns, base and adapted, with generated text."
    from playwright.sync_api import expect
    hdr = wb.locator('.jupyter-widget-Collapse-header', has_text='Compare')
    if hdr.count() and not hdr.first.locator('xpath=..').evaluate("n => n.classList.contains('jupyter-widget-Collapse-open')"):
        hdr.first.click()
    go = button(wb, 'Compare')
    expect(go).to_be_visible()
    # the generated text of each prompt: a td's first div (the th is the column's title; a footer with badges follows the text)
    cells = {side: f'.peftbench-workbench td.peftbench-compare-{side} > div:first-child' for side in ('base', 'adapted')}
    before = {side: _texts(page, sel) for side, sel in cells.items()}
    go.click()
    for side, sel in cells.items(): _wait_filled(page, sel, before[side])
    halt = button(wb.locator('.peftbench-comparepanel'), 'Stop')  # enabled while generating
    if halt.count(): expect(halt).to_be_disabled(timeout=T(120 * S))
    _wait_stable(page, ', '.join(cells.values()), quiet=1.0)
    filled = {side: [t for t in _texts(page, sel) if t not in ('', '(nothing)')] for side, sel in cells.items()}
    assert all(filled.values()), f'a compare column stayed empty: {filled}'
    print('compare: ' + ' | '.join(f'{side} {len(t)} cells, e.g. {t[0][:80]!r}' for side, t in filled.items()))
    shot(page, '4-compare.png', page.locator(cells['adapted']).first)


def _texts(page, sel) -> list[str]:
    return page.evaluate("sel => [...document.querySelectorAll(sel)].map(e => e.innerText.trim())", sel)


def button(where, text):
    "The button labelled `text` (its icon aside) inside locator `where`."
    return where.locator('button.widget-button', has_text=re.compile(rf'^\s*{text}\s*$'))


def _wait_changed(page, sel, before, timeout):
    "Wait until the text of the first element matching `sel` differs from `before`."
    page.wait_for_function("([sel, before]) => { const e = document.querySelector(sel); return e && e.innerText.trim() !== before; }",
                           arg=[sel, before], timeout=timeout, polling=250)


def _wait_filled(page, sel, before, timeout=120 * S):
    "Wait until the elements matching `sel` show text, other than `before` (their texts before)."
    timeout = T(timeout)
    page.wait_for_function("""([sel, before]) => { const t = [...document.querySelectorAll(sel)].map(e => e.innerText.trim());
                               return t.some(x => x && x !== '(nothing)') && JSON.stringify(t) !== JSON.stringify(before); }""",
                           arg=[sel, before], timeout=timeout, polling=250)


def _wait_stable(page, sel, quiet=1.5, timeout=90):
    "Wait until the text of the elements matching `sel` stays the same for `quiet` seconds."
    js = "sel => [...document.querySelectorAll(sel)].map(e => e.innerText).join('|')"
    timeout = T(timeout * S) / S
    last, since, end = page.evaluate(js, sel), time.time(), time.time() + timeout
    while time.time() < end:
        page.wait_for_timeout(250)
        now = page.evaluate(js, sel)
        if now != last: last, since = now, time.time()
        elif time.time() - since >= quiet: return
    raise AssertionError(f'{sel} kept changing for {timeout:.0f} s')


def docs_shot(page, el, path):
    "A screenshot of the whole element `el`: hide the side bars and make the window tall enough to show all of it."
    page.evaluate("() => { const a = window.jupyterapp; if (a.shell.leftCollapsed === false) a.commands.execute('application:toggle-left-area'); }")
    h = el.evaluate('e => e.scrollHeight')
    page.set_viewport_size({'width': 1400, 'height': min(max(1000, int(h) + 300), 4000)})
    page.wait_for_timeout(500)  # let the plots resize
    el.scroll_into_view_if_needed()
    el.screenshot(path=str(path))
