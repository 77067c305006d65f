"""Padded batches, packing and padding-free batching on variable-length data, through peftbench's `Run` (recipes) and
through a plain TRL `SFTTrainer` script, alternating in one process.

    python bench/packing.py [--steps 20] [--rounds 1] [--max-length 512] [--batch 8]   -> bench/results/packing.json

The data is made here, deterministic with `--seed`: prompt/completion rows whose lengths follow a log-normal
distribution like Alpaca's (prompts: median 28 tokens; completions: median 90, a long tail past 1000 that
`--max-length` caps), written with words from pico's tokenizer vocabulary, so pico trains on them (the completion
copies the prompt's words: a task pico can learn within a few steps).

Every variant trains the same examples per optimizer step: padded and padding-free batches take `--batch` examples;
packed batches take `--batch * mean length / max length` rows of `max length` tokens, about as many examples.
So the loss curves over real tokens should agree. Measured per variant: real tokens per second (TRL's `num_tokens`
counts no padding) over the trainer's `train_runtime`; the loss at each step and the real tokens seen by then; the
time before the first step (the wall time of building the trainer and training, minus `train_runtime`: tokenizing,
packing, model set-up); the peak resident memory during the variant (sampled every 10 ms after handing freed memory
back with `malloc_trim`; ratios use the rise over the variant's starting RSS; CUDA's peak allocated on a GPU). Ratios
are against the padded variant of the same path. The plain script sets what the recipe sets where TRL's defaults
differ in arithmetic (fp32 on the CPU, no gradient checkpointing, `adamw_torch`), so both paths train alike.
"""
import argparse, ctypes, gc, json, math, random, statistics, sys, tempfile, threading, time
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
from trl import SFTConfig, SFTTrainer

from peftbench.catalog import pico_path
from peftbench.cli import machine, quiet
from peftbench.recipe import Recipe, ModelSpec, AdapterSpec, DataSpec, TrainSpec, Hardware
from peftbench.train import Run

sys.path.insert(0, str(Path(__file__).parent))
from _versions import versions

ap = argparse.ArgumentParser()
ap.add_argument('--steps', type=int, default=20); ap.add_argument('--rounds', type=int, default=1)
ap.add_argument('--max-length', type=int, default=512); ap.add_argument('--batch', type=int, default=8)
ap.add_argument('--examples', type=int, default=800); ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--only', default='', help='comma-separated variant names (default: all)')
ap.add_argument('--pack-examples', type=int, default=50000, help="examples for timing TRL's packing alone")
ap.add_argument('--note', default=''); ap.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'packing.json'))
a = ap.parse_args()
quiet()
CUDA = torch.cuda.is_available()
tmp = Path(tempfile.mkdtemp())
tok = AutoTokenizer.from_pretrained(pico_path())
L = min(a.max_length, AutoModelForCausalLM.from_pretrained(pico_path()).config.max_position_embeddings)


def make_rows(n, seed):
    "Prompt/completion rows of pico's vocabulary words, log-normal lengths, each within `L` tokens with the EOS."
    rng = random.Random(seed)
    words = sorted(t for t in tok.get_vocab() if t.startswith('Ġ') and t[1:].isalpha() and len(t) > 3)
    weights = [1 / (k + 10) for k in range(len(words))]  # Zipf-like: a few words are common
    rng.shuffle(words)
    rows = []
    while len(rows) < n:
        lp = max(4, round(rng.lognormvariate(math.log(28), 0.8)))
        lc = max(4, round(rng.lognormvariate(math.log(90), 0.9)))
        p = rng.choices(words, weights, k=min(lp, L // 2))
        c = (p * (lc // len(p) + 1))[:lc]
        prompt, completion = tok.convert_tokens_to_string(p), tok.convert_tokens_to_string(c)
        while len(tok(prompt + completion)['input_ids']) + 1 > L: c = c[:int(len(c) * 0.9)]; completion = tok.convert_tokens_to_string(c)
        if c: rows.append(dict(prompt=prompt, completion=completion))
    return rows


ROWS = make_rows(a.examples, a.seed)
LENS = [len(tok(r['prompt'] + r['completion'])['input_ids']) + 1 for r in ROWS]
MEAN = statistics.mean(LENS)
PACKED_BATCH = max(1, round(a.batch * MEAN / L))  # rows of L tokens holding about `batch` examples


class Peak:
    "The peak resident memory (CUDA: allocated) while the block runs, sampled every 10 ms."
    def __enter__(self):
        gc.collect()
        try: ctypes.CDLL('libc.so.6').malloc_trim(0)  # hand freed memory back, so an earlier variant's does not count here
        except OSError: pass
        self.start, self.stop = rss(), threading.Event()
        self.peak = self.start
        if CUDA: torch.cuda.reset_peak_memory_stats()
        def sample():
            while not self.stop.wait(0.01): self.peak = max(self.peak, rss())
        self.th = threading.Thread(target=sample, daemon=True); self.th.start()
        return self
    def __exit__(self, *exc):
        self.stop.set(); self.th.join()
        self.peak = torch.cuda.max_memory_allocated() if CUDA else max(self.peak, rss())
        self.rise = self.peak if CUDA else self.peak - self.start


def rss():
    return int(Path('/proc/self/statm').read_text().split()[1]) * 4096


def result(trainer, wall, pk):
    h = trainer.state.log_history
    steps = [x for x in h if 'loss' in x]
    runtime = next(x['train_runtime'] for x in h if 'train_runtime' in x)
    tokens = max(x['num_tokens'] for x in h if 'num_tokens' in x)
    return dict(tokens_per_s=round(tokens / runtime, 1), real_tokens=int(tokens), train_runtime_s=round(runtime, 2),
                before_first_step_s=round(wall - runtime, 2), peak_bytes=pk.peak, peak_rise_bytes=pk.rise, steps=len(steps),
                loss=[round(x['loss'], 4) for x in steps], tokens_seen=[int(x['num_tokens']) for x in steps])


def plain(kind, i, steps=None):
    "What a user writes with TRL alone: the same model, LoRA and hyperparameters as the recipe."
    set_seed(0)
    model = AutoModelForCausalLM.from_pretrained(pico_path(), dtype=torch.float32 if not CUDA else torch.bfloat16)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules='all-linear', task_type='CAUSAL_LM'))
    packed = kind.startswith('packing')
    kw = dict(packing=True, packing_strategy=kind.split('_')[1]) if packed else {}
    if kind == 'padding_free': kw = dict(padding_free=True, max_length=None)  # rows are within L already; TRL asks for None
    args = SFTConfig(output_dir=str(tmp / f'plain-{kind}-{i}'), max_steps=steps or a.steps, learning_rate=3e-3, lr_scheduler_type='cosine',
                     per_device_train_batch_size=PACKED_BATCH if packed else a.batch, warmup_steps=0.05, logging_steps=1,
                     save_strategy='no', report_to='none', use_cpu=not CUDA, bf16=CUDA, fp16=False, seed=0, disable_tqdm=True,
                     gradient_checkpointing=False, optim='adamw_torch',  # the recipe's arithmetic (TRL defaults: on, fused AdamW)
                     **{'max_length': L, **kw})
    with Peak() as pk:
        t0 = time.perf_counter()
        t = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(ROWS), processing_class=tok)
        t.train()
        wall = time.perf_counter() - t0
    return result(t, wall, pk)


def recipe_run(kind, i):
    "The same through a peftbench recipe: data from a JSONL file, `data.packing` or `training.group_by_length`."
    src = tmp / f'data-{kind}-{i}.jsonl'  # a fresh file: no cached tokenization from an earlier variant
    src.write_text(''.join(json.dumps(r) + '\n' for r in ROWS))
    r = Recipe(model=ModelSpec(name='pico'), adapter=AdapterSpec(method='lora', r=16, alpha=32, dropout=0.05, target_modules='all-linear'),
               data=DataSpec(source=str(src), max_length=L, packing=kind == 'packing'),
               training=TrainSpec(output_dir=str(tmp / f'run-{kind}-{i}'), max_steps=a.steps, lr=3e-3, scheduler='cosine', warmup=0.05,
                                  batch_size=PACKED_BATCH if kind == 'packing' else a.batch, logging_steps=1, save_steps=10 * a.steps,
                                  seed=0, precision='auto', group_by_length=kind == 'group_by_length'))
    with Peak() as pk:
        t0 = time.perf_counter()
        run = Run(r, Hardware.detect())
        run.train()
        wall = time.perf_counter() - t0
    assert run.status == 'finished', (run.status, run.error)
    return result(run.trainer, wall, pk)


VARIANTS = {'trl_padded': lambda i: plain('padded', i), 'trl_padding_free': lambda i: plain('padding_free', i),
            'trl_packing_bfd': lambda i: plain('packing_bfd', i), 'trl_packing_wrapped': lambda i: plain('packing_wrapped', i),
            'peftbench_padded': lambda i: recipe_run('padded', i), 'peftbench_packing': lambda i: recipe_run('packing', i),
            'peftbench_group_by_length': lambda i: recipe_run('group_by_length', i)}
if a.only: VARIANTS = {k: v for k, v in VARIANTS.items() if k in a.only.split(',')}


def curve_gap(run, base):
    "Mean |loss - padded loss| / padded loss over the second half, at the same real tokens seen (interpolated)."
    xs, ys = run['tokens_seen'], run['loss']
    gaps = []
    for x, y0 in list(zip(base['tokens_seen'], base['loss']))[len(base['loss']) // 2:]:
        if not xs[0] <= x <= xs[-1]: continue
        j = next(k for k in range(1, len(xs)) if xs[k] >= x) if x > xs[0] else 1
        f = (x - xs[j - 1]) / max(xs[j] - xs[j - 1], 1)
        gaps.append(abs(ys[j - 1] + f * (ys[j] - ys[j - 1]) - y0) / y0)
    return round(statistics.mean(gaps), 4) if gaps else None


def pack_cost(n):
    "Seconds TRL's `pack_dataset` takes for `n` tokenized examples of these lengths, per strategy: packing's cost before step 1."
    from trl.data_utils import pack_dataset
    rng = random.Random(a.seed)
    ds = Dataset.from_dict({'input_ids': [[1] * rng.choice(LENS) for _ in range(n)]})
    out = dict(examples=n, tokens=sum(len(x) for x in ds['input_ids']))
    for s in ('bfd', 'wrapped'):
        t0 = time.perf_counter()
        rows = len(pack_dataset(ds, L, s))
        out[s] = dict(seconds=round(time.perf_counter() - t0, 2), rows=rows)
    return out


res = {k: [] for k in VARIANTS}
if VARIANTS: plain('padded', -1, steps=2)  # warm-up: imports, allocator, kernels
for i in range(a.rounds):
    for name in (list(VARIANTS) if i % 2 == 0 else list(VARIANTS)[::-1]):
        res[name].append(VARIANTS[name](i))
        print(name, {k: v for k, v in res[name][-1].items() if k not in ('loss', 'tokens_seen')}, flush=True)

MEASURES = ('tokens_per_s', 'before_first_step_s', 'peak_bytes', 'peak_rise_bytes')
med = {k: {m: statistics.median(x[m] for x in v) for m in MEASURES} for k, v in res.items()}
ratios = {}
for k in res:
    base = 'trl_padded' if k.startswith('trl') else 'peftbench_padded'
    if base in res and k != base:
        ratios[k] = dict(tokens_per_s=round(med[k]['tokens_per_s'] / med[base]['tokens_per_s'], 3),
                         peak_memory=round(med[k]['peak_rise_bytes'] / max(med[base]['peak_rise_bytes'], 1), 3),
                         loss_curve_gap=curve_gap(res[k][0], res[base][0]))
if 'peftbench_packing' in res and 'trl_padded' in res:
    fast, slow = med['peftbench_packing']['tokens_per_s'], med['trl_padded']['tokens_per_s']
    ratios['peftbench_packing vs trl_padded'] = dict(tokens_per_s=round(fast / slow, 3))
out = dict(benchmark='padded vs packing vs padding-free on variable-length data: peftbench Run and plain TRL, alternating, one process',
           command=f'python bench/packing.py --steps {a.steps} --rounds {a.rounds} --max-length {a.max_length} --batch {a.batch}',
           data=dict(examples=len(ROWS), seed=a.seed, max_length=L, mean_tokens=round(MEAN, 1), median_tokens=statistics.median(LENS),
                     p90_tokens=sorted(LENS)[int(0.9 * len(LENS))], longest=max(LENS), shortest=min(LENS),
                     distribution='prompt ~ lognormal(median 28, sigma 0.8), completion ~ lognormal(median 90, sigma 0.9), capped'),
           batch=dict(padded=a.batch, packed_rows=PACKED_BATCH, packed_row_tokens=L),
           model='pico (LoRA r=16 all-linear), ' + ('GPU bf16' if CUDA else 'CPU fp32'), steps_per_run=a.steps,
           target='>= 1.3x tokens/s over padded at the same loss curve (CPU); 1.5x and 0.7x peak memory (GPU)',
           median=med, ratios=ratios, packing_cost=pack_cost(a.pack_examples) if a.pack_examples else None,
           runs=res, machine=machine(), versions=versions(), date=time.strftime('%Y-%m-%d'), note=a.note)
p = Path(a.out)
p.write_text(json.dumps(out, indent=1) + '\n')
print(json.dumps(dict(median=med, ratios=ratios), indent=1))
