"`peftbench train` as a user runs it: Ctrl-C (SIGINT) stops with a checkpoint, --resume finishes, nothing is overwritten."
import json, os, signal, subprocess, sys, time
from pathlib import Path

ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}
EXE = str(Path(sys.executable).parent / 'peftbench')


def events(out):
    log = Path(out) / 'log.jsonl'
    return [json.loads(l) for l in log.read_text().splitlines()] if log.is_file() else []


def test_sigint_stops_with_checkpoint_then_resume(tmp_path):
    from peftbench.pico import demo_recipe
    r = demo_recipe(tmp_path / 'unused', steps=40)
    r.training.logging_steps, r.training.save_steps = 1, 1000
    r.save(tmp_path / 'r.yaml')
    out = tmp_path / 'run'
    p = subprocess.Popen([EXE, 'train', 'r.yaml', '--out', str(out)], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not any(e['event'] == 'train' and e['step'] >= 3 for e in events(out)):
        assert p.poll() is None and time.time() < deadline, p.communicate()[1][-2000:]
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert f'peftbench train --resume --out {out}' in err and 'Traceback' not in err
    end = events(out)[-1]
    assert end['event'] == 'end' and end['status'] == 'stopped' and 3 <= end['step'] < 40
    assert Path(end['checkpoint']).name == f"checkpoint-{end['step']}"

    p = subprocess.run([EXE, 'train', '--resume', '--out', str(out)], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    ev = events(out)
    assert ev[-1]['status'] == 'finished' and ev[-1]['step'] == 40
    starts = [e for e in ev if e['event'] == 'start']
    assert len(starts) == 2 and starts[1]['resumed_from'] == end['checkpoint']
    steps = [e['step'] for e in ev if e['event'] == 'train']
    assert steps == sorted(steps) and steps[-1] == 40  # the log continues where it stopped

    p = subprocess.run([EXE, 'train', 'r.yaml', '--out', str(out)], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and 'already holds a finished run' in p.stderr and 'Traceback' not in p.stderr


def test_sigterm_stops_like_ctrl_c_and_finished_runs_are_not_resumed(tmp_path):
    "SIGTERM (what schedulers and Colab send) stops with a checkpoint, a log entry and a message; a finished run is not trained past its end."
    from peftbench.pico import demo_recipe
    r = demo_recipe(tmp_path / 'unused', steps=6)
    r.training.logging_steps, r.training.save_steps = 1, 1000
    r.data.max_examples, r.data.max_length, r.training.batch_size = 32, 32, 2
    r.save(tmp_path / 'r.yaml')
    out = tmp_path / 'run'
    p = subprocess.Popen([EXE, 'train', 'r.yaml', '--out', str(out)], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not any(e['event'] == 'train' and e['step'] >= 2 for e in events(out)):
        assert p.poll() is None and time.time() < deadline, p.communicate()[1][-2000:]
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and 'SIGTERM: stopping after this step' in err and 'Traceback' not in err, err[-2000:]
    ev = events(out)
    assert [e['signal'] for e in ev if e['event'] == 'signal'] == ['SIGTERM']
    assert ev[-1]['status'] == 'stopped' and Path(ev[-1]['checkpoint']).name == f"checkpoint-{ev[-1]['step']}"

    p = subprocess.run([EXE, 'train', '--resume', '--out', str(out)], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0 and events(out)[-1]['step'] == 6, p.stderr[-2000:]
    adapter = (out / 'adapter' / 'adapter_model.safetensors').read_bytes()
    p = subprocess.run([EXE, 'train', '--resume', '--out', str(out)], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1 and 'already finished at step 6; to train it further pass max_steps > 6' in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]
    assert (out / 'adapter' / 'adapter_model.safetensors').read_bytes() == adapter and events(out)[-1]['step'] == 6
