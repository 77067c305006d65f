"The library versions a benchmark ran with (every result file records them)."
import importlib.metadata as md

LIBS = ('torch', 'transformers', 'trl', 'peft', 'accelerate', 'datasets', 'bitsandbytes', 'ipywidgets', 'plotly', 'peftbench')


def versions() -> dict:
    "Installed versions of the libraries peftbench trains with (None where one is missing)."
    def v(k):
        try: return md.version(k)
        except md.PackageNotFoundError: return None
    return {k: v(k) for k in LIBS}
