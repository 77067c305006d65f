"Issue 14 (H2): one builder of meta-device models; the estimator reads METHODS; its cheap parts equal its terms; its figures unchanged."
import ast, copy, os, re
from pathlib import Path

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

from peftbench.recipe import Recipe, QUANT_MODES
from peftbench.translate import METHODS
from peftbench import memory, meta

PKG = Path(memory.__file__).parent
MODELS = ('Qwen/Qwen2.5-0.5B', 'meta-llama/Llama-3.2-1B', 'google/gemma-2-2b', 'microsoft/Phi-3.5-mini-instruct')


def rec(name, **kw):
    "A recipe for `name` with settings given as `section__field=value`."
    r = Recipe(); r.model.name = name
    for k, v in kw.items():
        s, f = k.split('__'); setattr(getattr(r, s), f, v)
    return r


# The estimator's figures before issue 14 (peak allocated, total, trainable), for every method on four configurations.
GOLDEN = {
    ('meta-llama/Llama-3.2-1B', 'lora', 'none', True, 'H200'): (3975090176, 4698132684, 11272192),
    ('meta-llama/Llama-3.2-1B', 'qlora', 'none', True, 'H200'): (3975090176, 4698132684, 11272192),
    ('meta-llama/Llama-3.2-1B', 'dora', 'none', True, 'H200'): (4856221696, 5623320780, 11649024),
    ('meta-llama/Llama-3.2-1B', 'adalora', 'none', True, 'H200'): (3975111680, 4698155264, 11273984),
    ('meta-llama/Llama-3.2-1B', 'ia3', 'none', True, 'H200'): (3528888320, 4229620736, 147456),
    ('meta-llama/Llama-3.2-1B', 'loha', 'none', True, 'H200'): (15499759616, 16799035596, 22544384),
    ('meta-llama/Llama-3.2-1B', 'lokr', 'none', True, 'H200'): (3745943552, 4457528729, 409600),
    ('meta-llama/Llama-3.2-1B', 'vera', 'none', True, 'H200'): (3837027328, 4553166694, 378624),
    ('meta-llama/Llama-3.2-1B', 'prefix_tuning', 'none', True, 'H200'): (3388444672, 4082154905, 327680),
    ('meta-llama/Llama-3.2-1B', 'prompt_tuning', 'none', True, 'H200'): (3418399616, 4113607596, 40960),
    ('meta-llama/Llama-3.2-1B', 'full', 'none', True, 'H200'): (12425252864, 13570803507, 1235814400),
    ('meta-llama/Llama-3.2-1B', 'lora', '4bit', False, 'T4'): (15084601344, 16363119411, 11272192),
    ('meta-llama/Llama-3.2-1B', 'qlora', '4bit', False, 'T4'): (15084601344, 16363119411, 11272192),
    ('meta-llama/Llama-3.2-1B', 'dora', '4bit', False, 'T4'): (23444176896, 25140673740, 11649024),
    ('meta-llama/Llama-3.2-1B', 'adalora', '4bit', False, 'T4'): (15084612096, 16363130700, 11273984),
    ('meta-llama/Llama-3.2-1B', 'ia3', '4bit', False, 'T4'): (12184600576, 13318118604, 147456),
    ('meta-llama/Llama-3.2-1B', 'loha', '4bit', False, 'T4'): (25203884032, 26988366233, 22544384),
    ('meta-llama/Llama-3.2-1B', 'lokr', '4bit', False, 'T4'): (15407398912, 16702056857, 409600),
    ('meta-llama/Llama-3.2-1B', 'vera', '4bit', False, 'T4'): (18107296256, 19536949068, 378624),
    ('meta-llama/Llama-3.2-1B', 'prefix_tuning', '4bit', False, 'T4'): (10977722368, 12050896486, 327680),
    ('meta-llama/Llama-3.2-1B', 'prompt_tuning', '4bit', False, 'T4'): (11323616512, 12414085337, 40960),
    ('meta-llama/Llama-3.2-1B', 'full', '4bit', False, 'T4'): (26040139776, 27866434764, 1235814400),
    ('microsoft/Phi-3.5-mini-instruct', 'lora', '8bit', True, 'H200'): (16205983744, 17540570931, 25165824),
    ('microsoft/Phi-3.5-mini-instruct', 'qlora', '8bit', True, 'H200'): (16205983744, 17540570931, 25165824),
    ('microsoft/Phi-3.5-mini-instruct', 'dora', '8bit', True, 'H200'): (17400967168, 18795303526, 26181632),
    ('microsoft/Phi-3.5-mini-instruct', 'adalora', '8bit', True, 'H200'): (16205996032, 17540583833, 25167872),
    ('microsoft/Phi-3.5-mini-instruct', 'ia3', '8bit', True, 'H200'): (15919394816, 17239652556, 557056),
    ('microsoft/Phi-3.5-mini-instruct', 'loha', '8bit', True, 'H200'): (59679420416, 63187679436, 50331648),
    ('microsoft/Phi-3.5-mini-instruct', 'lokr', '8bit', True, 'H200'): (16323866624, 17664347955, 860160),
    ('microsoft/Phi-3.5-mini-instruct', 'vera', '8bit', True, 'H200'): (16255606784, 17592675123, 1017856),
    ('microsoft/Phi-3.5-mini-instruct', 'prefix_tuning', '8bit', True, 'H200'): (15797039104, 17111179059, 3932160),
    ('microsoft/Phi-3.5-mini-instruct', 'prompt_tuning', '8bit', True, 'H200'): (16207307648, 17541961030, 61440),
    ('microsoft/Phi-3.5-mini-instruct', 'full', '8bit', True, 'H200'): (35052490752, 37329403289, 3821079552),
    ('google/gemma-2-2b', 'lora', 'none', False, None): (27431461376, 29327322444, 20766720),
    ('google/gemma-2-2b', 'qlora', 'none', False, None): (27431461376, 29327322444, 20766720),
    ('google/gemma-2-2b', 'dora', 'none', False, None): (43515122176, 46215166284, 21472256),
    ('google/gemma-2-2b', 'adalora', 'none', False, None): (27431496320, 29327359136, 20769632),
    ('google/gemma-2-2b', 'ia3', 'none', False, None): (24421671424, 26167042995, 319488),
    ('google/gemma-2-2b', 'loha', 'none', False, None): (49480180224, 52478477235, 41533440),
    ('google/gemma-2-2b', 'lokr', 'none', False, None): (28834257408, 30800258278, 858624),
    ('google/gemma-2-2b', 'vera', 'none', False, None): (32971692672, 35144565305, 708448),
    ('google/gemma-2-2b', 'prefix_tuning', 'none', False, None): (19850437120, 21367246976, 1064960),
    ('google/gemma-2-2b', 'prompt_tuning', 'none', False, None): (20502081280, 22051473344, 46080),
    ('google/gemma-2-2b', 'full', 'none', False, None): (38779053568, 41242294246, 2614341888),
}

@pytest.mark.parametrize('key', list(GOLDEN), ids=lambda k: '-'.join(str(x) for x in k))
def test_figures_unchanged(key):
    mdl, meth, q, gc, gpu = key
    e = memory.estimate(rec(mdl, adapter__method=meth, quantization__mode=q, training__gradient_checkpointing=gc,
                            training__optimizer='adamw_torch'), gpu)  # the default when the figures were taken
    assert (e.peak_allocated_bytes, e.total_bytes, e.trainable_params) == GOLDEN[key]


@pytest.mark.parametrize('mdl', MODELS)
def test_cheap_parts_are_the_estimates_terms(mdl):
    "weight_bytes and trainable give the estimate's own numbers, without a full estimate."
    for meth in METHODS:
        for gpu in (None, 'T4', 'cpu'):
            r = rec(mdl, adapter__method=meth)
            wb = memory.weight_bytes(r, gpu)
            assert set(wb) == set(QUANT_MODES)
            for mode in QUANT_MODES:
                c = copy.deepcopy(r); c.quantization.mode = mode
                assert wb[mode] == memory.estimate(c, gpu).terms['weights'], (meth, gpu, mode)
        assert memory.trainable(r) == memory.estimate(r).trainable_params, meth


def test_no_method_lists():
    "The estimator and the meta builder read METHODS' columns, not lists of method names."
    for m in ('memory.py', 'meta.py'):
        src = (PKG / m).read_text()
        assert not re.search(r'LORA_FAMILY|PROMPT_METHODS', src), m
        tuples = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Tuple)
                  and sum(isinstance(e, ast.Constant) and e.value in METHODS for e in n.elts) >= 2]
        assert not tuples, (m, [ast.unparse(t) for t in tuples])


def test_layering_and_size():
    "meta imports only modules that sort before it; memory builds its models through meta; both under 500 lines."
    for m, allowed in (('meta.py', {'recipe', 'translate', 'catalog'}), ('memory.py', {'recipe', 'translate', 'catalog', 'meta'})):
        src = (PKG / m).read_text()
        used = set(re.findall(r'^from \.(\w+) import', src, flags=re.M)) | set(re.findall(r'from peftbench\.(\w+) import', src))
        assert used <= allowed, (m, used - allowed)
        assert len(src.splitlines()) <= 500, m
    assert 'from_config' not in (PKG / 'memory.py').read_text()  # no second builder


@pytest.mark.parametrize('init', ['default', 'pissa', 'olora'])
def test_meta_model_builds_weight_initialised_adapters(init):
    "PiSSA and OLoRA read the weights a meta model lacks: the builder still builds them, with the default's shapes."
    r = rec('HuggingFaceTB/SmolLM2-135M', adapter__init=init)
    model = meta.meta_model(r)
    assert all(p.device.type == 'meta' for p in model.parameters())
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == memory.trainable(r)


def test_count_params_everywhere():
    "count_params is meta's, re-exported by memory; trainable agrees with it for every method on a catalog model."
    assert memory.count_params is meta.count_params
    for meth in METHODS:
        if meth == 'qlora': continue  # lora's adapter on a 4-bit base
        r = rec('HuggingFaceTB/SmolLM2-135M', adapter__method=meth, training__max_steps=100,
                adapter__target_modules='all-linear' if METHODS[meth].targets and meth != 'ia3' else 'auto')
        assert meta.count_params(r)[1] == memory.trainable(r), meth


# Issue 17 (H6): the fused loss and activation offloading through the recipe, in the estimator's terms.
@pytest.mark.parametrize('gc', [False, True])
def test_offload_moves_all_but_two_layers_to_host(gc):
    "TRL's activation offloading: the GPU keeps two layers' saved tensors (in backward, prefetched); the rest is in host RAM."
    base = rec('meta-llama/Llama-3.2-1B', training__gradient_checkpointing=gc, training__batch_size=4, data__max_length=1024)
    off = copy.deepcopy(base); off.training.offload_activations = True
    st0, st1 = memory._step(base, 'H200'), memory._step(off, 'H200')
    s0, s1 = memory._saved(st0), memory._saved(st1)
    per_layer = st0.stream * st0.arch.hidden_size * st0.tokens if gc else s0['layer']
    assert s1['host'] == (st0.arch.num_layers - 2) * per_layer > 0 and s0['host'] == 0
    assert s0['total'] - s1['total'] == s1['host']
    e0, e1 = memory.estimate(base, 'H200'), memory.estimate(off, 'H200')
    assert e1.peak_allocated_bytes < e0.peak_allocated_bytes
    assert e1.terms['weights'] == e0.terms['weights'] and e1.terms['optimizer'] == e0.terms['optimizer']
    assert any('host RAM' in n for n in e1.notes) and not any('host RAM' in n for n in e0.notes)


def test_offload_is_suggested_after_checkpointing():
    "With checkpointing on, offloading is one of the changes, with the bytes it saves; without, checkpointing comes first."
    r = rec('meta-llama/Llama-3.2-1B', training__gradient_checkpointing=True, training__batch_size=16, data__max_length=2048)
    saved = dict(memory.suggestions(r, 'T4'))
    key = next(s for s in saved if 'offload_activations' in s)
    assert saved[key] > 0
    r.training.gradient_checkpointing = False
    assert not any('offload_activations' in s for s, _ in memory.changes(r))


def test_cce_drops_the_logit_tiles():
    "Cut Cross-Entropy keeps no logit tiles: the logits term shrinks by at least one tile of tokens x vocabulary."
    r = rec('meta-llama/Llama-3.2-1B', training__batch_size=8, data__max_length=1024)
    c = copy.deepcopy(r); c.training.fused_loss = 'cce'
    st = memory._step(r, 'H200')
    f0, b0 = memory._head(st)
    f1, b1 = memory._head(memory._step(c, 'H200'))
    tile = min(st.tokens, memory.LOGIT_TILE[0]) * min(st.arch.vocab_size, memory.LOGIT_TILE[1]) * st.compute
    assert f0 - f1 >= tile and b0 - b1 >= tile
    assert memory.estimate(c, 'H200').peak_allocated_bytes <= memory.estimate(r, 'H200').peak_allocated_bytes


def test_defaults_leave_the_pins_alone():
    "The new fields default to what TRL does without them: the chunked loss, no offloading."
    from peftbench.recipe import TrainSpec
    assert (TrainSpec().fused_loss, TrainSpec().offload_activations) == ('chunked', False)
