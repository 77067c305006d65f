"The library versions a benchmark ran with (every result file records them)."
import importlib.metadata as md

LIBS = ('torch', 'transformers', 'trl', 'peft', 'accelerate', 'datasets', 'bitsandbytes', 'ipywidgets', 'plotly', 'peftbench')


def versions() -> dict:
    "Installed versions of the libraries peftbench trains with (None where one is missing)."
    def v(k):
        try: return md.version(k)
        except md.PackageNotFoundError: return None
    return {k: v(k) for k in LIBS}


def cpu_bf16() -> list:
    "The CPU's bf16 matrix instructions (avx512_bf16, amx_bf16) from /proc/cpuinfo: where bf16 autocast on the CPU is fast."
    try:
        with open('/proc/cpuinfo') as f: flags = next(l for l in f if l.startswith('flags')).split()
    except (OSError, StopIteration): return []
    return [f for f in ('avx512_bf16', 'amx_bf16') if f in flags]
