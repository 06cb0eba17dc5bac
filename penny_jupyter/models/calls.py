"""What a model asked for, read strictly: tool calls small models write as text, and arguments that are
not values.

Small models often write a call instead of making it: a ```` ```json {"name": ..., "arguments": ...} ````
block, `<tool_call>{...}</tool_call>` tags (Qwen's own format; `<tools>` and `<function_call>` too), or the bare
object as the whole answer.
`TextCalls` sits between the model's stream and the person: text goes out as it comes, except from where
such a block may begin until it is closed. A closed block that is a call of an offered tool (an object with
exactly `name` and `arguments`/`parameters`) becomes a ToolCallRequest and is never shown; anything else
(prose that mentions a tool, a JSON example, a block naming no offered tool) is released as the text it was.
A call whose arguments do not validate still runs as a call: the executor's error goes back to the model,
which can fix it, and the person is spared the raw JSON.

Small models also copy the tool message back verbatim, bookkeeping included: its `data: {...}` line and its
`attached for the person: ...` line (chat/turn.py writes both for the model). Those lines are dropped.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING, Any

from .base import ToolCallRequest

if TYPE_CHECKING:
    from ..tools.base import Tool

_ids = itertools.count(1)
# A call may be written in tags, or in a fence that closes at the next ``` after its first line. Qwen's own tag, and
# the <tools> tag its chat template wraps the offered tools in (the 1.5B copies it for its call).
_TAGS = (("<tool_call>", "</tool_call>"), ("<tools>", "</tools>"), ("<function_call>", "</function_call>"))
_FENCE = "```"
_CALL_KEYS = ({"name", "arguments"}, {"name", "parameters"})
_CALL_LANGS = ("", "json", "tool_call", "tool_code")  # the fences a call may be written in
_ECHOES = ("data: {", "attached for the person:")  # lines of the tool message meant for the model only


class TextCalls:
    """Feed the model's text deltas; `feed` returns what may be shown now, `end` the rest and the calls found."""

    def __init__(self, tools: list["Tool"]) -> None:
        self.names = {t.name for t in tools}
        self.pending = ""  # held back: a block that may be a call, not closed yet
        self.shown = False  # some text of this round went out (a bare object is a call only as the whole answer)
        self.fence: str | None = None  # inside a shown code block ("code") or an unwrapped "markdown" one
        self._unwrapping = False
        self.calls: list[ToolCallRequest] = []

    def feed(self, text: str) -> str:
        self.pending += text
        out: list[str] = []
        while self.pending:
            if not self.shown and (not self.pending.strip() or self.pending.lstrip().startswith("{")):
                break  # nothing yet, or maybe a bare call: decided at `end`
            at = _opener_at(self.pending)
            if at is None:
                keep = _partial_opener(self.pending)  # "`" or "<tool_c" at the very end may become an opener
                cut = len(self.pending) - keep
                self._show(out, self.pending[:cut])
                self.pending = self.pending[cut:]
                break
            if at > 0:
                self._show(out, self.pending[:at])
                self.pending = self.pending[at:]
                continue
            if self.pending.startswith(_FENCE):
                line_end = self.pending.find("\n")
                if line_end < 0:
                    break  # the fence's language is not known yet
                line, lang = self.pending[:line_end + 1], self.pending[len(_FENCE):line_end].strip().lower()
                if self.fence is not None or lang not in _CALL_LANGS:
                    # The end of a block we are in, or code, or prose wrapped in ```markdown: streamed as it comes
                    # (a markdown wrapper's own fences dropped, so the answer reads as markdown, not as code).
                    opening = self.fence is None
                    self.fence = ("markdown" if lang in ("markdown", "md") else "code") if opening else None
                    wrapper = self.fence == "markdown" or (not opening and self._unwrapping)
                    self._unwrapping = self.fence == "markdown"
                    if not wrapper:
                        self._show(out, line)
                    self.pending = self.pending[line_end + 1:]
                    continue
            close = _block_end(self.pending)
            if close is None:
                break  # an open block: wait for its end
            block, self.pending = self.pending[:close], self.pending[close:]
            if block.startswith(_ECHOES):
                continue  # the model repeating the tool message's bookkeeping: never shown
            if self._echoed_call(_inner(block)):
                continue  # a past call repeated with its result pasted in: neither shown nor run again
            call = self._call(_inner(block))
            if call is None:
                self._show(out, block)
            else:
                self.calls.append(call)
        return "".join(out)

    def end(self) -> tuple[str, list[ToolCallRequest]]:
        """At the end of the round: what is still held is a call if it parses as one, else it is shown."""
        rest, self.pending = self.pending, ""
        if rest.startswith(_ECHOES) or self._echoed_call(_inner(rest)):
            return "", self.calls
        if self.fence is not None and rest.strip() == _FENCE:  # the last line closes the block we are in
            return ("" if self._unwrapping else rest), self.calls
        call = self._call(_inner(rest))
        if call is not None:
            self.calls.append(call)
            rest = ""
        return rest, self.calls

    def _show(self, out: list[str], text: str) -> None:
        out.append(text)
        self.shown = self.shown or bool(text.strip())

    def _echoed_call(self, inner: str | None) -> bool:
        """An offered tool's name and arguments plus keys of its own ("data", ...): the 1.5B writes this after a
        tool round, its call with the result pasted in."""
        try:
            obj = json.loads(inner) if inner else None
        except ValueError:
            return False
        return (isinstance(obj, dict) and obj.get("name") in self.names and bool({"arguments", "parameters"} & set(obj))
                and set(obj) not in _CALL_KEYS)

    def _call(self, inner: str | None) -> ToolCallRequest | None:
        if not inner:
            return None
        try:
            obj = json.loads(inner)
        except ValueError:
            return None
        if not isinstance(obj, dict) or set(obj) not in _CALL_KEYS or obj.get("name") not in self.names:
            return None
        args = obj.get("arguments", obj.get("parameters"))
        if isinstance(args, str):  # some models double-encode the arguments
            try:
                args = json.loads(args)
            except ValueError:
                return None
        if not isinstance(args, dict):
            return None
        return ToolCallRequest(id=f"text_{next(_ids)}", name=obj["name"], arguments=args)


def _opener_at(text: str) -> int | None:
    spots = [i for i in (*(text.find(o) for o, _ in _TAGS), _fence_at(text), *(_line_at(text, e) for e in _ECHOES))
             if i >= 0]
    return min(spots) if spots else None


def _line_at(text: str, start: str) -> int:
    """Where a line starting with `start` begins, or -1."""
    i = text.find(start)
    while i > 0 and text[i - 1] != "\n":
        i = text.find(start, i + 1)
    return i


def _fence_at(text: str) -> int:
    """A fence that opens a block: ``` at the start of a line."""
    for m in re.finditer(re.escape(_FENCE), text):
        if m.start() == 0 or text[m.start() - 1] == "\n":
            return m.start()
    return -1


def _partial_opener(text: str) -> int:
    """How many trailing characters could be the start of an opener."""
    tags = [o for o, _ in _TAGS]
    for opener in (*tags, _FENCE, *_ECHOES):
        at_line = opener not in tags  # fences and echoes open only at the start of a line
        for n in range(min(len(opener) - 1, len(text)), 0, -1):
            if text.endswith(opener[:n]) and (not at_line or len(text) == n or text[-n - 1] == "\n"):
                return n
    return 0


def _block_end(text: str) -> int | None:
    """The index just past the block `text` opens with, or None while it is still open."""
    if text.startswith(_ECHOES):
        i = text.find("\n")
        return None if i < 0 else i + 1
    for opener, closer in _TAGS:
        if text.startswith(opener):
            i = text.find(closer)
            return None if i < 0 else i + len(closer)
    first = text.find("\n")
    if first < 0:
        return None
    i = text.find(_FENCE, first)
    return None if i < 0 else i + len(_FENCE)


def _inner(block: str) -> str | None:
    """The JSON inside a tag, a fence (```json or ```), or a bare object."""
    b = block.strip()
    tag = next((t for t in _TAGS if b.startswith(t[0])), None)
    if tag is not None:
        b = b[len(tag[0]):]
        b = b[:b.find(tag[1])] if tag[1] in b else b
    elif b.startswith(_FENCE):
        first = b.find("\n")
        if first < 0:
            return None
        lang = b[len(_FENCE):first].strip().lower()
        if lang not in _CALL_LANGS:
            return None
        b = b[first + 1:]
        b = b[:b.rfind(_FENCE)] if b.rstrip().endswith(_FENCE) else b
    b = b.strip().removesuffix(_FENCE).strip()  # a stray closing fence after a bare object (seen with the 1.5B)
    return b if b.startswith("{") and b.endswith("}") else None


# ------------------------------------------------------------------ arguments that are not values

def copied_description(tool: "Tool", arguments: dict[str, Any]) -> str | None:
    """A sentence for the model when an argument copies its parameter's description instead of giving a value
    (small models do: `"period": "Named period: MTD, QTD, ..."`), else None."""
    fields = getattr(tool.params, "model_fields", {})
    for name, value in arguments.items():
        info = fields.get(name)
        desc = (getattr(info, "description", None) or "").strip()
        if not isinstance(value, str) or not desc:
            continue
        v = _words(value)
        # Four words or more of the description: a value that is one of its examples ("sales-funnel") is fine.
        if len(v.split()) >= 4 and (v in _words(desc) or _words(desc) in v):
            return (f"the argument `{name}` repeats the parameter's description instead of giving a value; "
                    f"send one value for `{name}` (for example {_example(info)}), or leave it out")
    return None


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def _example(info) -> str:
    default = getattr(info, "default", None)
    if isinstance(default, str) and default:
        return repr(default)
    found = re.findall(r"\b[A-Z]{2,4}\b", getattr(info, "description", "") or "")
    return repr(found[0]) if found else "a short value"
