"Issue 14 (H1): every recipe problem knows a real field; the recipe's translations are peftbench.translate's; the script is its source."
import dataclasses, importlib.util, os
from pathlib import Path

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')

from peftbench import translate
from peftbench.recipe import Recipe, RecipeError, Hardware, Problem, _PARTS

CPU, T4, H100 = Hardware(), Hardware('Tesla T4', cuda=True, bf16=False), Hardware('H100', cuda=True, bf16=True)
PATHS = set(_PARTS) | {f'{s}.{f.name}' for s, cls in _PARTS.items() for f in dataclasses.fields(cls)}


def _bad_inputs():
    "The recipe cases of tests/test_bad_inputs.py: (id, YAML text or a dict)."
    spec = importlib.util.spec_from_file_location('bad_inputs', Path(__file__).parent / 'test_bad_inputs.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return [(i, text) for i, text, _ in m.YAML_FIELDS] + [(i, d) for i, d, _ in m.DICTS]

CASES = _bad_inputs()
NO_FIELD = {'section-typo', 'section-twice', 'key-twice', 'yaml-python-tag', 'not-a-mapping', 'string'}  # the file or mapping as a whole


def problems(case) -> list:
    "The problems a case gives: from reading it, else from validating it on the CPU."
    try: r = Recipe.from_text(case, name='r.yaml') if isinstance(case, str) else Recipe.from_dict(case)
    except RecipeError as e: return e.problems
    return r.validate(CPU)


@pytest.mark.parametrize('case', [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_problem_fields(case):
    "Every problem of a bad input is a `Problem` whose field is a real recipe path, named (or its last part) in the sentence."
    ps = problems(case)
    assert ps
    for p in ps:
        assert isinstance(p, Problem), p
        if p.field is None: continue
        assert p.field in PATHS, (p.field, p)
        assert p.field in p or p.field.split('.')[-1] in p, (p.field, p)


def test_no_field_only_for_the_whole_file():
    for i, case in CASES:
        if any(p.field is None for p in problems(case)): assert i in NO_FIELD, i


COMBINATIONS = [  # (changes, hardware, the field of the one problem)
    ({'adapter': {'method': 'full'}, 'quantization': {'mode': '4bit'}}, CPU, 'quantization.mode'),
    ({'adapter': {'method': 'qlora'}}, CPU, 'quantization.mode'),
    ({'adapter': {'method': 'ia3', 'init': 'pissa'}}, CPU, 'adapter.init'),
    ({'adapter': {'init': 'loftq'}}, CPU, 'adapter.init'),
    ({'adapter': {'init': 'olora'}, 'quantization': {'mode': '8bit'}}, CPU, 'quantization.mode'),
    ({'adapter': {'method': 'vera', 'rslora': True}}, CPU, 'adapter.rslora'),
    ({'adapter': {'method': 'prompt_tuning', 'modules_to_save': ['lm_head']}}, CPU, 'adapter.modules_to_save'),
    ({'adapter': {'method': 'loha', 'loraplus_ratio': 16}}, CPU, 'adapter.loraplus_ratio'),
    ({'adapter': {'method': 'adalora'}}, CPU, 'training.max_steps'),
    ({'adapter': {'method': 'prefix_tuning'}, 'training': {'gradient_checkpointing': True}}, CPU, 'training.gradient_checkpointing'),
    ({'adapter': {'method': 'prompt_tuning'}, 'data': {'packing': True}}, CPU, 'data.packing'),
    ({'training': {'precision': 'bf16'}}, T4, 'training.precision'),
    ({'adapter': {'method': 'full'}, 'model': {'dtype': 'float16'}}, T4, 'model.dtype'),
    ({'training': {'precision': 'fp16'}}, CPU, 'training.precision'),
    ({'training': {'optimizer': 'paged_adamw_8bit'}}, CPU, 'training.optimizer'),
    ({'data': {'eval_fraction': 0.1, 'eval_split': 'test'}}, CPU, 'data.eval_split'),
    ({'training': {'eval_steps': 5}}, CPU, 'data.eval_fraction'),
    ({'data': {'eval_fraction': 0.1}, 'training': {'early_stopping_patience': 2}}, CPU, 'training.eval_steps'),
    ({'data': {'eval_fraction': 0.1}, 'training': {'early_stopping_patience': 2, 'eval_steps': 10, 'save_steps': 25}}, CPU,
     'training.save_steps'),
    ({'training': {'probe_steps': 5}}, CPU, 'training.probe_prompts'),
    ({'model': {'attn_implementation': 'flash_attention_2'}}, CPU, 'model.attn_implementation'),
    ({'training': {'liger_kernel': True}}, CPU, 'training.liger_kernel'),
    ({'data': {'packing': True}, 'training': {'group_by_length': True}}, CPU, 'training.group_by_length'),
    ({'adapter': {'method': 'adalora', 'r': 4, 'target_r': 8}, 'training': {'max_steps': 10}}, CPU, 'adapter.target_r'),
]


@pytest.mark.parametrize('changes, hw, field', [c for c in COMBINATIONS], ids=[c[2] + '-' + str(i) for i, c in enumerate(COMBINATIONS)])
def test_combination_fields(changes, hw, field):
    "A combination problem names the field its sentence tells the user to set."
    ps = Recipe.from_dict(changes).validate(hw)
    assert [p.field for p in ps] == [field], ps
    assert field in ps[0] or field.split('.')[-1] in ps[0], ps[0]


def test_fused_adamw_is_allowed_on_the_cpu():
    "Fused AdamW (the Trainer's and TRL's default, and peftbench's) runs on CPUs too: no problem, and the Trainer gets it."
    r = Recipe()
    assert r.training.optimizer == 'adamw_torch_fused' and not r.validate(CPU), r.validate(CPU)
    assert r.sft_config(CPU).optim == 'adamw_torch_fused'


def _recipes():
    for m in translate.METHODS:
        for mode in translate.METHODS[m].quant:
            r = Recipe.from_dict({'adapter': {'method': m}, 'quantization': {'mode': mode}, 'training': {'max_steps': 10}})
            yield f'{m}-{mode}', r


@pytest.mark.parametrize('r', [r for _, r in _recipes()], ids=[i for i, _ in _recipes()])
def test_recipe_translates_through_translate(r):
    "The recipe's library objects are translate's, on every machine."
    d = r.to_dict()
    got, want = r.peft_config(), translate.peft_config(d)
    assert (got.to_dict() if got else None) == (want.to_dict() if want else None)
    for hw in (CPU, T4, H100):
        b, w = r.bnb_config(hw), translate.bnb_config(d, hw.cuda, hw.bf16)
        assert (b.to_dict() if b else None) == (w.to_dict() if w else None)
        assert r.resolved_dtype(hw) == translate.resolved_dtype(d, hw.cuda, hw.bf16)
        assert r.resolved_precision(hw) == translate.resolved_precision(d, hw.cuda, hw.bf16)
    assert r.resolved_targets() == translate.resolved_targets(d)


def test_sft_config_overrides_bf16():
    "Recipe.sft_config takes SFTConfig's own bf16 as an override (the data module's tokenizing pass does)."
    s = Recipe().sft_config(CPU, bf16=False, fp16=False, use_cpu=True)
    assert (s.bf16, s.fp16, s.use_cpu) == (False, False, True)
    assert translate.sft_args(Recipe().to_dict(), False, True)['use_cpu'] is True


def test_script_is_translate(tmp_path):
    "The exported script holds translate's functions as they are, and no string of code lives in export."
    from peftbench import export
    from peftbench.pico import demo_recipe
    text = export.script(demo_recipe(tmp_path / 'run', 5))
    import inspect
    for name in ('where', 'peft_config', 'sft_args', 'load_data', 'model_kwargs', 'prepare_model', 'callbacks', 'main'):
        assert inspect.getsource(getattr(translate, name)) in text, name
    assert '__all__' not in text and '# %%' not in text and text.rstrip().endswith('main(RECIPE)')
    assert not hasattr(export, '_TEMPLATE') and not hasattr(export, 'events')


def test_best_quant():
    assert Recipe().best_quant(CPU) is None
    assert Recipe.from_dict({'adapter': {'method': 'qlora'}}).best_quant(CPU) == '4bit'
    assert Recipe.from_dict({'adapter': {'method': 'full'}, 'quantization': {'mode': '4bit'}}).best_quant(CPU) == 'none'
