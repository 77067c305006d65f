"""Probe the Workbench in a real browser: truncated labels per tab, kernel messages per rank step, long tasks, screenshots.

    python tests/browser/probe.py [--out DIR] [--notebook tests/browser/workbench.ipynb]

Starts JupyterLab (this venv's kernel) and headless Chromium at 1600x1000 (tests/browser/labdriver.py), opens the
Workbench notebook, times it (Workbench visible, memory bar drawn, after its cell starts), clicks every tab (and opens
every accordion on it), and prints JSON:
  timings     {'visible_s', 'bar_s'} after the Workbench cell starts running
  labels      {tab: [{'text', 'class', 'scrollWidth', 'clientWidth', 'why'}]}: visible labels, buttons, toggle buttons,
              selects, tab titles and HTML spans inside .peftbench-workbench that are cut (scrollWidth > clientWidth + 1,
              a select whose chosen text is wider than its box, a span clipped by its box) or a short label that wraps
  rank_step   frames and bytes the kernel sent for one rank-slider step (until 1.5 s of quiet), by message type
  drag        long tasks (> 50 ms, as the browser reports them) while pressing ArrowRight 10 times on the rank slider
  bar         the memory bar's drawn total (SVG segment widths x bytes per unit) against .peftbench-vram-sum[data-bytes], and its terms
Screenshots of every tab go to DIR (default ci-artifacts/browser/probe). tests/test_browser.py uses these functions.
"""
from __future__ import annotations
import argparse, json, re, shutil, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import labdriver as L

VIEW = {'width': 1600, 'height': 1000}
WB = '.peftbench-workbench'

# What a person reads as a label; each is checked when visible. A select is checked by the width of its chosen text.
LABELS = ', '.join(f'{WB} {s}' for s in (
    '.widget-label', 'label', 'button', '.widget-toggle-button', 'select', '.widget-readout', '.lm-TabBar-tab-label',
    '.jupyter-widget-Collapse-header', '.widget-html-content', '.widget-html span', '.widget-html b', '.widget-html code',
    '.widget-inline-hbox .widget-label', '.widget-checkbox label'))

TRUNCATED = """([sel, root]) => {
  const cv = document.createElement('canvas').getContext('2d');
  const visible = e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none' && e.offsetParent !== null; };
  const clipper = e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a); if (/hidden|clip/.test(s.overflowX)) return a; } return null; };
  const textWidth = (e, t) => { const s = getComputedStyle(e); cv.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    return cv.measureText(t).width; };
  const lines = e => {  // lines of text: the tops of the text nodes' boxes, a line apart (icons and padding aside)
    const rg = document.createRange(), tops = [], walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) { if (!n.textContent.trim()) continue;
      rg.selectNodeContents(n); for (const r of rg.getClientRects()) if (r.width > 0) tops.push(r.top); }
    tops.sort((a, b) => a - b); const gap = 0.6 * parseFloat(getComputedStyle(e).fontSize);
    return tops.length ? 1 + tops.slice(1).filter((t, i) => t - tops[i] > gap).length : 0; };
  const out = [], seen = new Set();
  for (const e of document.querySelectorAll(sel)) {
    if (seen.has(e) || !visible(e)) continue; seen.add(e);
    const s = getComputedStyle(e);
    let text = (e.tagName === 'SELECT' ? (e.selectedOptions[0] || {}).text || '' : e.innerText || '').trim();
    if (!text && e.tagName === 'BUTTON') text = e.title || e.getAttribute('aria-label') || '';
    if (!text) continue;
    const cls = (typeof e.className === 'string' ? e.className : '').slice(0, 120);
    const rec = why => out.push({text: text.slice(0, 120), class: cls,
      tag: e.tagName.toLowerCase(), scrollWidth: e.scrollWidth, clientWidth: e.clientWidth, why});
    if (e.tagName === 'SELECT') {
      const pad = parseFloat(s.paddingLeft) + parseFloat(s.paddingRight);
      const need = textWidth(e, text) + pad;
      if (need > e.clientWidth + 1) rec(`chosen text needs ${Math.ceil(need)} px of ${e.clientWidth}`);
      continue;
    }
    if (s.display.startsWith('inline') && s.display !== 'inline-block' && s.display !== 'inline-flex') {  // a span: clipped by its box?
      const c = clipper(e); if (!c) continue;
      const r = e.getBoundingClientRect(), b = c.getBoundingClientRect();
      if (lines(e) === 1 && (r.right > b.right + 1 || r.left < b.left - 1) && c.scrollWidth > c.clientWidth + 1)
        rec(`clipped by its box (${Math.round(r.right - b.left)} px of ${Math.round(b.width)})`);
      continue;
    }
    if (e.scrollWidth > e.clientWidth + 1 && !/auto|scroll/.test(s.overflowX)) { rec('cut'); continue; }
    // a short label or button that wraps onto a second line (e.g. "grad accumulation" over two lines)
    if (!e.classList.contains('widget-html-content') && text.length <= 40 && !/\\n/.test(text) && lines(e) > 1) rec('wraps');
  }
  return out; }"""

TABS = f"() => [...document.querySelectorAll('{WB} .lm-TabBar-tab')].map(t => t.innerText.trim())"


def truncated(page) -> list[dict]:
    "Every visible label in the Workbench that is cut, clipped or wrapped, with its text, class and widths."
    return page.evaluate(TRUNCATED, [LABELS, WB])


PLANT = f"""() => {{ const box = document.createElement('div'); box.id = 'pb-plant';
  box.innerHTML = '<button class="widget-button" style="width:40px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis">planted cut</button>'
    + '<label style="display:block;width:70px;white-space:normal">planted wraps</label>'
    + '<select style="width:50px"><option>planted narrow select</option></select>'
    + '<div class="widget-html" style="width:60px;overflow:hidden;white-space:nowrap"><span>planted clipped span</span></div>';
  document.querySelector('{WB}').prepend(box); }}"""


def self_check(page) -> list[str]:
    "Plant a cut button, a wrapping label and a narrow select in the Workbench: the names of those `truncated` misses."
    page.evaluate(PLANT)
    try: found = {(x['text'], x['why'].split()[0]) for x in truncated(page)}
    finally: page.evaluate("() => document.getElementById('pb-plant').remove()")
    return [t for t in (('planted cut', 'cut'), ('planted wraps', 'wraps'), ('planted narrow select', 'chosen'),
                                ('planted clipped span', 'clipped')) if t not in found]


def open_accordions(page, within: str):
    "Open every closed accordion (Collapse) that is visible inside `within`, so its labels are visible too."
    for _ in range(3):
        closed = page.locator(f'{within} .jupyter-widget-Collapse:not(.jupyter-widget-Collapse-open) > .jupyter-widget-Collapse-header')
        n = 0
        for i in range(closed.count()):
            h = closed.nth(i)
            if h.is_visible(): h.click(); n += 1
        if not n: return
        page.wait_for_timeout(200)


def tab_names(page) -> list[str]: return page.evaluate(TABS)


def click_tab(page, name: str):
    tab = page.locator(f'{WB} .lm-TabBar-tab', has_text=re.compile(rf'^\s*{re.escape(name)}\s*$'))
    tab.first.click()
    page.wait_for_function("n => { const t = [...document.querySelectorAll('.peftbench-workbench .lm-TabBar-tab.lm-mod-current')];"
                           " return t.some(x => x.innerText.trim() === n); }", arg=name, timeout=10_000)
    filled(page, '.widget-tab')  # a tab's form is built when it is first opened
    page.wait_for_timeout(300)  # let the tab lay out


def filled(page, within: str, timeout_ms: float = 15_000):
    "Wait until the open slot inside `within` holds its panel (the Workbench builds tabs and the code panel on first opening)."
    page.wait_for_function("w => [...document.querySelectorAll(`.peftbench-workbench ${w} .peftbench-slot`)].some(s =>"
                           " s.checkVisibility() && s.children.length > 0 && s.getBoundingClientRect().height > 20)",
                           arg=within, timeout=timeout_ms)


def shoot(page, path: Path):
    "A 1600x1000 screenshot with the Workbench's top in view."
    page.locator(WB).first.evaluate('e => e.scrollIntoView({block: "start"})')
    page.wait_for_timeout(150)
    page.screenshot(path=str(path))


def hide_sidebar(page):
    page.evaluate("() => { const a = window.jupyterapp;"
                  " if (a.shell.leftCollapsed === false) a.commands.execute('application:toggle-left-area'); }")


def per_tab(page, out: Path | None = None, prefix: str = 'tab') -> dict:
    "Click every tab (opening its accordions) and the Compare / Code accordions; the truncated labels of each; screenshots."
    found = {}
    hide_sidebar(page)
    for i, name in enumerate(tab_names(page)):
        click_tab(page, name)
        open_accordions(page, f'{WB} .widget-tab')
        found[name] = truncated(page)
        if out: shoot(page, out / f'{prefix}-{i + 1}-{_slug(name)}.png')
    # the sections below the tabs: Compare and Code (an accordion; one open at a time)
    for title in ('Compare', 'Code and recipe'):
        hdr = page.locator(f'{WB} .jupyter-widget-Collapse-header', has_text=re.compile(rf'^\s*{re.escape(title)}\s*$'))
        if not hdr.count(): continue
        if not hdr.first.locator('xpath=..').evaluate("n => n.classList.contains('jupyter-widget-Collapse-open')"): hdr.first.click()
        filled(page, '.jupyter-widget-Accordion')  # built on first opening
        page.wait_for_timeout(300)
        if title == 'Code and recipe':
            show = page.locator(f'{WB} .widget-toggle-button', has_text='Show code')
            if show.count() and show.first.is_visible(): show.first.click(); page.wait_for_timeout(800)
        found[title] = truncated(page)
        if out:
            hdr.first.evaluate('e => e.scrollIntoView({block: "start"})'); page.wait_for_timeout(150)
            page.screenshot(path=str(out / f'{prefix}-{_slug(title)}.png'))
    # back to one view: the code hidden (it re-renders on every change), Compare open, the first tab
    show = page.locator(f'{WB} .widget-toggle-button.mod-active', has_text='Show code')
    if show.count() and show.first.is_visible(): show.first.click()
    hdr = page.locator(f'{WB} .jupyter-widget-Collapse-header', has_text=re.compile(r'^\s*Compare\s*$'))
    if hdr.count() and not hdr.first.locator('xpath=..').evaluate("n => n.classList.contains('jupyter-widget-Collapse-open')"):
        hdr.first.click()
    names = tab_names(page)
    if names: click_tab(page, names[0])
    return found


def _slug(s): return re.sub(r'[^a-z0-9]+', '-', s.lower()).strip('-')


# ---- kernel messages ------------------------------------------------------------------------------------------------

def _decode(payload, content: bool = False) -> tuple:
    "(channel, msg_type[, content]) of a kernel websocket frame: JSON text, or the v1 binary protocol (offsets, channel, header, ...)."
    try:
        if isinstance(payload, str):
            m = json.loads(payload)
            return (m.get('channel', ''), m.get('header', {}).get('msg_type', '')) + ((m.get('content'),) if content else ())
        b = bytes(payload)
        n = int.from_bytes(b[:8], 'little')
        off = [int.from_bytes(b[8 + 8 * i:16 + 8 * i], 'little') for i in range(n)]
        head = (b[off[0]:off[1]].decode(), json.loads(b[off[1]:off[2]]).get('msg_type', ''))
        return head + ((json.loads(b[off[4]:off[5]]),) if content else ())
    except Exception: return ('?', '?') + ((None,) if content else ())


def _what(payload) -> str:
    "What a frame the page sends is: its msg_type, and for a widget update the names it sets (e.g. comm_msg:value)."
    _, t, c = _decode(payload, content=True)
    d = (c or {}).get('data') or {}
    keys = sorted((d.get('state') or {}).keys()) if isinstance(d, dict) else []
    return f"{t}:{','.join(keys)}" if keys else (f"{t}:{d.get('method')}" if isinstance(d, dict) and d.get('method') else t)


class Frames:
    "Frames the kernel's websocket delivers to the page (time, bytes, channel, msg_type)."
    def __init__(self, page):
        self.frames, self.sent = [], []
        page.on('websocket', self._ws)

    def _ws(self, ws):
        if '/api/kernels/' not in ws.url: return
        ws.on('framereceived', lambda p: self.frames.append((time.time(), len(p), *_decode(p))))
        ws.on('framesent', lambda p: self.sent.append((time.time(), len(p), _what(p))))

    def quiet(self, page, s: float = 1.5, timeout: float = 30, since: float | None = None) -> bool:
        "Wait until no frame arrived for `s` seconds (True) or `timeout` passed (False); with `since`, first for a frame after it."
        end = time.time() + timeout
        while since is not None and time.time() < min(end, since + 10) and not (self.frames and self.frames[-1][0] >= since):
            page.wait_for_timeout(50)  # a busy kernel may answer later than `s`
        while time.time() < end:
            last = self.frames[-1][0] if self.frames else 0
            if time.time() - last >= s: return True
            page.wait_for_timeout(100)
        return False

    def since(self, t0: float) -> dict:
        fs = [f for f in self.frames if f[0] >= t0]
        kinds = {}
        for f in fs: kinds[f[3]] = kinds.get(f[3], 0) + 1
        sent = {}
        for f in self.sent:
            if f[0] >= t0: sent[f[2]] = sent.get(f[2], 0) + 1
        return {'frames': len(fs), 'bytes': sum(f[1] for f in fs), 'comm_msg': kinds.get('comm_msg', 0), 'by_type': kinds,
                'page_sent': sent}


def rank_handle(page):
    from playwright.sync_api import expect
    names = tab_names(page)
    if 'Adapter' in names: click_tab(page, 'Adapter')
    h = page.locator(f'{WB} .peftbench-r .noUi-handle').first
    expect(h).to_be_visible(timeout=15_000)
    return h


def rank_step(page, frames: Frames) -> dict:
    "One ArrowRight on the rank slider: what the kernel sends back until 1.5 s of quiet."
    h = rank_handle(page)
    readout = page.locator(f'{WB} .peftbench-r .widget-readout').first
    h.focus()
    frames.quiet(page, 1.5, 30)
    r0, t0 = readout.inner_text().strip(), time.time()
    page.keyboard.press('ArrowRight')
    frames.quiet(page, 1.5, 30, since=t0)
    return {'rank': [r0, readout.inner_text().strip()], **frames.since(t0)}


LONGTASKS = """() => { window.__pbLong = []; window.__pbObs && window.__pbObs.disconnect();
  window.__pbObs = new PerformanceObserver(l => { for (const e of l.getEntries()) window.__pbLong.push(Math.round(e.duration)); });
  window.__pbObs.observe({type: 'longtask'}); }"""


def drag(page, frames: Frames, steps: int = 10, delay_ms: int = 100) -> dict:
    "Press ArrowRight `steps` times on the rank slider (as a drag would); long tasks meanwhile and until the page is quiet."
    h = rank_handle(page)
    frames.quiet(page, 1.5, 30)
    h.focus()
    page.evaluate(LONGTASKS)
    t0 = time.time()
    for _ in range(steps): page.keyboard.press('ArrowRight'); page.wait_for_timeout(delay_ms)
    frames.quiet(page, 1.5, 60, since=t0)
    page.wait_for_timeout(300)  # long tasks are reported after they end
    long = page.evaluate('() => window.__pbLong')
    return {'steps': steps, 'long_tasks_ms': long, 'longest_ms': max(long, default=0), 'seconds': round(time.time() - t0, 2),
            **frames.since(t0)}


# ---- the memory bar -------------------------------------------------------------------------------------------------

BAR = f"""() => {{
  const bars = [...document.querySelectorAll('{WB} .peftbench-vram-plot svg.peftbench-bar')];
  const svg = bars[0], sum = document.querySelector('{WB} .peftbench-vram-total .peftbench-vram-sum');
  const out = {{plots: bars.length, sum_bytes: sum ? Number(sum.dataset.bytes) : null, sum_text: sum ? sum.innerText : null,
               legend: [...document.querySelectorAll('{WB} .peftbench-vram-plot .peftbench-bar-key')].map(e => e.dataset.term)}};
  if (!svg) return out;
  out.scale = Number(svg.dataset.bytesPerUnit);
  out.traces = [...svg.querySelectorAll('rect[data-term]')].map(r => ({{name: r.dataset.term, row: r.dataset.row,
      width: r.width.baseVal.value, bytes: Number(r.dataset.bytes), shown: r.getBoundingClientRect().width}}));
  out.drawn = out.traces.length;
  return out; }}"""


def bar(page) -> dict:
    "The memory bar as drawn: its estimate row's total in bytes (the segments' widths times the bytes per SVG unit) and names."
    b = page.evaluate(BAR)
    total, names = 0.0, []
    for t in b.get('traces') or []:
        if t['row'] != 'estimate': continue
        total += t['width'] * (b.get('scale') or 0)
        names.append(t['name'])
    if b.get('traces') and not b.get('scale'): b['error'] = 'the bar has no data-bytes-per-unit scale'
    b['drawn_bytes'], b['names'] = total, names
    b['repeated'] = sorted({n for n in names if names.count(n) > 1})
    if b.get('sum_bytes'): b['off'] = total / b['sum_bytes'] - 1
    return b


DRAWN = f"() => {{ const s = document.querySelector('{WB} .peftbench-vram-plot svg.peftbench-bar'); return !!s && s.querySelectorAll('rect[data-term]').length > 0; }}"


def bar_drawn(page, timeout_ms: float = 90_000):
    page.wait_for_function(DRAWN, timeout=timeout_ms, polling=100)


# ---- opening the notebook, timed ----------------------------------------------------------------------------------

WATCH = f"""() => {{ const t0 = performance.now(); window.__pbT = {{}};
  const tick = () => {{ const w = document.querySelector('{WB}');
    if (w && !window.__pbT.visible && w.getBoundingClientRect().height > 0) window.__pbT.visible = (performance.now() - t0) / 1000;
    if (!window.__pbT.bar && ({DRAWN})()) window.__pbT.bar = (performance.now() - t0) / 1000;
    if (!(window.__pbT.visible && window.__pbT.bar)) setTimeout(tick, 25); }};
  tick(); }}"""


def open_timed(page, lab, name: str, timeout_ms: float = 150_000, bar_ms: float = 120_000) -> dict:
    "Run notebook `name`'s cells but the last, then the last (the Workbench), timed: seconds to visible and to the bar (None: never)."
    page.goto(lab.notebook_url(name), wait_until='domcontentloaded', timeout=timeout_ms)
    page.wait_for_function(L.KERNEL_IDLE, arg=name, timeout=timeout_ms, polling=250)
    t = time.time()
    page.evaluate(f"""name => {{ const w = ({L.NOTEBOOK})(name); w.content.activeCellIndex = w.content.widgets.length - 1;
                      return window.jupyterapp.commands.execute('notebook:run-all-above'); }}""", name)
    page.wait_for_function(f"""name => {{ const w = ({L.NOTEBOOK})(name); const k = w.sessionContext.session.kernel;
        const cells = w.content.widgets.filter(c => c.model.type === 'code'); if (k.status !== 'idle') return false;
        return cells.slice(0, -1).every(c => /^\\[\\d+\\]:$/.test(c.node.querySelector('.jp-InputPrompt').textContent.trim())); }}""",
                           arg=name, timeout=timeout_ms, polling=250)
    above = time.time() - t
    page.evaluate(WATCH)
    t = time.time()
    run = f"""name => {{ const w = ({L.NOTEBOOK})(name); w.content.activeCellIndex = w.content.widgets.length - 1;
                      return window.jupyterapp.commands.execute('notebook:run-cell'); }}"""
    prompt = f"""name => {{ const w = ({L.NOTEBOOK})(name); const c = w.content.widgets[w.content.widgets.length - 1];
                         return c.node.querySelector('.jp-InputPrompt').textContent.trim(); }}"""
    page.evaluate(run, name)
    for _ in range(3):  # the command can be lost while the lab settles: run the cell again if it never started
        try: page.wait_for_function(f"name => ({prompt})(name) !== '[ ]:'", arg=name, timeout=10_000, polling=100); break
        except Exception: page.evaluate(run, name)
    try: page.wait_for_function("() => window.__pbT.visible && window.__pbT.bar", timeout=min(timeout_ms, bar_ms), polling=100)
    except Exception as e:
        vram = page.evaluate(f"""() => {{ const v = document.querySelector('{WB} .peftbench-vram-total');
            const svg = document.querySelector('{WB} .peftbench-vram-plot svg.peftbench-bar');
            return {{text: v ? v.innerText.slice(0, 300) : null, figure: !!svg, traces: svg ? svg.querySelectorAll('rect[data-term]').length : null,
                    loss_plot: !!document.querySelector('{WB} .peftbench-loss .js-plotly-plot')}}; }}""")
        tm = page.evaluate('() => window.__pbT')
        why = (f"the Workbench was not shown with its bar within {min(timeout_ms, bar_ms) / 1000:.0f} s: {tm}, last cell {page.evaluate(prompt, name)!r},"
               f" memory panel {vram}; {L.error_outputs(page)}")
        if not tm.get('visible'): raise AssertionError(why) from e
        return {'cells_above_s': round(above, 2), 'visible_s': round(tm['visible'], 2), 'bar_s': None, 'bar_error': why,
                'wall_s': round(time.time() - t, 2)}
    errs = L.error_outputs(page)
    if errs: raise AssertionError(f'a cell of {name} failed:\n' + '\n---\n'.join(errs))
    tm = page.evaluate('() => window.__pbT')
    return {'cells_above_s': round(above, 2), 'visible_s': round(tm['visible'], 2), 'bar_s': round(tm['bar'], 2),
            'wall_s': round(time.time() - t, 2)}


def wait_warm(page, timeout_ms: float = 90_000):
    "The Workbench warms up on a thread (machine, estimate, figures): wait for the loss plot, its last figure."
    page.wait_for_function(f"() => !!document.querySelector('{WB} .peftbench-loss .js-plotly-plot')", timeout=timeout_ms, polling=200)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default='ci-artifacts/browser/probe', help='folder for the screenshots (default %(default)s)')
    ap.add_argument('--notebook', default=str(HERE / 'workbench.ipynb'), help='the notebook that shows the Workbench')
    a = ap.parse_args(argv)
    nb = Path(a.notebook)
    if not nb.is_file(): sys.exit(f'{nb} does not exist: pass --notebook PATH of a notebook whose last cell shows a Workbench')
    if not Path(L.CHROMIUM).is_file(): sys.exit(f'{L.CHROMIUM} is missing: apt-get install chromium (or set PEFTBENCH_CHROMIUM)')
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix='peftbench-probe-'))
    root, home = tmp / 'root', tmp / 'home'; root.mkdir(); home.mkdir()
    shutil.copy(nb, root / nb.name)
    lab = L.Lab(root, home, log=out / 'jupyterlab.log').start()
    res = {}
    try:
        with sync_playwright() as pw:
            b = L.launch(pw)
            page = b.new_context(viewport=VIEW, device_scale_factor=1).new_page()
            page.set_default_timeout(60_000)
            con = L.Console(page)
            frames = Frames(page)
            try:
                res['timings'] = open_timed(page, lab, nb.name)
                wait_warm(page)
                res['bar'] = bar(page)
                res['rank_step'] = rank_step(page, frames)  # the default view (Compare and Code closed)
                res['drag'] = drag(page, frames)
                res['labels_missed_in_self_check'] = self_check(page)
                res['labels'] = per_tab(page, out)
                res['errors'] = con.uncaught() + L.error_outputs(page)
            except BaseException:
                page.screenshot(path=str(out / 'failed.png')); print(f'what the page showed: {out / "failed.png"}', file=sys.stderr)
                raise
            b.close()
    finally:
        lab.stop(); shutil.rmtree(tmp, ignore_errors=True)
    res['seconds'] = round(time.time() - t0, 1)
    print(json.dumps(res, indent=1, default=str))


if __name__ == '__main__': main()
