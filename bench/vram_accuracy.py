"""How accurate is the VRAM estimator? Real CUDA peaks of short peftbench runs against the analytic and traced
estimates and against `accelerate estimate-memory`'s rule (4 x the model's size for training with Adam).

    python bench/vram_accuracy.py                        # on a CUDA GPU: GRID -> bench/results/vram_accuracy.json
    python bench/vram_accuracy.py --sets grid,more,long --lanes 6 --out DIR   # a GPU loan: side by side, into DIR
    python bench/vram_accuracy.py --only 0,5             # some configurations of GRID
    python bench/vram_accuracy.py --dry                  # on the CPU: each set's machinery on pico, to check the script

Each configuration runs in its own process (`--one`: a clean CUDA context, its own allocator peaks): a model with
random weights is built from the catalog's configuration (no download; on the GPU when there is one) and saved once,
then `peftbench.train.Run` trains it for 3 steps on synthetic text of exactly `max_length` tokens (so its batches
carry no padding, and the analytic estimate is taken with `padding=False`; the long runs pad), and the peaks of
the training steps (reset when the run starts, after loading) are read from `torch.cuda.max_memory_allocated` /
`max_memory_reserved`. Several run side by side (`--lanes`) while the sum of their estimated reserved memory (plus
a CUDA context each) stays under `--cap`; each run's folder is deleted when it ends (8B checkpoints fill a small disk).

Sets: `grid` (the 24 configurations of the measured fixture, bench/results/vram_measured_h200.json), `more`
(configurations the fixture does not hold: other catalog models, 8-bit with and without checkpointing, 4-bit without,
LoKr, IA3, packing, eager attention, other batch x length), `long` (a few hundred steps of variable-length batches:
max reserved memory with and without `expandable_segments`, against the estimate's real-run figure).
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, threading, time
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
MORE = [  # configurations the fixture does not hold (checked against the estimator, never used to set its formulas)
    ('Qwen/Qwen2.5-1.5B', dict(quantization__mode='8bit')),
    ('meta-llama/Llama-3.2-1B', dict(quantization__mode='8bit', training__gradient_checkpointing=True, training__batch_size=2, data__max_length=1024)),
    ('Qwen/Qwen3-0.6B', dict(quantization__mode='8bit', adapter__target_modules='all-linear')),
    ('meta-llama/Llama-3.2-3B', dict(quantization__mode='4bit', adapter__method='qlora', training__batch_size=2)),
    ('google/gemma-2-2b', dict(quantization__mode='4bit', adapter__method='qlora', training__batch_size=2)),
    ('Qwen/Qwen2.5-0.5B', dict(adapter__method='lokr')),
    ('Qwen/Qwen2.5-1.5B', dict(adapter__method='lokr', training__gradient_checkpointing=True)),
    ('meta-llama/Llama-3.2-1B', dict(adapter__method='ia3')),
    ('Qwen/Qwen3-1.7B', dict(adapter__method='ia3', training__gradient_checkpointing=True)),
    ('Qwen/Qwen2.5-0.5B', dict(data__packing=True)),
    ('meta-llama/Llama-3.2-1B', dict(data__packing=True, training__gradient_checkpointing=True, training__batch_size=8)),
    ('HuggingFaceTB/SmolLM2-360M', dict(model__attn_implementation='eager', training__batch_size=2, data__max_length=1024)),
    ('Qwen/Qwen3-4B', dict(training__gradient_checkpointing=True, training__batch_size=8, data__max_length=256)),
    ('google/gemma-3-1b-pt', dict(training__batch_size=2, data__max_length=1024)),
    ('microsoft/Phi-3.5-mini-instruct', dict(quantization__mode='4bit', adapter__method='qlora', training__gradient_checkpointing=True)),
    ('mistralai/Mistral-7B-v0.3', dict(quantization__mode='4bit', adapter__method='qlora', training__gradient_checkpointing=True,
                                       training__batch_size=2, data__max_length=2048)),
]
LONG_STEPS = 300
LONG = [  # (model, overrides, expandable_segments): variable-length batches for LONG_STEPS steps
    ('meta-llama/Llama-3.2-3B', dict(training__batch_size=4, data__max_length=1024, training__gradient_checkpointing=True), False),
    ('meta-llama/Llama-3.2-3B', dict(training__batch_size=4, data__max_length=1024, training__gradient_checkpointing=True), True),
    ('Qwen/Qwen2.5-0.5B', dict(training__batch_size=8, data__max_length=1024), False),
    ('Qwen/Qwen2.5-0.5B', dict(training__batch_size=8, data__max_length=1024), True),
]
SETS = dict(grid=GRID, more=MORE, long=LONG)
BASE = dict(training__batch_size=4, data__max_length=512, training__optimizer='adamw_torch')  # the optimizer the measured rows used (the default until 2026-12-01)
DRY = ('pico', dict(training__batch_size=2, data__max_length=64, model__dtype='float32'))


def recipe(name, kw, folder, data, out):
    from peftbench.recipe import Recipe
    r = Recipe()
    for k, v in (BASE | kw).items():
        part, f = k.split('__'); setattr(getattr(r, part), f, v)
    r.model.name, r.data.source, r.data.shape = name, data, 'text'
    r.training.max_steps, r.training.save_steps, r.training.output_dir, r.training.warmup = 3, 1000, out, 0
    return r


def random_model(name, root: Path) -> Path:
    "A folder with `name`'s architecture and random bf16 weights (made on the GPU when there is one), and the pico tokenizer."
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peftbench.catalog import pico_path
    from peftbench.memory import _hf_config
    d = root / name.replace('/', '--')
    if (d / 'config.json').exists(): return d
    with torch.device('cuda' if torch.cuda.is_available() else 'cpu'):
        m = AutoModelForCausalLM.from_config(_hf_config(name), dtype=torch.bfloat16)
    m.save_pretrained(d); AutoTokenizer.from_pretrained(pico_path()).save_pretrained(d)
    del m
    if torch.cuda.is_available(): torch.cuda.empty_cache()
    return d


WORDS = 'alpha beta gamma delta json word kind builtin module keyword value list dict'.split()

def synthetic_text(path: Path, n=64, lengths=None):
    "Text long enough that every example is truncated to `max_length` (the worst case the estimate assumes), or of `lengths` words."
    import random
    rnd = random.Random(0)
    lengths = lengths or [3000] * n
    path.write_text(''.join(json.dumps({'text': ' '.join(rnd.choice(WORDS) for _ in range(k))}) + '\n' for k in lengths))
    return path


def padding_of(kind: str) -> bool:
    "Whether the batches of a set carry padding: only the long runs' variable-length text; the others' rows all fill max_length."
    return kind == 'long'


def variable_text(path: Path, n=1600, lo=20, hi=1400):
    "Examples of random lengths (uniform in words): batches of changing shapes, as in a real data set."
    import random
    rnd = random.Random(1)
    return synthetic_text(path, lengths=[rnd.randint(lo, hi) for _ in range(n)])


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
    "Child process: train 3 steps (or `spec['steps']`), print the measured peaks as JSON."
    from peftbench.memory import cuda_alloc_conf
    cuda_alloc_conf()  # as a run does: expandable segments unless the caller set PYTORCH_CUDA_ALLOC_CONF
    import torch
    from peftbench.cli import quiet
    from peftbench.train import Run
    quiet()
    r = recipe(spec['name'], spec['kw'], spec['folder'], spec['data'], spec['out'])
    r.model.name = spec['folder']
    if spec.get('steps'): r.training.max_steps = spec['steps']
    run, curve = Run(r, overwrite=True), []
    def on(ev):
        if not torch.cuda.is_available(): return
        if ev['event'] == 'start': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        if ev['event'] == 'train': curve.append((ev['step'], torch.cuda.memory_reserved(), torch.cuda.max_memory_reserved()))
    run.subscribe(on)
    torch.cuda.init() if torch.cuda.is_available() else None
    run.train()
    m = {}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        m = dict(allocated=torch.cuda.max_memory_allocated(), reserved=torch.cuda.max_memory_reserved(),
                 context=(total - free) - torch.cuda.memory_reserved())  # every process on the GPU when run side by side
        m['total'] = m['reserved'] + m['context']
        if spec.get('steps'):
            m['reserved_at_step_3'] = next((mx for s, _, mx in curve if s >= 3), None)
            m['curve'] = curve[::max(1, len(curve) // 30)]
    ends = [e for e in run.events if e['event'] == 'end']
    print('RESULT ' + json.dumps(dict(status=run.status, measured=m, alloc_conf=os.environ.get('PYTORCH_CUDA_ALLOC_CONF'),
                                      attn=_attn(run),
                                      error=ends[-1].get('error') if ends else None)))


def _attn(run):
    "The attention implementation the run's model really used."
    try: return run.trainer.model.config._attn_implementation
    except Exception: return None


def jobs_of(sets, only=None, dry=False):
    "[(set, i, model, overrides, expandable or None)] for the named sets."
    out = []
    for s in sets:
        for i, job in enumerate(SETS[s]):
            if only is not None and i not in only: continue
            name, kw, exp = (job if s == 'long' else (*job, None))
            if dry: name, kw = DRY[0], DRY[1] | ({'data__packing': True} if kw.get('data__packing') else {})
            out.append((s, i, name, kw, exp))
            if dry: break  # one of each set is enough to check the machinery
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--only'); ap.add_argument('--dry', action='store_true'); ap.add_argument('--one'); ap.add_argument('--root', default=None)
    ap.add_argument('--sets', default='grid'); ap.add_argument('--lanes', type=int, default=1); ap.add_argument('--out', default=None)
    ap.add_argument('--cap-gib', type=float, default=110); ap.add_argument('--budget', type=float, default=1e9, help='seconds to start new runs')
    ap.add_argument('--kill-after', type=float, default=300, help='seconds one run may take'); ap.add_argument('--traced', action='store_true')
    ap.add_argument('--long-steps', type=int, default=LONG_STEPS, help='steps of each long run')
    ap.add_argument('--disk-gib', type=float, default=36, help='random models on disk at once')
    a = ap.parse_args(argv)
    if a.one: return one(json.loads(a.one))
    t0 = time.time()
    import torch
    from peftbench.catalog import GPU, MiB, GiB, pico_path
    from peftbench.cli import machine, quiet
    from peftbench.memory import estimate, trace
    quiet()
    if not torch.cuda.is_available() and not a.dry:
        sys.exit('bench/vram_accuracy.py measures CUDA peaks and needs a GPU; --dry checks the script on the CPU')
    root = Path(a.root or tempfile.mkdtemp(prefix='pb-vram-')); root.mkdir(parents=True, exist_ok=True)
    data = synthetic_text(root / 'text.jsonl')
    short = synthetic_text(root / 'short.jsonl', lengths=[300] * 400)  # packing: many short examples fill the bins
    varied = variable_text(root / 'varied.jsonl', n=200 if a.dry else 1600)
    sets = a.sets.split(',')
    jobs = jobs_of(sets, {int(i) for i in a.only.split(',')} if a.only else None, a.dry)
    gpu = GPU(torch.cuda.get_device_name(0), torch.cuda.mem_get_info()[1]) if torch.cuda.is_available() else 'H200'
    out_dir = Path(a.out) if a.out else None
    if out_dir: out_dir.mkdir(parents=True, exist_ok=True)
    log = open(out_dir / 'measured.jsonl', 'a') if out_dir else None
    lock, rows, ready = threading.Lock(), [], {}
    names = list(dict.fromkeys(n for _, _, n, _, _ in jobs))
    left = {n: sum(1 for j in jobs if j[2] == n) for n in names}

    def size(n): return 0 if n == 'pico' else 2 * __import__('peftbench.catalog', fromlist=['arch']).arch(n).params

    def make_all():  # random weights, one model at a time, while the first runs train; at most `--disk-gib` of them on disk
        for n in names:
            while sum(size(m) for m in ready if left[m] > 0) + size(n) > a.disk_gib * GiB and time.time() - t0 < a.budget: time.sleep(1)
            s = time.time()
            try: ready[n] = Path(pico_path()) if n == 'pico' else random_model(n, root)
            except Exception as e: ready[n] = e
            print(f'[{time.time()-t0:5.0f}s] made {n} in {time.time()-s:.0f}s' + (f' FAILED {ready[n]!r}' if isinstance(ready[n], Exception) else ''), flush=True)
    maker = threading.Thread(target=make_all, daemon=True); maker.start()

    def data_for(kind, kw): return varied if kind == 'long' else short if kw.get('data__packing') else data
    est = {}
    for kind, i, n, kw, exp in jobs:
        r = recipe(n, kw, n, str(data_for(kind, kw)), '/tmp/x')
        e = estimate(r, gpu, padding=padding_of(kind))
        est[(kind, i)] = dict(allocated=e.peak_allocated_bytes, reserved=e.peak_reserved_bytes, total=e.total_bytes,
                              real_run=e.real_run, phase=e.phase, padding=padding_of(kind))

    def finish(key, p, spec, s, exp):
        try: outp, errp = p.communicate()
        except Exception as e: outp, errp = '', repr(e)
        line = next((l for l in outp.splitlines() if l.startswith('RESULT ')), None)
        kind, i = key
        rec = dict(set=kind, i=i, model=spec['name'], settings=spec['kw'], seconds=round(time.time() - s, 1), analytic=est[key])
        if exp is not None: rec.update(expandable_segments=exp, steps=spec['steps'])
        if line: rec.update(json.loads(line[7:]))
        else: rec['error'] = (errp or outp)[-1500:]
        m = rec.get('measured', {}).get('allocated')
        if m:
            rec['err'] = (est[key]['allocated'] - m) / m
            if kind == 'long':
                rr = est[key]['real_run']['expandable_segments' if exp else 'default']
                rec['err_real_run'] = (rr - rec['measured']['reserved']) / rec['measured']['reserved']
        if a.traced and kind != 'long':
            try:
                tr = trace(recipe(spec['name'], spec['kw'], spec['folder'], spec['data'], '/tmp/x'), gpu, padding=padding_of(kind))
                rec['traced'] = dict(allocated=tr.peak_allocated_bytes)
            except Exception as e: rec['traced'] = repr(e)[:300]
        with lock:
            rows.append(rec)
            if log: log.write(json.dumps(rec) + '\n'); log.flush()
            left[spec['name']] -= 1
            if left[spec['name']] == 0 and spec['name'] != 'pico': shutil.rmtree(spec['folder'], ignore_errors=True)  # its last run
        shutil.rmtree(spec['out'], ignore_errors=True)  # 8B checkpoints fill a small disk
        msg = (f"measured {m/GiB:.2f} GiB analytic {est[key]['allocated']/GiB:.2f} ({rec['err']:+.1%})" if m else
               rec.get('status', 'FAILED') + ' ' + str(rec.get('error') or '')[-300:].replace('\n', ' | '))
        if 'err_real_run' in rec: msg += f" | reserved {rec['measured']['reserved']/GiB:.2f} GiB real-run estimate {rec['err_real_run']:+.1%}"
        print(f"[{time.time()-t0:5.0f}s] {key} {spec['name']} {spec['kw']}{'' if exp is None else ' expandable=' + str(exp)} {msg}", flush=True)

    running, pending, cap = {}, list(jobs), a.cap_gib * GiB
    while pending or running:
        for key, (p, s, th) in list(running.items()):
            if not th.is_alive(): running.pop(key)
            elif time.time() - s > a.kill_after: p.kill()
        if pending and time.time() - t0 > a.budget:
            print(f'budget over: not started {[(k, i) for k, i, *_ in pending]}', flush=True); pending = []
        for job in list(pending):
            kind, i, n, kw, exp = job
            if len(running) >= a.lanes: break
            if n not in ready: continue
            pending.remove(job)
            if isinstance(ready[n], Exception):
                with lock: rows.append(dict(set=kind, i=i, model=n, settings=kw, error=f'could not make the model: {ready[n]!r}'))
                continue
            need = lambda k: (est[k]['real_run']['default'] if k[0] == 'long' else est[k]['reserved']) + GiB
            if running and sum(need(k) for k in running) + need((kind, i)) > cap: pending.insert(0, job); break
            spec = dict(name=n, kw=kw, folder=str(ready[n]), data=str(data_for(kind, kw)), out=str(root / f'run-{kind}{i}'))
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get('PYTHONPATH', '')]))
            if kind == 'long':
                spec['steps'] = 12 if a.dry else a.long_steps
                env['PYTORCH_CUDA_ALLOC_CONF'] = 'expandable_segments:True' if exp else 'expandable_segments:False'
            p = subprocess.Popen([sys.executable, __file__, '--one', json.dumps(spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
            th = threading.Thread(target=finish, args=((kind, i), p, spec, time.time(), exp)); th.start()
            running[(kind, i)] = (p, time.time(), th)
        time.sleep(0.2)
    out = dict(benchmark='VRAM estimator accuracy (peak allocated of training steps; long runs: max reserved)',
               command='python bench/vram_accuracy.py ' + ' '.join(sys.argv[1:] if argv is None else argv), machine=machine(),
               versions=versions(), seconds=round(time.time() - t0, 1), rows=sorted(rows, key=lambda r: (r['set'], r['i'])))
    out['summary'] = summary(out['rows'])
    print(json.dumps(out['summary'], indent=1))
    if out_dir: (out_dir / 'vram_accuracy.json').write_text(json.dumps(out, indent=1))
    elif not a.dry:
        Path('bench/results').mkdir(parents=True, exist_ok=True)
        Path('bench/results/vram_accuracy.json').write_text(json.dumps(out, indent=1))
    return out


def summary(rows):
    "Per set: median and worst |error| of the analytic estimate, and the most it was under."
    out = {}
    for s in dict.fromkeys(r['set'] for r in rows):
        errs = [r['err'] for r in rows if r['set'] == s and 'err' in r]
        out[s] = dict(n=len(errs), failed=sum(1 for r in rows if r['set'] == s and (r.get('error') or r.get('status') != 'finished')))
        if errs: out[s] |= dict(median_abs=statistics.median(abs(e) for e in errs), worst_abs=max(abs(e) for e in errs), most_under=min(errs))
        rr = [r['err_real_run'] for r in rows if r['set'] == s and 'err_real_run' in r]
        if rr: out[s]['real_run_errors'] = rr
    return out


def versions():
    import importlib.metadata as md
    v = {}
    for p in ('torch', 'transformers', 'peft', 'trl', 'bitsandbytes', 'datasets', 'accelerate'):
        try: v[p] = md.version(p)
        except Exception: v[p] = None
    try:
        import torch
        if torch.cuda.is_available():
            v['cuda'] = torch.version.cuda
            v['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version,memory.total', '--format=csv,noheader'],
                                         capture_output=True, text=True).stdout.strip()
    except Exception: pass
    return v


if __name__ == '__main__':
    main()
