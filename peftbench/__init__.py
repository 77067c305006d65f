__version__ = "0.1.0"


def __getattr__(name):
    "`from peftbench import Workbench` loads the widgets only when asked (the engine runs headless without them)."
    if name == 'Workbench':
        from peftbench.workbench import Workbench
        return Workbench
    raise AttributeError(f"module 'peftbench' has no attribute {name!r}")
