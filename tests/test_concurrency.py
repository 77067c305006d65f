"Concurrency guarantees of issue 13: a second run or a comparison while a run trains is refused with a message and the running run finishes correctly; a run folder is locked against other processes."
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('HF_DATASETS_OFFLINE', '1')


def recipe(out, steps=10):
    from peftbench.pico import demo_recipe
    r = demo_recipe(out, steps=steps)
    r.training.logging_steps, r.training.save_steps = 1, 4
    r.data.max_examples, r.data.max_length, r.training.batch_size = 32, 32, 2
    return r


def test_second_run_and_compare_while_training(tmp_path):
    from peftbench.train import Run, RunError, training
    from peftbench.recipe import Hardware
    from peftbench.compare import compare
    from safetensors.numpy import load_file
    import numpy as np
    a = Run(recipe(tmp_path / 'a'), Hardware()).start()
    deadline = time.time() + 240
    while not any(e['event'] == 'train' and e['step'] >= 2 for e in a.events):
        assert a.status in ('starting', 'running') and time.time() < deadline, a.events[-1:]
        time.sleep(0.05)
    assert training(a.model) is a
    b = Run(recipe(tmp_path / 'b'), Hardware())
    with pytest.raises(RunError, match=r"another run is training in this process \(folder '.*a'\); wait\(\) for it or stop\(\) it first"): b.prepare()
    with pytest.raises(RunError, match='another run is training in this process'): b.start()
    with pytest.raises(RunError, match=r"this model is training in run '.*a'; compare it once the run ends"):
        compare(a.model, a.tokenizer, ['Q: hi\nA:'], max_new_tokens=2)
    assert not (tmp_path / 'b').exists()  # the refused run touched nothing
    a.wait(timeout=240)
    assert (a.status, a.events[-1]['step']) == ('finished', 10), a.events[-1]
    assert training() is None
    b.train()  # once the first has ended, the second trains; both equal, bit for bit
    wa, wb = (load_file(tmp_path / d / 'adapter' / 'adapter_model.safetensors') for d in ('a', 'b'))
    assert set(wa) == set(wb) and all(np.array_equal(wa[k], wb[k]) for k in wa)
    c = compare(a.model, a.tokenizer, ['Q: hi\nA:'], max_new_tokens=2)  # and compare works again
    assert len(c.rows) == 1


def test_folder_locked_by_another_process(tmp_path):
    from peftbench.train import Run, RunError
    from peftbench.recipe import Hardware
    out = tmp_path / 'run'; out.mkdir()
    holder = subprocess.Popen([sys.executable, '-c', f"from peftbench.train import _FolderLock; held = _FolderLock({str(out)!r}).acquire().own(); print('locked', flush=True); import time; time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        with pytest.raises(RunError, match=rf"run folder '{out}' is in use by another process \(pid {holder.pid}\); wait for that run to end"):
            Run(recipe(out), Hardware(), overwrite=True).prepare()
    finally:
        holder.send_signal(signal.SIGKILL); holder.wait(timeout=30)
    run = Run(recipe(out, steps=2), Hardware(), overwrite=True).prepare()  # the kernel released the dead holder's lock
    assert (out / '.peftbench.lock').read_text().strip() == str(os.getpid())
    run.train()
    assert run.status == 'finished'
