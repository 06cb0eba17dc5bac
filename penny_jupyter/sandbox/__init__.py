"""Running untrusted Python: bubblewrap namespaces + rlimits + seccomp, results back as artifacts.

`runner.run_code` runs one piece of code in a fresh sandbox; `queue.get_queue` bounds how many run
at once; `inside.py` and `penny_helper.py` are the files that run inside (they import nothing from
this package). The `run_python` tool (tools/python.py) is the way the rest of Penny uses it.
"""

from .runner import Limits, RunResult, probe, run_code

__all__ = ["Limits", "RunResult", "probe", "run_code"]
