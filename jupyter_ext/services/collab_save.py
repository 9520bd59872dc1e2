"""Which save a ``contents_service`` save event reports: the teacher's explicit save, or a
real-time collaboration room saving the changing document by itself.

With jupyter-collaboration the room writes the shared document to disk about a second after
every change (its autosave), and both that and the teacher's Ctrl+S reach the contents
manager the same way, so the save event alone cannot tell them apart. The one signal is the
frontend's save request: Ctrl+S (or the save command) sends a ``save`` message on the room's
websocket, which jupyter-server-ydoc answers by calling ``DocumentRoom._save_to_disc``; the
room's own saves run ``DocumentRoom._maybe_save_document`` directly. Both run as tasks, so a
context variable set around them is seen by the save event's listeners (jupyter_events starts
each listener as a task, which copies the saving task's context) and by nothing else.

A save through the contents API (JupyterLab without collaboration, any REST client) happens
outside those tasks: its origin is ``None``.
"""

from __future__ import annotations

import functools
import logging
from contextvars import ContextVar

EXPLICIT_SAVE = "explicit"  # the frontend asked the room to save (Ctrl+S, the save command)
ROOM_AUTOSAVE = "room"  # the room saved its document by itself
_SAVE_ORIGIN: ContextVar[str | None] = ContextVar("codestream_save_origin", default=None)
_MARK = "_codestream_save_origin"


def save_origin() -> str | None:
    """``EXPLICIT_SAVE``, ``ROOM_AUTOSAVE``, or ``None`` (not a collaboration room's save)."""
    return _SAVE_ORIGIN.get()


def track_collaborative_saves(log: logging.Logger | None = None) -> bool:
    """Mark the saves of jupyter-collaboration's rooms with their origin; True when in place.

    False when jupyter-collaboration is not installed (every save is then a contents API
    save) or its rooms lack the two methods (then, with a warning, room autosaves count as
    saves again, as before).
    """
    log = log or logging.getLogger(__name__)
    try:
        from jupyter_server_ydoc.rooms import DocumentRoom
    except ImportError:
        return False
    requested = getattr(DocumentRoom, "_save_to_disc", None)
    saving = getattr(DocumentRoom, "_maybe_save_document", None)
    if requested is None or saving is None:
        log.warning("codestream: this jupyter-collaboration does not say which saves the teacher"
                    " asked for; publish on save also follows the rooms' autosaves")
        return False
    if getattr(requested, _MARK, False):
        return True

    @functools.wraps(requested)
    def save_requested(self, *args, **kwargs):
        token = _SAVE_ORIGIN.set(EXPLICIT_SAVE)  # the save task it creates copies this
        try:
            return requested(self, *args, **kwargs)
        finally:
            _SAVE_ORIGIN.reset(token)

    @functools.wraps(saving)
    async def room_saving(self, *args, **kwargs):
        token = _SAVE_ORIGIN.set(_SAVE_ORIGIN.get() or ROOM_AUTOSAVE)
        try:
            return await saving(self, *args, **kwargs)
        finally:
            _SAVE_ORIGIN.reset(token)

    setattr(save_requested, _MARK, True)
    setattr(room_saving, _MARK, True)
    DocumentRoom._save_to_disc = save_requested
    DocumentRoom._maybe_save_document = room_saving
    return True
