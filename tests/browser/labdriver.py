"""A JupyterLab server on 127.0.0.1 and a headless Debian Chromium driven by Playwright, for the browser tests.

No network: the server, the kernel (this venv's python) and the browser all stay on this machine; Chromium is
the system one (/usr/bin/chromium), never a Playwright download.
"""
from __future__ import annotations
import json, os, re, secrets, socket, subprocess, sys, time, urllib.request
from pathlib import Path

CHROMIUM = os.environ.get('PEFTBENCH_CHROMIUM', '/usr/bin/chromium')
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                 '--disable-component-update', '--no-first-run']

# Console messages that are harmless noise (matched as regular expressions against the message text).
IGNORED_CONSOLE = [
    r'favicon\.ico',                            # no favicon at some routes
    r'Failed to load resource: .*404',          # optional lab resources probed by JupyterLab (e.g. missing workspace/translations)
    r'/api/(translations|workspaces|lsp|nbconvert|kernelspecs)',  # optional server endpoints JupyterLab probes
    r'Language pack .* not installed',
]
# Uncaught page errors that are harmless (none known so far).
IGNORED_PAGE_ERRORS: list[str] = []
# Console errors that mean a widget did not render: these fail the test like uncaught errors.
WIDGET_FAILURES = [r'Could not create (a )?view', r'Failed to (load|create) (model|widget|view)', r'No version of module', r'Class \S+ not found in module',
                   r'Error (rendering|displaying) (output|widget)', r'Cannot read propert(y|ies) of (undefined|null)']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def _settings(d: Path):
    "User settings that keep the lab quiet and every cell rendered (no windowing, no news, no update checks)."
    put = lambda plugin, name, v: ((d / plugin).mkdir(parents=True, exist_ok=True), (d / plugin / name).write_text(json.dumps(v)))
    put('@jupyterlab/notebook-extension', 'tracker.jupyterlab-settings', {'windowingMode': 'none'})
    put('@jupyterlab/apputils-extension', 'notification.jupyterlab-settings', {'fetchNews': 'false', 'checkForUpdates': False})


class Lab:
    "A JupyterLab server serving `root`, with its own Jupyter dirs under `home` and a `python3` kernelspec for this python."
    def __init__(self, root: Path, home: Path, log: Path | None = None):
        self.root, self.home, self.port, self.token = Path(root), Path(home), free_port(), secrets.token_hex(16)
        self.url = f'http://127.0.0.1:{self.port}'
        self.log_path = log or self.home / 'lab.log'
        self.proc = None

    def start(self, timeout: float = 90):
        h = self.home
        for d in ('data/kernels/python3', 'config', 'runtime', 'settings', 'workspaces', 'ipython'): (h / d).mkdir(parents=True, exist_ok=True)
        (h / 'data/kernels/python3/kernel.json').write_text(json.dumps({
            'argv': [sys.executable, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
            'display_name': 'Python 3 (peftbench venv)', 'language': 'python', 'metadata': {'debugger': False}}))
        _settings(h / 'settings')
        env = {**os.environ, 'JUPYTER_DATA_DIR': str(h / 'data'), 'JUPYTER_CONFIG_DIR': str(h / 'config'),
               'JUPYTER_RUNTIME_DIR': str(h / 'runtime'), 'IPYTHONDIR': str(h / 'ipython'),
               'JUPYTER_PLATFORM_DIRS': '1', 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1',
               'TOKENIZERS_PARALLELISM': 'false', 'PYTHONUNBUFFERED': '1'}
        env.setdefault('OMP_NUM_THREADS', '1')  # two shared cores: leave one to the browser
        env['JUPYTER_PATH'] = str(h / 'data')  # searched first (a venv's own share/jupyter would beat JUPYTER_DATA_DIR)
        cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={self.port}',
               '--ServerApp.port_retries=0', f'--IdentityProvider.token={self.token}', '--ServerApp.allow_root=True',
               f'--ServerApp.root_dir={self.root}', '--ServerApp.open_browser=False',
               '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
               '--LabApp.expose_app_in_browser=True', f'--LabApp.user_settings_dir={h / "settings"}',
               f'--LabApp.workspaces_dir={h / "workspaces"}', '--ServerApp.terminals_enabled=False']
        self._log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        try: self._ready(timeout)
        except BaseException: self.stop(); raise
        return self

    def _ready(self, timeout):
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None: raise RuntimeError(f'jupyter lab exited with {self.proc.returncode}:\n{self.log()}')
            try:
                self.api('status'); break
            except OSError:
                if time.time() > deadline: raise RuntimeError(f'jupyter lab did not answer within {timeout} s:\n{self.log()}')
                time.sleep(0.3)
        spec = self.api('kernelspecs')['kernelspecs']['python3']['spec']
        if spec['argv'][0] != sys.executable:
            raise RuntimeError(f"the python3 kernel would run {spec['argv'][0]}, not this venv's {sys.executable}")

    def api(self, path: str):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy from the environment
        with opener.open(f'{self.url}/api/{path}?token={self.token}', timeout=10) as r: return json.load(r)

    def log(self, n: int = 6000) -> str:
        try: return self.log_path.read_text()[-n:]
        except OSError: return ''

    def notebook_url(self, name: str) -> str: return f'{self.url}/lab/tree/{name}?reset&token={self.token}'  # reset: a fresh layout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try: self.proc.wait(15)
            except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait(5)
        if self.proc: self._log.close()


class Console:
    "Collects the page's console errors and uncaught exceptions; `problems()` is what is not known noise."
    def __init__(self, page):
        self.errors, self.page_errors, self.ignored = [], [], []
        page.on('console', self._console)
        page.on('pageerror', lambda e: self.page_errors.append(f'{e.name}: {e.message}\n{e.stack or ""}'))

    def _console(self, msg):
        if msg.type != 'error': return
        text = msg.text
        loc = msg.location or {}
        if loc.get('url'): text += f"  [{loc.get('url')}:{loc.get('lineNumber')}]"
        (self.ignored if any(re.search(p, text) for p in IGNORED_CONSOLE) else self.errors).append(text)

    def uncaught(self) -> list[str]:
        "Uncaught page errors and console errors of widgets that failed, less the known harmless ones."
        return ([e for e in self.page_errors if not any(re.search(p, e) for p in IGNORED_PAGE_ERRORS)]
                + [e for e in self.errors if any(re.search(p, e) for p in WIDGET_FAILURES)])

    def report(self) -> str:
        return '\n'.join([f'page errors: {self.page_errors}', f'console errors: {self.errors}', f'ignored console noise: {self.ignored}'])


def launch(playwright):
    "Headless Debian Chromium (never a downloaded browser)."
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


NOTEBOOK = """name => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return w && w.context && w.context.path === name && w.sessionContext ? w : null; }"""

KERNEL_IDLE = f"""name => {{ const w = ({NOTEBOOK})(name);
  const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }}"""

ALL_RAN = f"""name => {{ const w = ({NOTEBOOK})(name);
  const k = w && w.sessionContext.session && w.sessionContext.session.kernel;
  if (!k || k.status !== 'idle') return false;
  if (w.content.node.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')) return 'error';
  const prompts = [...w.content.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p)) && 'done'; }}"""


def open_and_run(page, lab: Lab, name: str, timeout_ms: int = 120_000):
    "Open notebook `name`, wait for its kernel, run all cells and wait until every cell has run (fails on a cell's error)."
    page.goto(lab.notebook_url(name), wait_until='domcontentloaded', timeout=timeout_ms)
    page.wait_for_function(KERNEL_IDLE, arg=name, timeout=timeout_ms, polling=250)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    if page.wait_for_function(ALL_RAN, arg=name, timeout=timeout_ms, polling=250).json_value() == 'error':
        raise AssertionError(f'a cell of {name} failed:\n' + '\n---\n'.join(error_outputs(page)))


def error_outputs(page) -> list[str]:
    "Tracebacks shown in the notebook (cell errors, or a worker thread's error printed into an output)."
    return page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output')]
        .filter(o => o.dataset.mimeType === 'application/vnd.jupyter.error' || /Traceback \\(most recent call last\\)/.test(o.textContent))
        .map(o => o.textContent.slice(0, 3000))""")
