"""What students send the teacher (hands and run status): the limits and checks, pure.

Everything here is hostile input to the teacher's page; it is size-checked and shape-checked
here, and rendered as text (or nh3-sanitised output) by the dashboards.
"""

from __future__ import annotations

import hashlib
import re

from .cells import validate_notebook_path
from .codes import normalize_session_code
from .errors import CodeStreamError, InvalidInput, NotFound, PayloadTooLarge
from .outputs import validate_outputs

MAX_HAND_SOURCE_BYTES = 64 * 1024
MAX_HAND_OUTPUT_BYTES = 256 * 1024
MAX_NOTE_CHARS = 500
MAX_NAME_CHARS = 40
MAX_ENAME_CHARS = 64
MAX_CLIENT_CHARS = 64
HANDS_PER_CLIENT_PER_MINUTE = 10
MAX_OPEN_HANDS = 500
MAX_DONE_HANDS = 500  # handled hands kept for the list, newest first dropped last
HAND_STATES = ("waiting", "helping", "done")
HAND_LOWERED = "lowered"  # a hand_state event: withdrawn (deleted, or replaced by a newer one)
RUN_STATES = ("ok", "error")
HAND_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}\Z")
ENAME_RE = re.compile(r"^[^\W\d][\w.]*\Z")  # a (dotted) Python identifier
# Output MIME types a spotlight keeps: plain data a student's browser shows inertly.
SPOTLIGHT_MIME = ("text/plain", "image/png", "image/jpeg")


class HandsClosed(CodeStreamError):
    status = 409
    code = "hands_closed"


class HandNotFound(NotFound):
    code = "hand_not_found"


def opaque_client(client: str) -> str:
    """A fixed-size id for what a student's server calls itself (its presence id on a stream)."""
    return hashlib.sha256(client.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def validate_client(raw: object) -> str:
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_CLIENT_CHARS:
        raise InvalidInput("'client' must be an opaque id of the student's server (1 to 64 characters).")
    return raw


def _optional_text(body: dict, field: str, limit: int) -> str:
    raw = body.get(field)
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidInput(f"'{field}' must be a string.")
    if len(raw) > limit:
        raise InvalidInput(f"'{field}' is at most {limit} characters.")
    return raw


def validate_hand(body: dict, *, client_required: bool = True) -> dict:
    """A raise body → ``{client, source, outputs, cell_id, note, name}`` (413 when too big)."""
    from .cells import validate_cell_id

    source = body.get("source")
    if not isinstance(source, str):
        raise InvalidInput("'source' is required: the code of the cell you ask about.")
    if len(source.encode("utf-8", "surrogatepass")) > MAX_HAND_SOURCE_BYTES:
        raise PayloadTooLarge(f"The cell's source is larger than {MAX_HAND_SOURCE_BYTES} bytes.")
    outputs = validate_outputs(body.get("outputs"), "code", MAX_HAND_OUTPUT_BYTES)
    cell_id = body.get("cell_id")
    client = body.get("client")
    return {
        "client": validate_client(client) if client_required or client is not None else "",
        "source": source,
        "outputs": outputs,
        "cell_id": None if cell_id is None else validate_cell_id(cell_id),
        "note": _optional_text(body, "note", MAX_NOTE_CHARS),
        "name": _optional_text(body, "name", MAX_NAME_CHARS).strip(),
    }


def validate_hand_id(raw: object) -> str:
    if not isinstance(raw, str) or not HAND_ID_RE.match(raw):
        raise InvalidInput("A hand id is 1 to 32 letters, digits, '_' or '-'.")
    return raw


def validate_hand_update(body: dict) -> str:
    state = body.get("state")
    if state not in ("helping", "done"):
        raise InvalidInput("Send {\"state\": \"helping\"} or {\"state\": \"done\"}.")
    return state


def validate_session_settings(body: dict) -> bool:
    """``{"hands_open": bool}``: the one setting a session has so far."""
    value = body.get("hands_open")
    if not isinstance(value, bool) or set(body) - {"hands_open"}:
        raise InvalidInput("Send {\"hands_open\": true} or {\"hands_open\": false}.")
    return value


def validate_run(body: dict) -> tuple[str, int, str, str]:
    """A run report → ``(client, version, state, ename)``; ``ename`` is "" for ``ok``."""
    client = validate_client(body.get("client"))
    version = body.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("'version' must be the version of the cell that ran (a whole number from 1).")
    state = body.get("state")
    if state not in RUN_STATES:
        raise InvalidInput("'state' must be 'ok' or 'error'.")
    ename = body.get("ename")
    if state == "ok" or ename is None:
        return client, version, state, ""
    if not isinstance(ename, str) or not 1 <= len(ename) <= MAX_ENAME_CHARS or not ENAME_RE.match(ename):
        raise InvalidInput("'ename' must be an exception's class name (at most 64 characters).")
    return client, version, state, ename


def spotlight_outputs(outputs: list | None) -> list[dict]:
    """A student's outputs as the class may see them: streams, errors (name, value, traceback)
    and plain text or images of results; HTML, JavaScript, widgets and anything else dropped."""
    kept = []
    for output in outputs or []:
        kind = output.get("output_type")
        if kind in ("stream", "error"):
            kept.append(output)
        elif kind in ("execute_result", "display_data"):
            data = {mime: value for mime, value in (output.get("data") or {}).items() if mime in SPOTLIGHT_MIME}
            if data:
                kept.append({**output, "data": data, "metadata": {}})
    return kept


def runs_summary(fields: dict[str, str]) -> dict[str, dict]:
    """``{cell_id: {"ok", "error", "errors": {ename: n}}}`` from the counts hash's fields."""
    found: dict[str, dict] = {}
    for field, count in fields.items():
        cell_id, _, kind = field.rpartition("\n")
        n = int(count)
        if n <= 0:
            continue
        entry = found.setdefault(cell_id, {"ok": 0, "error": 0, "errors": {}})
        if kind in ("ok", "error"):
            entry[kind] = n
        elif kind.startswith("e:"):
            entry["errors"][kind[2:]] = n
    return found


EMPTY_RUNS = {"ok": 0, "error": 0, "errors": {}}


def kept_hands(kept: list) -> list[dict]:
    """The well-formed entries of a student server's kept hands (the shape ``StudentTalkback.raise_hand``
    keeps); the rest is dropped."""
    hands = []
    for hand in kept:
        try:
            hands.append({"hand_id": validate_hand_id(hand["hand_id"]),
                          "session": normalize_session_code(hand["session"]),
                          "notebook_path": validate_notebook_path(hand["notebook_path"], required=True),
                          "cell_id": hand["cell_id"] if isinstance(hand.get("cell_id"), str) else None,
                          "note": str(hand.get("note") or "")[:MAX_NOTE_CHARS],
                          "raised": str(hand.get("raised") or ""),
                          "state": hand["state"] if hand.get("state") in (*HAND_STATES, HAND_LOWERED) else "waiting",
                          "position": hand["position"] if type(hand.get("position")) is int else None})
        except (CodeStreamError, KeyError, TypeError):
            continue
    return hands
