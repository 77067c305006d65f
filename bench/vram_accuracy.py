"""How accurate is the VRAM estimator? Real CUDA peaks of short peftbench runs against the analytic and traced
estimates and against `accelerate estimate-memory`'s rule (4 x the model's size for training with Adam).

    python bench/vram_accuracy.py                  # on a CUDA GPU: the whole grid -> bench/results/vram_accuracy.json
    python bench/vram_accuracy.py --only 0,5       # some configurations
    python bench/vram_accuracy.py --dry            # on the CPU: the first configuration on a tiny model, to check the script

Each configuration runs in its own process (a clean CUDA context): a model with random weights is built from the
catalog's configuration (no download) and saved once, then `peftbench.train.Run` trains it for 3 steps on synthetic
text of exactly `max_length` tokens, and the peaks of the training steps (reset when the run starts, after loading)
are read from `torch.cuda.max_memory_allocated` / `max_memory_reserved`; `total` adds what the driver reports beyond
PyTorch's reserve (the CUDA context). Targets (issue 3): analytic median |error| < 3% and worst < 8%, traced worst < 4%.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

GRID = [  # (model, overrides as section__field)
    ('Qwen/Qwen2.5-0.5B', {}),
    ('Qwen/Qwen2.5-0.5B', dict(training__gradient_checkpointing=True)),
    ('Qwen/Qwen2.5-0.5B', dict(adapter__method='dora')),
    ('Qwen/Qwen2.5-0.5B', dict(adapter__method='full', training__gradient_checkpointing=True)),
    ('Qwen/Qwen2.5-0.5B', dict(adapter__r=64, adapter__target_modules=['q_proj', 'k_proj', 'v_proj', 'o_proj'])),
    ('Qwen/Qwen2.5-0.5B', dict(quantization__mode='8bit', training__gradient_checkpointing=True)),
    ('Qwen/Qwen2.5-0.5B', dict(quantization__mode='4bit', adapter__method='qlora')),
    ('Qwen/Qwen2.5-0.5B', dict(data__max_length=2048, training__batch_size=2, training__gradient_checkpointing=True)),
    ('meta-llama/Llama-3.2-1B', {}),
    ('meta-llama/Llama-3.2-1B', dict(training__gradient_checkpointing=True, training__optimizer='adamw_8bit')),
    ('meta-llama/Llama-3.2-1B', dict(adapter__method='full', training__gradient_checkpointing=True, training__optimizer='adafactor')),
    ('meta-llama/Llama-3.2-1B', dict(quantization__mode='4bit', adapter__method='qlora', training__gradient_checkpointing=True)),
    ('meta-llama/Llama-3.2-1B', dict(quantization__mode='4bit', quantization__double_quant=False, adapter__method='qlora', adapter__r=64)),
    ('meta-llama/Llama-3.2-1B', dict(adapter__dropout=0.0, training__batch_size=16, data__max_length=256)),
    ('Qwen/Qwen3-1.7B', dict(training__gradient_checkpointing=True)),
    ('Qwen/Qwen3-1.7B', dict(quantization__mode='4bit', adapter__method='qlora', training__optimizer='paged_adamw_8bit')),
    ('Qwen/Qwen3-1.7B', dict(adapter__method='dora', training__gradient_checkpointing=True)),
    ('meta-llama/Llama-3.2-3B', dict(training__gradient_checkpointing=True)),
    ('meta-llama/Llama-3.2-3B', dict(quantization__mode='4bit', adapter__method='qlora', training__gradient_checkpointing=True)),
    ('meta-llama/Llama-3.2-3B', dict(quantization__mode='8bit', training__gradient_checkpointing=True, training__batch_size=2)),
    ('meta-llama/Llama-3.2-3B', dict(model__attn_implementation='eager', training__gradient_checkpointing=True, training__batch_size=2)),
    ('meta-llama/Llama-3.1-8B', dict(quantization__mode='4bit', adapter__method='qlora', training__gradient_checkpointing=True)),
    ('meta-llama/Llama-3.1-8B', dict(quantization__mode='4bit', adapter__method='qlora', training__gradient_checkpointing=True,
                                     training__optimizer='paged_adamw_8bit', data__max_length=1024)),
    ('meta-llama/Llama-3.1-8B', dict(training__gradient_checkpointing=True, training__batch_size=2)),
]
BASE = dict(training__batch_size=4, data__max_length=512)


def recipe(name, kw, folder, data, out):
    from peftbench.recipe import Recipe
    r = Recipe()
    for k, v in (BASE | kw).items():
        part, f = k.split('__'); setattr(getattr(r, part), f, v)
    r.model.name, r.data.source, r.data.shape = name, data, 'text'
    r.training.max_steps, r.training.save_steps, r.training.output_dir, r.training.warmup = 3, 1000, out, 0
    return r


def random_model(name, root: Path) -> Path:
    "A folder with `name`'s architecture and random bf16 weights, and the pico tokenizer (ids stay below any vocab)."
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peftbench.catalog import pico_path
    from peftbench.memory import _hf_config
    d = root / name.replace('/', '--')
    if (d / 'config.json').exists(): return d
    m = AutoModelForCausalLM.from_config(_hf_config(name), dtype=torch.bfloat16)
    m.save_pretrained(d); AutoTokenizer.from_pretrained(pico_path()).save_pretrained(d)
    return d


def synthetic_text(path: Path, n=64):
    "Text long enough that every example is truncated to `max_length` (the worst case the estimate assumes)."
    import random
    rnd = random.Random(0); words = 'alpha beta gamma delta json word kind builtin module keyword value list dict'.split()
    path.write_text(''.join(json.dumps({'text': ' '.join(rnd.choice(words) for _ in range(3000))}) + '\n' for _ in range(n)))
    return path


def accelerate_rule(model_folder, r):
    "accelerate estimate-memory's training figure: 4 x the model's size in its storage dtype (Adam)."
    import torch
    from accelerate import init_empty_weights
    from accelerate.utils import calculate_maximum_sizes
    from transformers import AutoConfig, AutoModelForCausalLM
    with init_empty_weights(): m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_folder), dtype=torch.float32)
    total, _ = calculate_maximum_sizes(m)
    per = {'none': 2, '8bit': 1, '4bit': 0.5}[r.quantization.mode] / 4
    return int(4 * total * per)


def one(spec):
    "Child process: train 3 steps, print the measured peaks as JSON."
    import torch
    from peftbench.cli import quiet
    from peftbench.train import Run
    quiet()
    r = recipe(spec['name'], spec['kw'], spec['folder'], spec['data'], spec['out'])
    r.model.name = spec['folder']
    run = Run(r, overwrite=True)
    def on(ev):
        if ev['event'] == 'start' and torch.cuda.is_available():
            torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    run.subscribe(on)
    torch.cuda.init() if torch.cuda.is_available() else None
    run.train()
    m = {}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        m = dict(allocated=torch.cuda.max_memory_allocated(), reserved=torch.cuda.max_memory_reserved(),
                 context=(total - free) - torch.cuda.memory_reserved())
        m['total'] = m['reserved'] + m['context']
    print('RESULT ' + json.dumps(dict(status=run.status, measured=m)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--only'); ap.add_argument('--dry', action='store_true'); ap.add_argument('--one'); ap.add_argument('--root', default=None)
    a = ap.parse_args()
    if a.one: return one(json.loads(a.one))
    import torch
    from peftbench.catalog import GPU, MiB
    from peftbench.cli import machine, quiet
    from peftbench.memory import estimate, trace
    quiet()
    if not torch.cuda.is_available() and not a.dry:
        sys.exit('bench/vram_accuracy.py measures CUDA peaks and needs a GPU; --dry checks the script on the CPU')
    root = Path(a.root or tempfile.mkdtemp(prefix='pb-vram-'))
    data = synthetic_text(root / 'text.jsonl')
    grid = [('pico', dict(training__batch_size=2, data__max_length=64, model__dtype='float32'))] if a.dry else GRID
    idx = [int(i) for i in a.only.split(',')] if a.only else range(len(grid))
    gpu = GPU(torch.cuda.get_device_name(0), torch.cuda.mem_get_info()[1]) if torch.cuda.is_available() else 'cpu'
    rows = []
    for i in idx:
        name, kw = grid[i]
        folder = Path(__import__('peftbench.catalog', fromlist=['pico_path']).pico_path()) if name == 'pico' else random_model(name, root)
        r = recipe(name, kw, str(folder), str(data), str(root / f'run{i}'))
        est = estimate(r, gpu); t0 = time.time(); tr = trace(r, gpu); traced_s = time.time() - t0
        spec = dict(name=name, kw=kw, folder=str(folder), data=str(data), out=str(root / f'run{i}'))
        p = subprocess.run([sys.executable, __file__, '--one', json.dumps(spec)], capture_output=True, text=True)
        line = next((l for l in p.stdout.splitlines() if l.startswith('RESULT ')), None)
        if line is None:
            rows.append(dict(i=i, model=name, settings=kw, error=(p.stderr or p.stdout)[-800:])); print(i, name, kw, 'FAILED', rows[-1]['error'][-300:], flush=True); continue
        res = json.loads(line[7:]); m = res['measured']
        row = dict(i=i, model=name, settings=kw, status=res['status'], measured=m,
                   analytic=dict(allocated=est.peak_allocated_bytes, reserved=est.peak_reserved_bytes, total=est.total_bytes),
                   traced=dict(allocated=tr.peak_allocated_bytes, reserved=tr.peak_reserved_bytes, total=tr.total_bytes, seconds=round(traced_s, 2)),
                   accelerate=accelerate_rule(folder, r))
        if m:
            row['error'] = {k: (row[k]['allocated'] - m['allocated']) / m['allocated'] for k in ('analytic', 'traced')}
            row['error']['accelerate'] = (row['accelerate'] - m['allocated']) / m['allocated']
        rows.append(row)
        print(i, name, kw, {k: f"{v['allocated']/MiB:.0f} MiB" for k, v in row.items() if k in ('measured', 'analytic', 'traced') and v},
              {k: f'{v:+.1%}' for k, v in row.get('error', {}).items()}, flush=True)
    out = dict(benchmark='VRAM estimator accuracy (peak allocated of training steps)', command='python bench/vram_accuracy.py', machine=machine(), rows=rows)
    errs = [r['error'] for r in rows if 'error' in r and isinstance(r['error'], dict)]
    if errs:
        out['summary'] = {k: dict(median_abs=statistics.median(abs(e[k]) for e in errs), worst_abs=max(abs(e[k]) for e in errs)) for k in errs[0]}
        out['targets_met'] = dict(analytic=out['summary']['analytic']['median_abs'] < 0.03 and out['summary']['analytic']['worst_abs'] < 0.08,
                                  traced=out['summary']['traced']['worst_abs'] < 0.04)
        print(json.dumps(out['summary'], indent=1))
    if not a.dry:
        Path('bench/results').mkdir(parents=True, exist_ok=True)
        Path('bench/results/vram_accuracy.json').write_text(json.dumps(out, indent=1))
    return out


if __name__ == '__main__':
    main()
