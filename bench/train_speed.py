"""Speed options that keep the result: the demo recipe (LoRA on pico) trained through `Run` with padding (the
plain path), with packing (TRL's BFD packing, padding-free), with length-grouped batches, and with torch.compile.
Each variant runs in its own process; tokens/s counts real (non-padding) tokens over the trainer's runtime, and the
peak memory is the process's peak RSS on the CPU (CUDA's peak allocated on a GPU).

    python bench/train_speed.py [--steps 60]          -> bench/results/train_speed.json
"""
import argparse, json, subprocess, sys, tempfile
from pathlib import Path

VARIANTS = {'padded (plain)': {}, 'packing': dict(data__packing=True), 'group_by_length': dict(training__group_by_length=True),
            'torch.compile': dict(training__torch_compile=True)}


def one(kw, steps, out):
    import resource, torch
    from peftbench.cli import quiet
    from peftbench.pico import demo_recipe
    from peftbench.train import Run
    quiet()
    r = demo_recipe(out, steps)
    for k, v in kw.items():
        part, f = k.split('__'); setattr(getattr(r, part), f, v)
    run = Run(r, overwrite=True)
    run.train()
    h = run.trainer.state.log_history
    tokens = max(x['num_tokens'] for x in h if 'num_tokens' in x)
    runtime = next(x['train_runtime'] for x in h if 'train_runtime' in x)
    losses = [x['loss'] for x in h if 'loss' in x]
    peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print('RESULT ' + json.dumps(dict(tokens=tokens, runtime=runtime, tokens_per_s=tokens / runtime, steps=len(losses),
                                      first_loss=losses[0], last10_loss=sum(losses[-10:]) / len(losses[-10:]), peak_bytes=peak,
                                      peak_kind='cuda_allocated' if torch.cuda.is_available() else 'host_rss', status=run.status)))


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--steps', type=int, default=60); ap.add_argument('--one')
    a = ap.parse_args()
    if a.one: kw, out = json.loads(a.one); return one(kw, a.steps, out)
    from peftbench.cli import machine
    tmp, rows = tempfile.mkdtemp(), {}
    for name, kw in VARIANTS.items():
        p = subprocess.run([sys.executable, __file__, '--steps', str(a.steps), '--one', json.dumps([kw, f'{tmp}/{len(rows)}'])], capture_output=True, text=True)
        line = next((l for l in p.stdout.splitlines() if l.startswith('RESULT ')), None)
        rows[name] = json.loads(line[7:]) if line else {'error': p.stderr[-600:]}
        print(name, rows[name], flush=True)
    base = rows['padded (plain)']
    for name, r in rows.items():
        if 'tokens_per_s' in r and 'tokens_per_s' in base:
            r['speedup_vs_plain'] = round(r['tokens_per_s'] / base['tokens_per_s'], 3)
            r['peak_vs_plain'] = round(r['peak_bytes'] / base['peak_bytes'], 3)
    out = dict(benchmark='training speed options on the demo recipe (LoRA on pico)', command=f'python bench/train_speed.py --steps {a.steps}',
               machine=machine(), note='same recipe and seed; packing changes how examples are batched (more real tokens per step), '
               'so compare tokens/s and the loss reached, not the per-step curve', variants=rows)
    Path('bench/results').mkdir(parents=True, exist_ok=True)
    Path('bench/results/train_speed.json').write_text(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
