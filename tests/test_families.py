"""Every architecture in the catalog trains: a tiny random model of each family (2 layers, small sizes, the pico
tokenizer; no download) goes through the default recipe on the CPU: load, 2 training steps with LoRA and with QLoRA
(bitsandbytes 4-bit runs on the CPU), generation, base-versus-adapter comparison, and merging into a standalone model.
The default `attn_implementation` ('auto') follows what each architecture supports (Gemma-2 has no SDPA)."""
import os, warnings
from pathlib import Path

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')
from peftbench.catalog import CATALOG, arch, pico_path

FAMILIES = {}
for _name, _a in CATALOG.items(): FAMILIES.setdefault(_a.model_type, _name)  # the first catalog model of each architecture


def tiny(name: str, root: Path, **over) -> Path:
    "A folder with a 2-layer random model of `name`'s architecture (its catalog facts, small sizes) and the pico tokenizer."
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    a, d = arch(name), root / name.replace('/', '--')
    if (d / 'config.json').exists(): return d
    tok = AutoTokenizer.from_pretrained(pico_path())
    kw = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=4 if a.num_kv_heads == a.num_heads else 2, head_dim=16, tie_word_embeddings=a.tie_word_embeddings,
              max_position_embeddings=256, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    if a.model_type in ('llama', 'mistral') and a.qkv_bias: kw['attention_bias'] = True
    torch.manual_seed(0)
    m = AutoModelForCausalLM.from_config(AutoConfig.for_model(a.model_type, **(kw | over)), dtype=torch.float32)
    m.save_pretrained(d); tok.save_pretrained(d)
    return d


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp('families')
    return lambda name: tiny(name, root)


def recipe(folder, out, quant: bool):
    from peftbench.recipe import Recipe
    r = Recipe()
    r.model.name, r.training.output_dir = str(folder), str(out)
    r.training.max_steps, r.training.batch_size, r.data.max_length, r.data.max_examples = 2, 2, 32, 16
    if quant: r.quantization.mode, r.adapter.method = '4bit', 'qlora'
    return r


@pytest.mark.parametrize('quant', [False, True], ids=['lora', 'qlora'])
@pytest.mark.parametrize('model_type', sorted(FAMILIES))
def test_family_trains_generates_compares_merges(models, tmp_path, model_type, quant):
    import torch
    from transformers import AutoModelForCausalLM
    from peftbench.compare import compare
    from peftbench.export import merge
    from peftbench.load import generate
    from peftbench.memory import attn_used, estimate
    from peftbench.train import Run
    warnings.filterwarnings('ignore')
    folder = models(FAMILIES[model_type])
    r = recipe(folder, tmp_path / 'run', quant)
    assert r.validate() == [], r.validate()
    run = Run(r, overwrite=True).train()
    assert run.status == 'finished', (run.status, run.error)
    model, tok = run.model, run.tokenizer
    assert model.config._attn_implementation == attn_used(r), 'the estimator must follow the attention really used'
    assert estimate(r).peak_allocated_bytes > 0
    losses = [e['loss'] for e in run.events if e['event'] == 'train']
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    out = generate(model, tok, ['def add(a, b):'], max_new_tokens=4)
    assert len(out) == 1 and isinstance(out[0], str)
    c = compare(model, tok, ['def add(a, b):'], max_new_tokens=4)
    assert len(c.rows) == 1 and {'base', 'adapted'} <= set(c.rows[0]), c.rows
    m = merge(run.out, tmp_path / 'merged')
    merged = AutoModelForCausalLM.from_pretrained(m.path)
    assert merged.config.model_type == model_type and not hasattr(merged, 'peft_config')
    ids = tok('def add', return_tensors='pt').input_ids
    assert torch.isfinite(merged(ids).logits).all()


def test_gemma2_sdpa_refused_auto_loads(models, tmp_path):
    "Gemma-2 with 'sdpa' does not load (transformers refuses it, as on the H200): the default 'auto' picks eager."
    from peftbench.load import load_base
    from peftbench.memory import attn_used
    r = recipe(models(FAMILIES['gemma2']), tmp_path / 'run', False)
    assert r.model.attn_implementation == 'auto' and attn_used(r) == 'eager'
    r.model.attn_implementation = 'sdpa'
    with pytest.raises(Exception, match='does not support an attention implementation'): load_base(r)
