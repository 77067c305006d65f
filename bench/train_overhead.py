"""Does the workbench cost anything? The same LoRA recipe on pico, through peftbench's `Run` (with a subscriber
attached, as the UI would) and through a plain TRL `SFTTrainer` script, alternating in one process.

    python bench/train_overhead.py [--steps 100] [--rounds 3]     -> bench/results/train_overhead.json

Throughput is tokens/s over the trainer's own `train_runtime` (model loading excluded on both sides).
Target (issue 4): peftbench >= 0.97x the plain path.

Variants: the plain script on the main thread; the same plain script on a worker thread, as is
(`plain_worker_thread`) and after `release_cpu_threads()` on the main thread (`plain_worker_thread_released`);
`Run.train()` (blocking, trains on the main thread); `Run.start().wait()` (a worker thread, as the notebook UI does).
A worker thread as is ran 12-22% slower on an earlier VM (on a later one, some rounds 20% slower and some not): the main thread's GNU OpenMP pool outlives the warm-up, two pools
make more OpenMP threads than CPUs, and libgomp then throttles its spin-wait (see nbs/03d_threads.ipynb).
`Run.start` frees the calling thread's pool before its thread starts, so the `_released` variant is its fair twin.

The fifth, `plain_trl_defaults`, is the same plain script without the precision setting: TRL's `SFTConfig` defaults to
`bf16=True` whenever `fp16` is not set (its documented default, also with `use_cpu=True`),
so a plain script trains in bf16 autocast on the CPU, which on CPUs without bf16 matrix units is several times slower than fp32.
peftbench's `precision: auto` picks fp32 on the CPU. The
`plain` variant sets `bf16=False` so that both sides run the same arithmetic.
"""
import argparse, json, statistics, sys, tempfile, threading, time
from pathlib import Path


from peftbench.cli import machine, quiet
from peftbench.pico import demo_recipe
from peftbench.recipe import Hardware
from peftbench.threads import release_cpu_threads
from peftbench.train import Run

sys.path.insert(0, str(Path(__file__).parent))
from _plain import plain_trainer
from _versions import cpu_bf16, versions

ap = argparse.ArgumentParser(); ap.add_argument('--steps', type=int, default=100); ap.add_argument('--rounds', type=int, default=3)
ap.add_argument('--only', default='', help='comma-separated variant names, for a look (the results file needs all)')
a = ap.parse_args()
quiet()
tmp = tempfile.mkdtemp()


def tps(log_history):
    tokens = max(h['num_tokens'] for h in log_history if 'num_tokens' in h)
    runtime = next(h['train_runtime'] for h in log_history if 'train_runtime' in h)
    return tokens / runtime, runtime


def plain(i, defaults=False):
    "What a user writes with the libraries alone: the same model, adapter and hyperparameters (and precision, unless `defaults`)."
    t = plain_trainer(f'{tmp}/plain{i}', a.steps, defaults)
    t.train()
    return tps(t.state.log_history)


def workbench(i, ui=False):
    r = demo_recipe(f'{tmp}/run{i}{ui}', steps=a.steps)
    r.training.save_steps = 10 * a.steps  # no intermediate checkpoints, as in the plain script
    run = Run(r, Hardware())
    seen = []
    run.subscribe(seen.append)  # a UI-like subscriber
    run.start().wait() if ui else run.train()
    assert seen and seen[-1]['event'] == 'end'
    return tps(run.trainer.state.log_history)


def in_thread(fn, release=False):
    def go(i):
        if release: release_cpu_threads()
        out = []
        th = threading.Thread(target=lambda: out.append(fn(i))); th.start(); th.join()
        return out[0]
    return go


VARIANTS = {'plain': plain, 'plain_worker_thread': in_thread(plain), 'plain_worker_thread_released': in_thread(plain, release=True),
            'peftbench_train': workbench,
            'peftbench_start_ui': lambda i: workbench(i, ui=True), 'plain_trl_defaults': lambda i: plain(i, defaults=True)}
if a.only: VARIANTS = {k: v for k, v in VARIANTS.items() if k in a.only.split(',')}
res = {k: [] for k in VARIANTS}
plain(-1)  # warm-up: imports, allocator, kernels
for i in range(a.rounds):
    order = list(VARIANTS) if i % 2 == 0 else list(VARIANTS)[::-1]
    for name in order:
        if name == 'plain_trl_defaults' and i: continue  # a 4-5x effect, 80 s a run: once is enough
        t, rt = VARIANTS[name](i)
        res[name].append({'tokens_per_s': round(t, 1), 'train_runtime_s': round(rt, 2)})
        print(name, res[name][-1], flush=True)
if a.only: sys.exit(json.dumps({k: statistics.median(x['tokens_per_s'] for x in v) for k, v in res.items()}))
med = {k: statistics.median(x['tokens_per_s'] for x in v) for k, v in res.items()}
ratios = {'peftbench_train / plain': med['peftbench_train'] / med['plain'],
          'peftbench_start_ui / peftbench_train': med['peftbench_start_ui'] / med['peftbench_train'],
          'peftbench_start_ui / plain': med['peftbench_start_ui'] / med['plain'],
          'peftbench_start_ui / plain_worker_thread_released': med['peftbench_start_ui'] / med['plain_worker_thread_released'],
          'plain_worker_thread / plain (two OpenMP pools: throttled spin-wait)': med['plain_worker_thread'] / med['plain'],
          'plain_worker_thread_released / plain': med['plain_worker_thread_released'] / med['plain'],
          'plain_trl_defaults / plain (TRL bf16 default on the CPU)': med['plain_trl_defaults'] / med['plain']}
out = dict(benchmark='training throughput: peftbench Run vs plain TRL SFTTrainer, same recipe, alternating, one process',
           command=f'python bench/train_overhead.py --steps {a.steps} --rounds {a.rounds}',
           model='pico (1.3M params, LoRA r=16 all-linear), CPU fp32',
           steps_per_run=a.steps, runs=res, median_tokens_per_s=med, ratios={k: round(v, 4) for k, v in ratios.items()},
           targets={'blocking Run.train vs plain (issue 4)': 0.97, 'UI Run.start vs Run.train (issue 17)': 0.95,
                    'UI Run.start vs plain on the main thread (issue 17)': 0.95},
           meets_target={'blocking Run.train vs plain (issue 4)': ratios['peftbench_train / plain'] >= 0.97,
                         'UI Run.start vs Run.train (issue 17)': ratios['peftbench_start_ui / peftbench_train'] >= 0.95,
                         'UI Run.start vs plain on the main thread (issue 17)': ratios['peftbench_start_ui / plain'] >= 0.95},
           machine=machine() | {'cpu_bf16': cpu_bf16()}, versions=versions(), date=time.strftime('%Y-%m-%d'))
p = Path(__file__).parent / 'results' / 'train_overhead.json'
p.write_text(json.dumps(out, indent=1) + '\n')
print(json.dumps({k: out[k] for k in ('median_tokens_per_s', 'ratios', 'meets_target')}, indent=1))
