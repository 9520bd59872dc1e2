"""Hands: a student asks for help with a cell; the teacher's queue; a spotlight for the class."""

from __future__ import annotations

import secrets
import time

from ..domain import iso_timestamp
from ..domain.talkback import (
    HANDS_PER_CLIENT_PER_MINUTE,
    MAX_DONE_HANDS,
    MAX_OPEN_HANDS,
    opaque_client,
    spotlight_outputs,
    validate_hand,
    validate_hand_id,
    validate_hand_update,
    validate_session_settings,
)
from ..store.hands import HandQueue
from .session_service import SessionService

PUBLIC_FIELDS = ("hand_id", "name", "cell_id", "number", "source", "outputs", "note", "raised", "state", "position")


def reporting_client(reader, body_client: str | None) -> str:
    """Who a report counts as: a hub user by identity (whatever the body says), else the opaque
    id of the client the body names (the same id its event stream is present under)."""
    if reader.role == "member" and reader.presence_id:
        return reader.presence_id
    return opaque_client(body_client or "")


async def _queue(service: SessionService) -> HandQueue:
    store = await service.session_store()
    return HandQueue(store.redis, stream_maxlen=store.stream_maxlen)


def public_hand(hand: dict) -> dict:
    return {field: hand.get(field) for field in PUBLIC_FIELDS}


async def raise_hand(service: SessionService, code: str, reader, body: dict) -> dict:
    """``POST …/hands`` → ``{"hand_id", "position"}``; under the hub the name is the hub user's."""
    hub_member = reader.role == "member"
    clean = validate_hand(body, client_required=not hub_member)
    number = None
    if clean["cell_id"] is not None:
        number = (await service.get_cell(code, clean["cell_id"])).number  # 404 for an unknown cell
    hand = {"hand_id": secrets.token_urlsafe(9), "name": reader.name if hub_member else clean["name"],
            "cell_id": clean["cell_id"], "number": number, "source": clean["source"],
            "outputs": clean["outputs"], "note": clean["note"], "raised": iso_timestamp(time.time()),
            "state": "waiting"}
    position = await (await _queue(service)).raise_hand(
        code, reporting_client(reader, clean["client"]), hand, now_ms=int(time.time() * 1000),
        per_minute=HANDS_PER_CLIENT_PER_MINUTE, max_open=MAX_OPEN_HANDS)
    return {"hand_id": hand["hand_id"], "position": position}


async def list_hands(service: SessionService, code: str) -> dict:
    """The queue, and whether hands are open (what "Close hands" shows after a reload)."""
    queue = await _queue(service)
    hands = [public_hand(h) for h in await queue.hands(code)]
    return {"hands": hands, "hands_open": await queue.is_open(code)}


async def update_hand(service: SessionService, code: str, hand_id: str, body: dict) -> dict:
    hand_id, state = validate_hand_id(hand_id), validate_hand_update(body)
    queue = await _queue(service)
    await queue.update(code, hand_id, state, max_done=MAX_DONE_HANDS)
    return public_hand(await queue.hand(code, hand_id))


async def lower_hand(service: SessionService, code: str, hand_id: str, reader, client: str | None) -> None:
    """The teacher lowers any hand; a student only the one its client raised."""
    hand_id = validate_hand_id(hand_id)
    who = None if reader.role == "teacher" else reporting_client(reader, client)
    await (await _queue(service)).lower(code, hand_id, who)


async def spotlight(service: SessionService, code: str, hand_id: str, body: dict) -> dict:
    """Publish the hand's code (and, if asked, its sanitised outputs) as a new cell of the
    session, ``"origin": "student"`` and no name: everyone sees it, nobody learns whose it is."""
    hand_id = validate_hand_id(hand_id)
    with_outputs = body.get("with_outputs", False)
    if not isinstance(with_outputs, bool):
        from ..domain import InvalidInput
        raise InvalidInput("'with_outputs' must be true or false.")
    hand = await (await _queue(service)).hand(code, hand_id)
    store = await service.session_store()
    _record, cells, _last = await store.list_cells(code)
    position = max((c.position for c in cells), default=0.0) + 1.0
    clean = {"source": hand["source"], "cell_type": "code", "position": position, "notebook_path": None,
             "number": None, "outputs": spotlight_outputs(hand.get("outputs")) if with_outputs else None,
             "origin": "student"}
    cell = await store.publish_cell(code, f"spotlight-{hand_id}", clean)
    return {"cell_id": cell.cell_id, "version": cell.version}


async def set_session_settings(service: SessionService, code: str, body: dict) -> dict:
    """``PATCH codestream/api/sessions/{code}`` ``{"hands_open": bool}``."""
    hands_open = validate_session_settings(body)
    await (await _queue(service)).set_open(code, hands_open)
    return {"session": code, "hands_open": hands_open}
