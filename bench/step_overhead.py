"""What does peftbench add to each training step? The demo recipe on pico, through `Run.train` and through a plain TRL
`SFTTrainer` script with the same settings, alternating in one process.

    python bench/step_overhead.py [--steps 60] [--rounds 3]     -> bench/results/step_overhead.json

Two measures:
- `hooks_ms_per_step`: the wall time spent inside peftbench's own per-step code (its Trainer callback: events, the log file,
  stop/pause checks; its subscribers), timed around each call and divided by the steps. This is what peftbench adds to a step
  that the plain script does not do; the target (issue 17) is under 2 ms.
- `ms_per_step`: the median time between consecutive step ends, each variant (steps 6 onwards, so the warm-up is left out).
  The difference between the two variants also holds TRL/Trainer settings that differ (peftbench's recipe picks them); on pico
  a step is ~100-300 ms of compute on two CPU cores, so that difference is noisy and the hook time is the precise figure.
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path

from transformers import TrainerCallback

from peftbench.cli import machine, quiet
from peftbench.pico import demo_recipe
from peftbench.recipe import Hardware
from peftbench.train import Run

sys.path.insert(0, str(Path(__file__).parent))
from _plain import plain_trainer
from _versions import versions

ap = argparse.ArgumentParser(); ap.add_argument('--steps', type=int, default=60); ap.add_argument('--rounds', type=int, default=3)
a = ap.parse_args()
quiet()
tmp = tempfile.mkdtemp()
SKIP = 5  # warm-up steps left out of the step times


class StepClock(TrainerCallback):
    "The time of every step end."
    def __init__(self): self.t = []
    def on_step_end(self, args, state, control, **kw): self.t.append(time.perf_counter())
    def ms(self) -> float: d = [b - a for a, b in zip(self.t[SKIP:], self.t[SKIP + 1:])]; return 1000 * statistics.median(d)


def plain(i):
    "The plain library path: the demo's model, adapter and hyperparameters, written with TRL alone (fp32 on the CPU, as peftbench picks)."
    clock = StepClock()
    plain_trainer(f'{tmp}/plain{i}', a.steps, callbacks=[clock]).train()
    return {'ms_per_step': round(clock.ms(), 2)}


def timed(fn, acc):
    "`fn`, adding the wall time of each call to `acc[0]`."
    def go(*args, **kw):
        t = time.perf_counter()
        try: return fn(*args, **kw)
        finally: acc[0] += time.perf_counter() - t
    return go


def workbench(i):
    "peftbench's Run on the main thread, with a UI-like subscriber; its own callback and subscriber timed."
    r = demo_recipe(f'{tmp}/run{i}', steps=a.steps)
    r.training.save_steps = 10 * a.steps  # no intermediate checkpoints, as in the plain script
    run = Run(r, Hardware())
    seen, spent = [], [0.0]
    run.subscribe(timed(seen.append, spent))
    run.prepare()
    ours = [c for c in run.trainer.callback_handler.callbacks if type(c).__module__.startswith('peftbench')]
    assert ours, 'found no peftbench callback to time'
    for c in ours:
        for name in ('on_train_begin', 'on_log', 'on_step_end', 'on_save', 'on_step_begin', 'on_evaluate'):
            if name in type(c).__dict__: setattr(c, name, timed(getattr(c, name), spent))
    clock = StepClock()
    run.trainer.add_callback(clock)
    run.train()
    steps = run.trainer.state.global_step
    return {'ms_per_step': round(clock.ms(), 2), 'hooks_ms_per_step': round(1000 * spent[0] / steps, 4)}


VARIANTS = {'plain': plain, 'peftbench_train': workbench}
res = {k: [] for k in VARIANTS}
plain(-1)  # warm-up: imports, allocator, kernels
for i in range(a.rounds):
    for name in (VARIANTS if i % 2 == 0 else list(VARIANTS)[::-1]):
        res[name].append(VARIANTS[name](i))
        print(name, res[name][-1], flush=True)
med = {k: statistics.median(x['ms_per_step'] for x in v) for k, v in res.items()}
hooks = statistics.median(x['hooks_ms_per_step'] for x in res['peftbench_train'])
out = dict(benchmark="peftbench's own per-step work; step times of Run.train vs a plain TRL SFTTrainer script (same recipe, alternating)",
           command=f'python bench/step_overhead.py --steps {a.steps} --rounds {a.rounds}',
           model='pico (LoRA r=16 all-linear, batch 16 x <=64 tokens), CPU fp32', steps_per_run=a.steps, runs=res,
           median_ms_per_step=med, hooks_ms_per_step=round(hooks, 4), target_hooks_ms_per_step=2.0, meets_target=hooks < 2.0,
           step_time_ratio_peftbench_over_plain=round(med['peftbench_train'] / med['plain'], 4),
           machine=machine(), versions=versions(), date=time.strftime('%Y-%m-%d'))
p = Path(__file__).parent / 'results' / 'step_overhead.json'
p.write_text(json.dumps(out, indent=1) + '\n')
print(json.dumps({k: out[k] for k in ('median_ms_per_step', 'hooks_ms_per_step', 'step_time_ratio_peftbench_over_plain')}, indent=1))
