"""Penny: an AI analyst for JupyterLab.

This package is the engine and the kernel-side library. It imports no tornado and no
jupyter_server; the server extension (`penny_server`) is a thin transport over it.
Importing it is cheap: everything heavy (DuckDB, plotly, SQLAlchemy) loads on first use.
"""

__version__ = "0.1.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "penny-jupyter"}]


def load_ipython_extension(ipython):
    """`%load_ext penny_jupyter` registers the %penny magics."""
    from .kernel.magics import register

    register(ipython)


def unload_ipython_extension(ipython):  # pragma: no cover - IPython keeps magics until restart
    pass
