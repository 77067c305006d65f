"""The bad-input corpus (issue 13) as figures: how many cases, how many pass, per category.

    python bench/bad_inputs.py            -> bench/results/bad_inputs.json

Runs `pytest tests/test_bad_inputs.py tests/test_bad_data.py` (whichever exist) with a JUnit XML report and counts
its test cases. A case passes when peftbench refuses the bad input as the issue asks: a non-zero exit status (or the
expected exception), no traceback, at most 3 lines, the field or file named, and an earlier run's files unchanged.
A category is the test function (and file) a case belongs to: recipe files, recipe dicts, API calls, command lines...
"""
import datetime, json, os, subprocess, sys, tempfile, time
import xml.etree.ElementTree as ET
from collections import Counter
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = [f for f in ('tests/test_bad_inputs.py', 'tests/test_bad_data.py') if (ROOT / f).is_file()]
PACKAGES = ('peftbench', 'torch', 'transformers', 'peft', 'trl', 'datasets', 'accelerate', 'bitsandbytes', 'pyyaml', 'pytest')


def version(p):
    try: return metadata.version(p)
    except metadata.PackageNotFoundError: return None


def outcome(case) -> str:
    if case.find('failure') is not None: return 'failed'
    if case.find('error') is not None: return 'error'
    if case.find('skipped') is not None: return 'skipped'
    return 'passed'


def main():
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1', 'PYTHONWARNINGS': 'ignore'}
    with tempfile.TemporaryDirectory() as d:
        xml = Path(d) / 'junit.xml'
        t0 = time.time()
        p = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', f'--junitxml={xml}', *FILES],
                           cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = round(time.time() - t0, 1)
        if not xml.is_file(): sys.exit(f'pytest wrote no report (exit {p.returncode}):\n{p.stdout[-3000:]}{p.stderr[-3000:]}')
        cases = list(ET.parse(xml).getroot().iter('testcase'))
    per, total, failed = {}, Counter(), []
    for c in cases:
        test = c.get('name').split('[')[0]
        cat = f"{c.get('classname').split('.')[-1]}::{test}"
        o = outcome(c)
        per.setdefault(cat, Counter())[o] += 1
        total[o] += 1
        if o in ('failed', 'error'): failed.append(f"{c.get('classname').split('.')[-1]}::{c.get('name')}")
    from peftbench.cli import machine
    out = {'benchmark': 'bad-input corpus (issue 13)', 'command': 'python bench/bad_inputs.py', 'files': FILES,
           'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
           'total': len(cases), 'passed': total['passed'], 'failed': total['failed'] + total['error'], 'skipped': total['skipped'],
           'seconds': seconds, 'categories': {k: dict(sorted(v.items())) for k, v in sorted(per.items())},
           'failed_cases': failed, 'machine': machine(), 'packages': {k: version(k) for k in PACKAGES}}
    (ROOT / 'bench/results').mkdir(parents=True, exist_ok=True)
    (ROOT / 'bench/results/bad_inputs.json').write_text(json.dumps(out, indent=1) + '\n')
    print(f"{out['total']} cases: {out['passed']} passed, {out['failed']} failed, {out['skipped']} skipped in {seconds} s")
    for k, v in out['categories'].items(): print(f'  {k}: {v}')
    for f in failed: print(f'  FAILED {f}')


if __name__ == '__main__': main()
