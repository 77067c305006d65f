"""How fast does the Workbench appear, and what does one slider step cost? -> bench/results/workbench_start.json

    python bench/workbench_start.py [--repeats 5]

Start-up: for each repeat a fresh kernel (the venv's python) is started, then one cell is executed:

    from peftbench import Workbench
    wb = Workbench()
    wb

and we time, from the moment the cell is sent: (1) `display`: the cell's display_data (the widget view) has
arrived, (2) `cell`: the kernel is idle again, (3) `bar`: the memory bar's figure holds the estimate
(`wb.vram.drawn`, read with a second cell), (4) `ready`: the deferred work (plotly for the figures, torch to
detect the GPU) has finished. Targets (issue 16): visible within 1 s, the bar drawn within 2 s, on a quiet
2-core machine. Kernel start-up is not counted: it happens before a user runs any cell. The load average is
recorded: on a busy machine the figures are slower.

Per change (in this process, headless): one rank-slider step as the browser sends it (`set_state`), on the
pico recipe (fits) and on Llama-3.1-8B (does not fit: three suggestions): the main thread's time per step
(what delays the next message from the browser), the memory panel's throttled redraw (estimate, largest batch,
suggestions, figure update; on a timer thread), and the messages and bytes the widgets send for the step.
"""
import argparse, json, os, platform, statistics, sys, time
from pathlib import Path

CELL = 'from peftbench import Workbench\nwb = Workbench()\nwb'


def once(timeout=120):
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name='python3')
    try:
        kc.execute('import sys; print(sys.executable)'); _drain(kc, timeout)
        t0 = time.perf_counter(); msg_id = kc.execute(CELL)
        shown = idle = None; err = None
        while idle is None:
            m = kc.get_iopub_msg(timeout=timeout)
            if m['parent_header'].get('msg_id') != msg_id: continue
            t = m['msg_type']
            if t in ('display_data', 'execute_result') and shown is None: shown = time.perf_counter() - t0
            if t == 'error': err = m['content']['evalue']
            if t == 'status' and m['content']['execution_state'] == 'idle': idle = time.perf_counter() - t0
        if err: raise RuntimeError(err)
        kc.execute('wb.vram.drawn.wait(120)'); _drain(kc, timeout)
        bar = time.perf_counter() - t0
        kc.execute('wb.ready.wait(120)'); _drain(kc, timeout)
        ready = time.perf_counter() - t0
        return dict(display=round(shown, 3), cell=round(idle, 3), bar=round(bar, 3), ready=round(ready, 3))
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)


def _drain(kc, timeout):
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle': return


def per_change(steps=30) -> dict:
    "Main-thread time, redraw time and widget messages for one rank-slider step, on a recipe that fits and one that does not."
    from peftbench.recipe import Hardware
    from peftbench.workbench import Workbench
    from peftbench.ui import settle
    wb = Workbench(hw=Hardware()); wb.ready.wait(120); settle()
    sl, out = wb.forms['Adapter'].r, {}
    for model in ('pico', 'meta-llama/Llama-3.1-8B'):
        wb.state.set('model.name', model); settle()
        main, sizes = [], []
        for i in range(steps):
            n, size, dt = _traffic(lambda: sl.set_state({'value': 8 + i % 2 * 8}), settle)  # noqa: B023 (called at once)
            main.append(dt); sizes.append((n, size))
        redraw = []
        for i in range(steps):
            wb.state.set('adapter.r', 4 + i); t = time.perf_counter(); wb.vram._t.flush(); redraw.append(time.perf_counter() - t)
        ms = lambda xs: dict(median=round(statistics.median(xs) * 1e3, 1), max=round(max(xs) * 1e3, 1))
        out[model] = dict(main_thread_ms=ms(main), redraw_ms=ms(redraw), messages=max(n for n, _ in sizes), bytes=max(b for _, b in sizes))
        print(model, out[model])
    return out


def _traffic(fn, settle) -> tuple[int, int, float]:
    "(messages, bytes) the widgets send while `fn()` runs and the throttled updates finish, and `fn`'s own seconds."
    import ipywidgets as W
    log, send, open_ = [], W.Widget._send, W.Widget.open
    W.Widget._send = lambda self, msg, buffers=None: (log.append(len(json.dumps(msg, default=str))), send(self, msg, buffers))[1]
    W.Widget.open = lambda self: (log.append(len(json.dumps(self.get_state(), default=str))), open_(self))[1]
    try:
        t = time.perf_counter(); fn(); dt = time.perf_counter() - t
        settle()
    finally: W.Widget._send, W.Widget.open = send, open_
    return len(log), sum(log), dt


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--repeats', type=int, default=5); a = ap.parse_args()
    import peftbench, torch, transformers, ipywidgets, plotly
    load = os.getloadavg()
    runs = [once() for _ in range(a.repeats)]
    for r in runs: print(r)
    med = {k: statistics.median(r[k] for r in runs) for k in ('display', 'cell', 'bar', 'ready')}
    changes = per_change()
    out = dict(bench='workbench_start', cell=CELL, repeats=runs, median=med, target_display_seconds=1.0, target_bar_seconds=2.0,
               meets_target=med['display'] < 1.0 and med['bar'] < 2.0, per_change=changes,
               per_change_budget=dict(messages=8, bytes=15000, note='kernel-sent widget messages per step, headless; the browser '
                                      "answers a plotly update with one more small message"),
               machine=dict(platform=platform.platform(), python=sys.version.split()[0], cpus=os.cpu_count(), gpu=None,
                            load_average_before=[round(x, 2) for x in load], load_average_after=[round(x, 2) for x in os.getloadavg()]),
               versions=dict(peftbench=peftbench.__version__, torch=torch.__version__, transformers=transformers.__version__,
                             ipywidgets=ipywidgets.__version__, plotly=plotly.__version__),
               when=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    p = Path(__file__).parent / 'results' / 'workbench_start.json'
    p.write_text(json.dumps(out, indent=1)); print('median', med, '->', p)


if __name__ == '__main__': main()
