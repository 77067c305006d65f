"""Do the estimator's two modes agree? The analytic (closed-form) peak against the traced one (a simulated training
step on fake tensors, our stand-in for a real CUDA peak where no GPU is at hand), on the grid of bench/vram_accuracy.py,
with accelerate's rule (4 x the model's size, what `accelerate estimate-memory` reports for training with Adam) as a
baseline. Runs on the CPU; no weights, no GPU.

    python bench/estimate_agreement.py               # the whole grid -> bench/results/estimate_agreement.json
    python bench/estimate_agreement.py --only 0,5    # some configurations (prints only, writes nothing)

Targets (issue 3, against the traced mode here): median |analytic/traced - 1| under 3%, worst under 8%.
"""
import argparse, json, platform, statistics, sys, time, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from vram_accuracy import GRID, BASE  # the same configurations as the GPU benchmark

GPU_NAME = 'A100 80GB'  # a bf16 CUDA GPU; the capacity plays no part in the peaks


def recipe(name, kw):
    from peftbench.recipe import Recipe
    r = Recipe(); r.model.name = name
    for k, v in (BASE | kw).items():
        part, f = k.split('__'); setattr(getattr(r, part), f, v)
    return r


def accelerate_rule(r):
    "accelerate estimate-memory's training figure from the config alone (meta device): 4 x the model's size, scaled by the storage bytes."
    import torch
    from accelerate import init_empty_weights
    from accelerate.utils import calculate_maximum_sizes
    from transformers import AutoModelForCausalLM
    from peftbench.memory import _hf_config
    with init_empty_weights(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = AutoModelForCausalLM.from_config(_hf_config(r.model.name), dtype=torch.float32)
    total, _ = calculate_maximum_sizes(m)
    per = {'none': 2, '8bit': 1, '4bit': 0.5}[r.quantization.mode] / 4
    return int(4 * total * per)


def machine():
    import torch, transformers, peft, trl, os
    return dict(platform=platform.platform(), python=platform.python_version(), cpu=platform.processor() or platform.machine(),
                cpu_count=os.cpu_count(), torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__, trl=trl.__version__)


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--only'); a = ap.parse_args()
    from peftbench.cli import quiet
    from peftbench.memory import estimate, trace
    from peftbench.catalog import MiB
    quiet(); warnings.filterwarnings('ignore')
    idx = [int(i) for i in a.only.split(',')] if a.only else range(len(GRID))
    rows = []
    for i in idx:
        name, kw = GRID[i]
        r = recipe(name, kw)
        t0 = time.perf_counter(); e = estimate(r, GPU_NAME); analytic_ms = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter(); t = trace(r, GPU_NAME); traced_s = time.perf_counter() - t0
        acc = accelerate_rule(r)
        row = dict(i=i, model=name, settings=kw, analytic=e.peak_allocated_bytes, traced=t.peak_allocated_bytes,
                   ratio=round(e.peak_allocated_bytes / t.peak_allocated_bytes, 4), analytic_phase=e.phase, traced_phase=t.phase,
                   accelerate=acc, accelerate_ratio=round(acc / t.peak_allocated_bytes, 4),
                   analytic_ms=round(analytic_ms, 3), traced_s=round(traced_s, 1), notes=t.notes)
        rows.append(row)
        print(f"{i:2} {name:26} {json.dumps(kw)[:80]:80} analytic {e.peak_allocated_bytes/MiB:7.0f} MiB  traced {t.peak_allocated_bytes/MiB:7.0f} MiB "
              f"({t.phase})  ratio {row['ratio']:.3f}  accelerate {row['accelerate_ratio']:.2f}", flush=True)
    err = [abs(r['ratio'] - 1) for r in rows]
    acc = [abs(r['accelerate_ratio'] - 1) for r in rows]
    summary = dict(configs=len(rows), analytic_median_abs=round(statistics.median(err), 4), analytic_worst_abs=round(max(err), 4),
                   accelerate_median_abs=round(statistics.median(acc), 4), accelerate_worst_abs=round(max(acc), 4),
                   targets_met=statistics.median(err) < 0.03 and max(err) < 0.08)
    print(json.dumps(summary, indent=1))
    out = dict(benchmark='VRAM estimator: analytic against traced peak allocated bytes of a training step (CPU, fake tensors)',
               command='python bench/estimate_agreement.py', gpu_preset=GPU_NAME, machine=machine(), summary=summary, rows=rows)
    if not a.only:
        Path('bench/results').mkdir(parents=True, exist_ok=True)
        Path('bench/results/estimate_agreement.json').write_text(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
