"The exported script as users run it: `peftbench export`, then `accelerate launch` with two processes (CPU, gloo) on pico."
import hashlib, json, os, subprocess, sys
from pathlib import Path

ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore', 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false'}
BIN = Path(sys.executable).parent


def fingerprint(tensors):
    "The exported script's fingerprint: sha256 over the sorted names and float32 bytes."
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode()); h.update(tensors[k].float().contiguous().numpy().tobytes())
    return h.hexdigest()


def test_two_processes_train_one_model(tmp_path):
    from peftbench.pico import demo_recipe
    r = demo_recipe(tmp_path / 'run', steps=4)
    r.training.batch_size, r.training.logging_steps, r.training.save_steps = 4, 1, 1000
    r.save(tmp_path / 'r.yaml')
    p = subprocess.run([str(BIN / 'peftbench'), 'export', 'r.yaml', '--out', 'train.py', '--accelerate', 'cpu'],
                       cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert 'peftbench' not in {l.split()[1].split('.')[0] for l in (tmp_path / 'train.py').read_text().splitlines() if l.startswith(('import ', 'from '))}

    p = subprocess.run([str(BIN / 'accelerate'), 'launch', '--config_file', 'accelerate_cpu.yaml', 'train.py'],
                       cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=170)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    prints = sorted((json.loads(l.split(' ', 1)[1]) for l in p.stdout.splitlines() if l.startswith('fingerprint ')), key=lambda f: f['rank'])
    assert [f['rank'] for f in prints] == [0, 1] and {f['world_size'] for f in prints} == {2}, p.stdout[-2000:]
    assert {f['step'] for f in prints} == {4}
    assert prints[0]['batch'] != prints[1]['batch']  # each process trained on its own share of the data ...
    assert prints[0]['weights'] == prints[1]['weights']  # ... and both hold the same weights: the gradients were averaged
    assert prints[0]['saved'] == str(tmp_path / 'run' / 'adapter') and prints[1]['saved'] is None  # only rank 0 saves

    from safetensors.torch import load_file
    adapter = tmp_path / 'run' / 'adapter'
    assert fingerprint(load_file(adapter / 'adapter_model.safetensors')) == prints[0]['weights']  # the saved adapter is that model
    assert not [f for f in adapter.rglob('*') if f.suffix in ('.bin', '.pt', '.pth', '.pkl')]
    from peftbench.catalog import pico_path
    assert Path(json.loads((adapter / 'adapter_config.json').read_text())['base_model_name_or_path']) == Path(pico_path()).resolve()


def test_pissa_script_saves_plain_lora(tmp_path):
    "A PiSSA recipe exported and run as `python train.py`: the adapter it saves is plain LoRA (twice the rank) on the real base."
    from peftbench.pico import demo_recipe
    r = demo_recipe(tmp_path / 'run', steps=2)
    r.adapter.init, r.training.save_steps = 'pissa', 1000
    r.save(tmp_path / 'r.yaml')
    p = subprocess.run([str(BIN / 'peftbench'), 'export', 'r.yaml', '--out', 'train.py', '--accelerate', 'cpu'],
                       cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    p = subprocess.run([sys.executable, 'train.py'], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=170)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    cfg = json.loads((tmp_path / 'run' / 'adapter' / 'adapter_config.json').read_text())
    assert (cfg['r'], cfg['init_lora_weights']) == (2 * r.adapter.r, True), cfg
    assert (tmp_path / 'run' / 'initial_adapter' / 'adapter_model.safetensors').exists()
