"""Fault injection: kill -9, SIGTERM and SIGINT at many points of a pico run, then resume; every run ends with the
adapter of an uninterrupted run (bit for bit) and a loss curve with each step once.

One driver process imports the libraries once and forks a child per run (so the ~17 scenarios fit in a few minutes
on 2 cores). A child dies at an exact point through the test-only hook `PEFTBENCH_FAULT=point:step:action` that
`peftbench.train` reads, or the driver signals it from outside once the log shows step 3.
Run alone: `python tests/test_faults.py OUTDIR` prints one JSON result per scenario."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

STEPS = 6  # save every 2 steps, keep 1 checkpoint: every rotation deletes the only other complete checkpoint
SCENARIOS = {  # name: PEFTBENCH_FAULT, or 'ext:STEP:SIGNAL' for a signal sent from outside
    'kill_loading': 'loading::kill', 'kill_before_first_checkpoint': 'step_end:2:kill', 'kill_step3': 'step_end:3:kill',
    'kill_in_save': 'in_save:4:kill', 'kill_before_marker': 'before_marker:4:kill', 'kill_after_marker_before_rotation': 'after_marker:4:kill',
    'kill_in_rotation': 'in_rotate:4:kill', 'kill_torn_log_line': 'in_log:3:kill', 'kill_in_final_save': 'final::kill',
    'term_step3': 'step_end:3:term', 'term_in_save': 'in_save:4:term', 'int_step3': 'step_end:3:int', 'int_in_save': 'in_save:4:int',
    'int_loading': 'loading::int', 'ext_kill': 'ext:3:kill', 'ext_term': 'ext:3:term', 'ext_int': 'ext:3:int', 'ext_int_twice': 'ext:3:int2',
}
SIGS = {'kill': signal.SIGKILL, 'term': signal.SIGTERM, 'int': signal.SIGINT, 'int2': signal.SIGINT}  # int2: Ctrl-C twice


def recipe(out):
    from peftbench.pico import demo_recipe
    r = demo_recipe(out, steps=STEPS)
    r.training.logging_steps, r.training.save_steps, r.training.save_total_limit = 1, 2, 1
    r.data.max_examples, r.data.max_length, r.training.batch_size = 32, 32, 2
    return r


def fork(fn, logfile, fault=None):
    "Run `fn` in a forked child with its output in `logfile`; returns the pid."
    pid = os.fork()
    if pid: return pid
    code = 0
    try:
        fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644); os.dup2(fd, 1); os.dup2(fd, 2)
        if fault: os.environ['PEFTBENCH_FAULT'] = fault
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a terminal (a shell's background job starts with it ignored)
        import torch; torch.set_num_threads(1)  # many small processes on few cores
        fn()
    except BaseException as e:
        import traceback; traceback.print_exc()
        Path(logfile + '.error').write_text(str(e)); code = 3
    finally: os._exit(code)


def wait(pid, timeout=300):
    "The child's exit code (minus the signal that ended it), or 'timeout' (then it is killed)."
    t = time.time() + timeout
    while time.time() < t:
        p, status = os.waitpid(pid, os.WNOHANG)
        if p: return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
    return 'timeout'


def first_run(out):
    from peftbench.train import Run
    from peftbench.recipe import Hardware
    run = Run(recipe(out), Hardware()).prepare()  # as the CLI does: prepare, then train on the main thread
    run.train()


def resume(out):
    "Continue the run in `out`; where resume refuses (nothing to continue from), start it again as its message says."
    from peftbench.train import Run, RunError
    from peftbench.recipe import Hardware
    try: Run.resume(out, Hardware()).train(); return
    except RunError as e: why = str(e)
    Path(out + '.refused').write_text(why)
    Run(recipe(out), Hardware(), overwrite='overwrite=True' in why).train()


def adapter(out):
    from safetensors.numpy import load_file
    return load_file(f'{out}/adapter/adapter_model.safetensors')


def scenario(base, name, spec, ref):
    "Interrupt a run as `spec` says, resume it, and compare it with the uninterrupted run `ref`."
    from peftbench.train import read_log, curve, folder_state, LOG
    import numpy as np, warnings
    out = f'{base}/{name}'
    t0 = time.time()
    if spec.startswith('ext:'):
        _, at, sig = spec.split(':')
        pid, first = fork(lambda: first_run(out), f'{out}.first.txt'), None
        while first is None and time.time() - t0 < 300:
            p, status = os.waitpid(pid, os.WNOHANG)
            if p: first = 'ended before the signal'; break
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                if any(e['event'] == 'train' and e['step'] >= int(at) for e in read_log(out)):
                    os.kill(pid, SIGS[sig])
                    if sig == 'int2': time.sleep(0.3); os.kill(pid, signal.SIGINT)
                    first = wait(pid)
            time.sleep(0.02)
    else:
        first = wait(fork(lambda: first_run(out), f'{out}.first.txt', fault=spec))
    after_fault = folder_state(out)
    traceback_shown = 'Traceback' in Path(f'{out}.first.txt').read_text(errors='replace')
    torn = Path(out, LOG).is_file() and not Path(out, LOG).read_bytes().endswith(b'\n')
    second = wait(fork(lambda: resume(out), f'{out}.resume.txt'))
    refused = Path(out + '.refused').read_text() if Path(out + '.refused').exists() else None
    first_error = Path(f'{out}.first.txt.error').read_text() if Path(f'{out}.first.txt.error').exists() else None
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the log must parse without a skipped line
        try: ev, bad_log = read_log(out, strict=True), None
        except Exception as e: ev, bad_log = read_log(out), str(e)
    end = ev[-1] if ev else {}
    same = Path(out, 'adapter').is_dir() and all(np.array_equal(a, b) for a, b in zip(*(adapter(o) for o in (out, ref)))) \
        and set(adapter(out)) == set(adapter(ref))
    ref_curve = curve(read_log(ref))
    return dict(scenario=name, fault=spec, first_exit=first, first_error=first_error, traceback_shown=traceback_shown, state_after_fault=after_fault['status'], step_after_fault=after_fault['trained'],
                checkpoint_after_fault=after_fault['checkpoint'] and Path(after_fault['checkpoint']).name, torn_line=torn,
                resume_refused=refused, resume_exit=second, end=end.get('status'), end_step=end.get('step'), log_error=bad_log,
                repaired=[e['line'] for e in ev if e['event'] == 'repair'], adapter_equal=bool(same),
                curve_continuous=[s for s, _ in curve(ev)] == list(range(1, STEPS + 1)), curve_equal=curve(ev) == ref_curve,
                checkpoints=sorted(p.name for p in Path(out).glob('checkpoint-*')), seconds=round(time.time() - t0, 1))


def passed(r) -> bool:
    "What every scenario must show."
    ok = r['resume_exit'] == 0 and r['end'] == 'finished' and r['end_step'] == STEPS and r['log_error'] is None
    ok = ok and r['adapter_equal'] and r['curve_continuous'] and r['curve_equal'] and r['checkpoints'] == [f'checkpoint-{STEPS}']
    if r['torn_line']: ok = ok and len(r['repaired']) == 1
    if r['fault'].split(':')[2] in ('term', 'int', 'int2') and r['fault'] != 'loading::int': ok = ok and r['first_exit'] == 0 and not r['traceback_shown']
    if r['first_error']: ok = ok and '\n' not in r['first_error'] and r['fault'] == 'loading::int'  # Ctrl-C while loading: one sentence
    if r['resume_refused']:  # only where nothing complete was left to continue from, and said so
        ok = ok and r['checkpoint_after_fault'] is None and ('no complete checkpoint' in r['resume_refused'] or 'not a run folder' in r['resume_refused'])
    return ok


def drive(base, names=None):
    "Run the reference and the scenarios; yields one result dict each."
    import peftbench.train, peftbench.data, peftbench.load, peftbench.pico, trl, peft, safetensors.numpy, numpy  # noqa: import once, before forking
    from trl import SFTTrainer  # noqa
    os.makedirs(base, exist_ok=True)
    ref = f'{base}/reference'
    assert wait(fork(lambda: first_run(ref), f'{ref}.txt')) == 0, Path(f'{ref}.txt').read_text()[-3000:]
    for name, spec in SCENARIOS.items():
        if names and name not in names: continue
        r = scenario(base, name, spec, ref)
        r['passed'] = passed(r)
        yield r


if __name__ == '__main__':
    os.environ.update(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', TOKENIZERS_PARALLELISM='false', PYTHONWARNINGS='ignore')
    for r in drive(sys.argv[1], sys.argv[2:]): print(json.dumps(r), flush=True)


# ---- pytest ----
import pytest

@pytest.fixture(scope='module')
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp('faults')
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false', 'PYTHONWARNINGS': 'ignore'}
    p = subprocess.run([sys.executable, __file__, str(base)], capture_output=True, text=True, timeout=480, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return {r['scenario']: r for r in map(json.loads, p.stdout.splitlines())}


@pytest.mark.parametrize('name', list(SCENARIOS))
def test_fault(results, name):
    r = results[name]
    assert passed(r), json.dumps(r, indent=1)
