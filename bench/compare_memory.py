"""Does a comparison cost memory beyond the model? Peak memory of the model alone (loaded, generating with its
adapter on) against the whole `compare` (base and adapted from the same loaded model), each in a fresh process.

    python bench/compare_memory.py [--repeats 2]      -> bench/results/compare_memory.json

Two models: pico (1.3M parameters) and a random-weights 88M-parameter Llama built from a config (pico's
tokenizer, no downloads), each with a LoRA adapter (r=16, all linear layers, random B so it changes outputs).
The same 32 prompts, 32 new tokens, one batch, in every mode:
  alone    load model + adapter, `generate` with the adapter on
  compare  load model + adapter, `compare` (adapter on, then off)
  stream   load model + adapter, consume `stream_compare` (both sides token by token)

Memory, on the CPU: the process's peak resident set (`ru_maxrss`, imports and loading included) and the peak
of the generation phase alone (Linux `VmHWM`, reset through /proc/self/clear_refs just before it), with the
resident set after loading (every weight touched) as "the model". On CUDA: `torch.cuda.max_memory_allocated`
over the same phase. Target (issue 7): compare's peak at most 1.05x the model alone.

`compare` runs the sides one after the other, so it holds one KV cache at a time, as generating alone does.
`stream_compare` advances all sides together and holds one KV cache per side: it costs one more cache per extra
side (the 88M model, 32 prompts of ~50 tokens: about 120 MB), which a smaller `batch_size` shrinks.
"""
import argparse, json, os, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

MODES = ('alone', 'compare', 'stream')


def _status(key):
    "A /proc/self/status field in bytes (VmRSS, VmHWM)."
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'): return int(line.split()[1]) * 1024


def _reset_hwm():
    "Reset the peak resident set (Linux >= 4.0); False where it cannot be."
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return True
    except OSError: return False


def child(mode, model_dir, adapter_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peftbench.compare import compare, stream_compare
    from peftbench.load import generate
    from peftbench.pico import task_rows
    cuda = torch.cuda.is_available()
    rss_imports = _status('VmRSS')
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter_dir).to('cuda' if cuda else 'cpu').eval()
    with torch.no_grad(): sum(float(p.sum()) for p in model.parameters())  # fault every weight in: safetensors loads lazily
    prompts = [r['prompt'] for r in task_rows('test')][:32]
    gen = dict(max_new_tokens=32, batch_size=32)
    if cuda: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    rss_model = _status('VmRSS')
    cuda_model = torch.cuda.memory_allocated() if cuda else None
    hwm_reset = _reset_hwm()
    t0 = time.time()
    if mode == 'alone': generate(model, tok, prompts, **gen)
    elif mode == 'compare': compare(model, tok, prompts, **gen)
    else:
        for _ in stream_compare(model, tok, prompts, **gen): pass
    secs = time.time() - t0
    out = dict(mode=mode, seconds=round(secs, 2), rss_after_imports=rss_imports, rss_model_loaded=rss_model,
               phase_peak_rss=_status('VmHWM') if hwm_reset else None, process_peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
               params=sum(p.numel() for p in model.parameters()))
    if cuda: out.update(cuda_model_allocated=cuda_model, cuda_phase_peak_allocated=torch.cuda.max_memory_allocated())
    print(json.dumps(out))


def build(tmp):
    "Model folders and adapters: pico and a random 88M-parameter Llama."
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM
    from peftbench.pico import pico_path
    lora = dict(r=16, lora_alpha=32, target_modules='all-linear', init_lora_weights=False, task_type='CAUSAL_LM')
    tok = AutoTokenizer.from_pretrained(pico_path())
    models = {}
    torch.manual_seed(0)
    m = get_peft_model(AutoModelForCausalLM.from_pretrained(pico_path(), dtype=torch.float32), LoraConfig(**lora))
    m.save_pretrained(f'{tmp}/pico-lora'); models['pico'] = (pico_path(), f'{tmp}/pico-lora')
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                      num_key_value_heads=12, max_position_embeddings=1024, tie_word_embeddings=True,
                      bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    base = LlamaForCausalLM(cfg)
    name = f'llama-{sum(p.numel() for p in base.parameters()) / 1e6:.0f}m-random'
    base.save_pretrained(f'{tmp}/{name}'); tok.save_pretrained(f'{tmp}/{name}')
    get_peft_model(base, LoraConfig(**lora)).save_pretrained(f'{tmp}/{name}-lora')
    models[name] = (f'{tmp}/{name}', f'{tmp}/{name}-lora')
    return models


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--repeats', type=int, default=2)
    ap.add_argument('--child', nargs=3, metavar=('MODE', 'MODEL', 'ADAPTER'))
    a = ap.parse_args()
    if a.child: return child(*a.child)
    from peftbench.cli import machine, quiet
    quiet()
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}
    res = dict(benchmark='peak memory of compare vs the model alone, fresh process each', target_ratio=1.05, models={})
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model_dir, adapter_dir) in build(tmp).items():
            runs = []
            for i in range(a.repeats):
                for mode in (MODES if i % 2 == 0 else MODES[::-1]):
                    p = subprocess.run([sys.executable, __file__, '--child', mode, str(model_dir), adapter_dir], capture_output=True, text=True, env=env)
                    if p.returncode: sys.exit(p.stderr[-3000:])
                    runs.append(json.loads(p.stdout.strip().splitlines()[-1])); print(name, runs[-1], flush=True)
            med = lambda mode, k: statistics.median(r[k] for r in runs if r['mode'] == mode) if all(r.get(k) is not None for r in runs) else None
            r = dict(params=runs[0]['params'], runs=runs, ratio={}, extra_bytes={})
            for k in ('process_peak_rss', 'phase_peak_rss', 'cuda_phase_peak_allocated'):
                if med('alone', k) is None: continue
                for mode in ('compare', 'stream'):
                    r['ratio'][f'{mode}/{k}'] = round(med(mode, k) / med('alone', k), 4)
                    r['extra_bytes'][f'{mode}/{k}'] = int(med(mode, k) - med('alone', k))
            r['model_bytes_resident'] = int(med('alone', 'rss_model_loaded') - med('alone', 'rss_after_imports'))
            r['compare_phase_peak_over_loaded_model'] = round(med('compare', 'phase_peak_rss') / med('alone', 'rss_model_loaded'), 4)
            r['meets_target'] = all(v <= 1.05 for k, v in r['ratio'].items() if k.startswith('compare/'))
            res['models'][name] = r
    res.update(meets_target=all(m['meets_target'] for m in res['models'].values()), machine=machine(), date=time.strftime('%Y-%m-%d'))
    out = Path(__file__).parent / 'results' / 'compare_memory.json'
    out.parent.mkdir(exist_ok=True); out.write_text(json.dumps(res, indent=1) + '\n')
    print(json.dumps({n: {k: v for k, v in m.items() if k != 'runs'} for n, m in res['models'].items()}, indent=1))


if __name__ == '__main__': main()
