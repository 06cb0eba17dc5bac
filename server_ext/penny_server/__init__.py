"""Penny's Jupyter server extension: HTTP and WebSocket transport over the penny_jupyter engine.

Loading it is cheap (no DuckDB, SQLAlchemy or plotly): the engine is built on the first request.
"""

from .app import PennyServerApp


def _jupyter_server_extension_points():
    return [{"module": "penny_server", "app": PennyServerApp}]


__all__ = ["PennyServerApp"]
