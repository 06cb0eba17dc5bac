"""How a conversation is named: after its first words, and, when a notebook started it, saying so (the
sidebar lists both kinds together)."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*```+\s*([\w+-]*)\s*$")


def conversation_title(content: str) -> str:
    """The first line that says something: a pasted ```python block is titled "Python: <its first line>", not
    "```python"."""
    lines = [line.strip() for line in content.strip().splitlines()]
    fence = _FENCE.match(lines[0]) if lines else None
    words = [line for line in lines if line and not _FENCE.match(line)]
    if not words:
        return "New conversation"
    first = words[0]
    if fence and fence.group(1):
        first = f"{fence.group(1).upper() if fence.group(1).lower() == 'sql' else fence.group(1).capitalize()}: {first}"
    return first[:60] + ("…" if len(first) > 60 else "")


NOTEBOOK = "Notebook · "


def notebook_title(content: str) -> str:
    """A conversation a notebook's `%%penny` started: "Notebook · Show me company KPIs"."""
    return NOTEBOOK + conversation_title(content)
