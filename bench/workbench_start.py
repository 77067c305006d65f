"""How fast does the Workbench appear? Time a notebook cell `Workbench()` in a real Jupyter kernel.

    python bench/workbench_start.py [--repeats 5]   # -> bench/results/workbench_start.json

For each repeat a fresh kernel (the venv's python) is started, then one cell is executed:

    from peftbench import Workbench
    wb = Workbench()
    wb

and we time, from the moment the cell is sent: (1) `display`: the cell's display_data (the widget view) has
arrived, (2) `cell`: the kernel is idle again (the cell has finished: what the user waits for), and (3) `ready`:
the deferred work (torch import to detect the GPU, plotly import and the live figures) has finished, read with a
second cell `wb.ready.wait()`. Target (issue 6): the cell returns within 2 s on a 2-core machine. Kernel start-up
is not counted: it happens before a user runs any cell.
"""
import argparse, json, os, platform, queue, statistics, sys, time
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
        kc.execute('wb.ready.wait(120)'); _drain(kc, timeout)
        ready = time.perf_counter() - t0
        return dict(display=round(shown, 3), cell=round(idle, 3), ready=round(ready, 3))
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)


def _drain(kc, timeout):
    while True:
        m = kc.get_iopub_msg(timeout=timeout)
        if m['msg_type'] == 'status' and m['content']['execution_state'] == 'idle': return


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--repeats', type=int, default=5); a = ap.parse_args()
    import peftbench, torch, transformers, ipywidgets, plotly
    runs = [once() for _ in range(a.repeats)]
    for r in runs: print(r)
    med = {k: statistics.median(r[k] for r in runs) for k in ('display', 'cell', 'ready')}
    out = dict(bench='workbench_start', cell=CELL, repeats=runs, median=med, target_cell_seconds=2.0, meets_target=med['cell'] < 2.0,
               machine=dict(platform=platform.platform(), python=sys.version.split()[0], cpus=os.cpu_count(), gpu=None),
               versions=dict(peftbench=peftbench.__version__, torch=torch.__version__, transformers=transformers.__version__,
                             ipywidgets=ipywidgets.__version__, plotly=plotly.__version__),
               when=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
    p = Path(__file__).parent / 'results' / 'workbench_start.json'
    p.write_text(json.dumps(out, indent=1)); print('median', med, '->', p)


if __name__ == '__main__': main()
