"""How fast is the estimator? Analytic calls per second (what a slider move costs) and seconds per traced estimate,
for an 8B configuration (Llama-3.1-8B, QLoRA, batch 4 x 1024, checkpointing) and a 0.5B one.

    python bench/estimate_speed.py            -> bench/results/estimate_speed.json

Targets (issue 3): analytic under 2 ms per call once the architecture is known; traced "in seconds".
"""
import json, statistics, time, warnings
from pathlib import Path

from peftbench.cli import machine, quiet
from peftbench.memory import estimate, trace, fit
from peftbench.recipe import Recipe

quiet(); warnings.filterwarnings('ignore')


def rec(name, **kw):
    r = Recipe(); r.model.name = name
    for k, v in kw.items():
        part, f = k.split('__'); setattr(getattr(r, part), f, v)
    return r


configs = {
    'Llama-3.1-8B qlora b4x1024 gc': rec('meta-llama/Llama-3.1-8B', quantization__mode='4bit', adapter__method='qlora', training__batch_size=4,
                                         data__max_length=1024, training__gradient_checkpointing=True),
    'Qwen2.5-0.5B lora b8x512': rec('Qwen/Qwen2.5-0.5B', training__batch_size=8),
}
out = {'benchmark': 'estimator latency', 'command': 'python bench/estimate_speed.py', 'machine': machine(), 'results': {}}
for name, r in configs.items():
    estimate(r, 'T4')  # the architecture is cached after the first call
    n, t0 = 2000, time.perf_counter()
    for _ in range(n): estimate(r, 'T4')
    per_call = (time.perf_counter() - t0) / n
    t0 = time.perf_counter(); fit(r, 'RTX 4090'); fit_s = time.perf_counter() - t0
    traced = []
    for _ in range(2):
        t0 = time.perf_counter(); trace(r, 'T4'); traced.append(time.perf_counter() - t0)
    out['results'][name] = {'analytic_ms_per_call': round(per_call * 1e3, 4), 'analytic_calls_per_s': round(1 / per_call),
                            'fit_ms': round(fit_s * 1e3, 2), 'traced_s': [round(x, 2) for x in traced],
                            'analytic_target_met': per_call < 2e-3}
    print(name, out['results'][name], flush=True)
Path('bench/results').mkdir(parents=True, exist_ok=True)
Path('bench/results/estimate_speed.json').write_text(json.dumps(out, indent=1))
