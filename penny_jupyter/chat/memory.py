"""What the model sees of a conversation: its messages, fitted to a token budget.

Tokens are estimated as characters / 4 (good enough to stay inside num_ctx without a tokenizer).
The system prompt and the tool schemas are never cut; the newest turn (the message being answered)
is always whole. Older turns are kept newest-first while they fit; the ones that do not are folded
into a single system line naming what was asked, so the model knows there was more.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

SUMMARY_SHARE = 0.1  # of the history budget, at most, for the line that stands for dropped turns
QUESTION_CHARS = 80


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def message_tokens(m: dict[str, Any]) -> int:
    n = estimate_tokens(m.get("content") or "") + 4  # role and framing
    if m.get("tool_calls"):
        n += estimate_tokens(json.dumps(m["tool_calls"], default=str))
    return n


def schema_tokens(tools: Iterable[dict[str, Any]]) -> int:
    return sum(estimate_tokens(json.dumps(t)) for t in tools)


def fit_history(history: list[dict[str, Any]], budget: int, *, system: str | None = None,
                tools: Iterable[dict[str, Any]] = (), tools_tokens: int | None = None) -> list[dict[str, Any]]:
    """`[system?, summary?, ...newest turns]` within `budget` tokens (system and tools counted, never cut).

    `history` is oldest first, role/content dicts; a turn starts at each user message."""
    head = [{"role": "system", "content": system}] if system else []
    if tools_tokens is None:
        tools_tokens = schema_tokens(tools)
    fixed = sum(message_tokens(m) for m in head) + tools_tokens
    room = max(0, budget - fixed)

    turns: list[list[dict[str, Any]]] = []
    for m in history:
        if m.get("role") == "user" or not turns:
            turns.append([])
        turns[-1].append(m)
    if not turns:
        return head

    kept = [turns[-1]]  # the turn being answered is always whole
    used = sum(message_tokens(m) for m in turns[-1])
    reserve = int(room * SUMMARY_SHARE) if len(turns) > 1 else 0
    i = len(turns) - 2
    while i >= 0:
        cost = sum(message_tokens(m) for m in turns[i])
        if used + cost > room - reserve:
            break
        kept.insert(0, turns[i])
        used += cost
        i -= 1
    dropped = turns[: i + 1]
    out = list(head)
    if dropped:
        out.append({"role": "system", "content": summarize(dropped, max(0, room - used))})
    for t in kept:
        out.extend(t)
    return out


def summarize(turns: list[list[dict[str, Any]]], budget_tokens: int) -> str:
    """One line for the turns that did not fit: how many, and the questions asked, newest kept first."""
    n = sum(len(t) for t in turns)
    line = f"Earlier in this conversation ({n} older messages not shown)"
    questions = [_short(t[0].get("content") or "") for t in turns if t and t[0].get("role") == "user"]
    picked: list[str] = []
    limit = budget_tokens * 4
    for q in reversed(questions):
        candidate = "; ".join(['"' + x + '"' for x in [q, *picked]])
        if len(line) + len(" the person asked: ") + len(candidate) + 1 > limit:
            break
        picked.insert(0, q)
    if picked:
        line += " the person asked: " + "; ".join('"' + q + '"' for q in picked)
    return line + "."


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUESTION_CHARS else text[: QUESTION_CHARS - 1] + "…"


def compact_data(data: Any, *, max_chars: int = 1200) -> str:
    """A short JSON of a tool result's shape and head: list lengths and their first rows, never whole tables."""
    out = json.dumps(_head(data, 0), default=str, separators=(",", ":"))
    if len(out) > max_chars:
        out = json.dumps(_head(data, 0, rows=1, width=60), default=str, separators=(",", ":"))
    return out if len(out) <= max_chars else out[: max_chars - 1] + "…"


def _head(v: Any, depth: int, rows: int = 3, width: int = 120) -> Any:
    if isinstance(v, dict):
        if depth >= 3:
            return f"{{{len(v)} keys}}"
        items = list(v.items())
        out = {str(k): _head(x, depth + 1, rows, width) for k, x in items[:20]}
        if len(items) > 20:
            out["…"] = f"{len(items) - 20} more keys"
        return out
    if isinstance(v, (list, tuple)):
        if depth >= 3:
            return f"[{len(v)} items]"
        if len(v) <= rows:
            return [_head(x, depth + 1, rows, width) for x in v]
        return {"count": len(v), "head": [_head(x, depth + 1, rows, width) for x in v[:rows]]}
    if isinstance(v, str) and len(v) > width:
        return v[: width - 1] + "…"
    return v
