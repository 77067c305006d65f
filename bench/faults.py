"""Fault injection counts (issue 13): kill -9, SIGTERM and SIGINT at many points of a pico run, then resume.

    python bench/faults.py     -> bench/results/faults.json

Runs the driver of `tests/test_faults.py` (one process that forks a child per run) and records, per scenario,
how the run was interrupted, what the folder held afterwards, and whether the resumed run ended with the
uninterrupted run's adapter (bit for bit) and a loss curve with each step once.
"""
import json, os, subprocess, sys, tempfile, time
from pathlib import Path

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / 'tests'))
from test_faults import SCENARIOS, STEPS, passed  # noqa: E402

env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false', 'PYTHONWARNINGS': 'ignore'}
t0 = time.time()
with tempfile.TemporaryDirectory() as tmp:
    p = subprocess.run([sys.executable, str(root / 'tests' / 'test_faults.py'), tmp], capture_output=True, text=True, env=env, timeout=1800)
    if p.returncode: sys.exit(p.stderr[-3000:])
    rows = [json.loads(l) for l in p.stdout.splitlines()]
for r in rows: r['passed'] = passed(r)  # judged here as in the test

import peft, transformers, trl, accelerate, torch  # noqa: E402
from peftbench.cli import machine  # noqa: E402
by = lambda key: {k: sum(1 for r in rows if key(r) == k) for k in sorted({key(r) for r in rows})}
out = dict(
    benchmark='fault injection: interrupt a pico LoRA run at an exact point, resume it, compare with an uninterrupted run',
    command='python bench/faults.py', steps=STEPS, save_steps=2, save_total_limit=1,
    scenarios=len(rows), passed=sum(r['passed'] for r in rows), failed=[r['scenario'] for r in rows if not r['passed']],
    by_signal=by(lambda r: r['fault'].split(':')[2]), points=sorted({r['fault'].split(':')[0] for r in rows}),
    resumed_from_checkpoint=sum(1 for r in rows if r['checkpoint_after_fault']), torn_lines_repaired=sum(1 for r in rows if r['repaired']),
    equality='adapter tensors bit for bit (numpy.array_equal) and the per-step loss curve exactly equal to the uninterrupted run',
    seconds=round(time.time() - t0, 1), machine=machine(),
    versions=dict(torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__, trl=trl.__version__, accelerate=accelerate.__version__),
    rows=[{k: r[k] for k in ('scenario', 'fault', 'first_exit', 'traceback_shown', 'state_after_fault', 'checkpoint_after_fault', 'torn_line', 'resume_refused',
                             'end', 'end_step', 'adapter_equal', 'curve_equal', 'checkpoints', 'passed', 'seconds')} for r in rows])
(root / 'bench' / 'results' / 'faults.json').write_text(json.dumps(out, indent=1) + '\n')
print(f"{out['passed']}/{out['scenarios']} scenarios passed in {out['seconds']} s -> bench/results/faults.json")
