"""The Workbench in a real browser: JupyterLab on 127.0.0.1, headless Debian Chromium driven by Playwright.

`test_lab_harness` checks the plumbing alone (kernel = this venv's python, an ipywidgets round trip, a plotly
FigureWidget fed from a thread); `test_workbench` runs tests/browser/workbench.ipynb and drives the Workbench as a
person would: rank slider -> VRAM estimate, Train -> loss points, Stop -> checkpoint, Compare -> both columns.
Screenshots go to $CI_ARTIFACTS/browser/ (default ci-artifacts/browser/); workbench.png is the one for the docs.
"""
import os, re, shutil, sys, time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE / 'browser'))
import labdriver as L  # noqa: E402

IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
ART = Path(os.environ.get('CI_ARTIFACTS', 'ci-artifacts'))
ART = (ART if ART.is_absolute() else REPO / ART) / 'browser'
S = 1000  # ms
BUDGET = {'test_lab_harness': 50, 'test_workbench': 170}  # s per test (plus ~10 s to start the server): the file stays under 4 minutes
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
def lab(tmp_path_factory):
    _need_browser()
    root, home = tmp_path_factory.mktemp('labroot'), tmp_path_factory.mktemp('labhome')
    for nb in (HERE / 'browser').glob('*.ipynb'): shutil.copy(nb, root / nb.name)
    ART.mkdir(parents=True, exist_ok=True)
    server = L.Lab(root, home, log=ART / 'jupyterlab.log').start()
    yield server
    server.stop()


@pytest.fixture(scope='module')
def browser(lab):
    from playwright.sync_api import sync_playwright
    pw = sync_playwright().start()
    b = L.launch(pw)
    yield b
    b.close(); pw.stop()


@pytest.fixture
def page(browser, lab, request):
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000}, device_scale_factor=1)
    p = ctx.new_page()
    p.set_default_timeout(60 * S)
    p.console = L.Console(p)
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
                           " return gd && gd.data && gd.data[0].x.length === 20; }", timeout=T(60 * S))
    shot(page, 'harness.png', page.locator('.smoke-plot'))
    check_clean(page, lab)


LOSS_POINTS = "() => { const gd = document.querySelector('.peftbench-workbench .peftbench-loss .js-plotly-plot'); return gd && gd.data && gd.data[0] && gd.data[0].x ? gd.data[0].x.length : -1; }"


def test_workbench(page, lab):
    "The four things issue 6 asks a person to see: rank -> VRAM text, Train -> loss, Stop -> checkpoint, Compare -> text."
    t0 = time.time()
    wb = show(page, lab, 'workbench.ipynb')
    print(f'\nworkbench shown and warmed up after {time.time() - t0:.1f} s')
    step_rank(page, wb); print(f'1. rank slider -> VRAM text ({time.time() - t0:.1f} s)')
    step_train(page, wb); print(f'2. Train -> loss points ({time.time() - t0:.1f} s)')
    step_stop(page, wb, lab.root / 'runs' / 'workbench'); print(f'3. Stop -> checkpoint ({time.time() - t0:.1f} s)')
    step_compare(page, wb); print(f'4. Compare -> both columns ({time.time() - t0:.1f} s)')
    docs_shot(page, wb, ART / 'workbench.png')
    check_clean(page, lab)
    print(f'workbench test took {time.time() - t0:.1f} s')


def show(page, lab, nb):
    "Open and run notebook `nb`; the Workbench it shows."
    from playwright.sync_api import expect
    L.open_and_run(page, lab, nb, timeout_ms=T(120 * S))
    wb = page.locator('.peftbench-workbench')
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
