"""An answer as Markdown that reads right in a notebook, its exports and GitHub.

Each of them reads a pair of `$` as maths, so "**Revenue** $1.05M … **MRR** $27.08M" became italic maths soup:
every `$` outside code is escaped. A model-written image (`![dashboard](art_…)`, `<img …>`) is dropped to its
alt text, as in the sidebar (labextension/src/richtext.ts): its address is made up, or an injected one that
carries data out. Code spans and fences stay as written.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"(```[\s\S]*?(?:```|$)|`[^`\n]*`)")
_DOLLAR = re.compile(r"(?<!\\)\$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_IMG_TAG = re.compile(r"<img\b[^>]*>", re.I)


def _outside_code(text: str, edit) -> str:
    return "".join(part if i % 2 else edit(part) for i, part in enumerate(_CODE.split(text)))


def notebook_markdown(text: str) -> str:
    return _outside_code(text, lambda part: _IMG_TAG.sub("", _IMAGE.sub(r"\1", _DOLLAR.sub(r"\\$", part))))
