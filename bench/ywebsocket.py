"""A y-websocket peer on raw asyncio, as cheap per message as the load generator's SSE reader.

One ``YPeer`` is one collaborator of a jupyter-collaboration room: an RFC 6455 client
connection (handshake, masked client frames, unmasked server frames, ping → pong) speaking the
y-sync protocol with a real ``pycrdt.Doc`` replica: it sends SyncStep1, answers the server's
SyncStep1 with SyncStep2, and applies every SyncStep2 / update the room broadcasts to its own
document, as a JupyterLab tab does. ``on_update(peer, message, received_at)`` is called after
each applied update, with the time its bytes arrived.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable

from pycrdt import Doc, YMessageType, YSyncMessageType, create_sync_message, create_update_message, handle_sync_message

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def client_frame(payload: bytes, opcode: int = OP_BINARY) -> bytes:
    """One masked frame (a client must mask; the mask is random per frame)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 256 else _mask_long(payload, mask)
    return head + mask + masked


def _mask_long(payload: bytes, mask: bytes) -> bytes:
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[:len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


class YPeer(asyncio.Protocol):
    def __init__(self, on_update: Callable[[YPeer, bytes, float], None] | None = None):
        self.doc = Doc()
        self.on_update = on_update
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.synced: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.status: int | None = None
        self._buffer = b""
        self._fragments: list[bytes] = []

    @classmethod
    async def connect(cls, host: str, port: int, path: str, headers: dict,
                      on_update: Callable[[YPeer, bytes, float], None] | None = None,
                      timeout: float = 30.0) -> YPeer:
        loop = asyncio.get_running_loop()
        _t, peer = await asyncio.wait_for(loop.create_connection(lambda: cls(on_update), host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        all_headers = {"Host": f"{host}:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
                       "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13", **headers}
        head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
        peer.transport.write(head.encode("latin-1") + b"\r\n")
        status = await asyncio.wait_for(peer.opened, timeout)
        if status != 101:
            peer.close()
            raise ConnectionError(f"websocket {path} answered {status}")
        peer.send(create_sync_message(peer.doc))
        await asyncio.wait_for(peer.synced, timeout)
        return peer

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buffer += data
        if self.status is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self._buffer.split(b" ", 2)[1])
            self._buffer = self._buffer[end + 4:]
            if not self.opened.done():
                self.opened.set_result(self.status)
        while True:
            frame = self._next_frame()
            if frame is None:
                return
            fin, opcode, payload = frame
            if opcode == OP_PING:
                self.transport.write(client_frame(payload, OP_PONG))
            elif opcode == OP_CLOSE:
                self.close()
                return
            elif opcode in (OP_BINARY, OP_TEXT, OP_CONT):
                self._fragments.append(payload)
                if fin:
                    message, self._fragments = b"".join(self._fragments), []
                    self._on_message(message, now)

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        fin, opcode = bool(buf[0] & 0x80), buf[0] & 0x0F
        n, offset = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, offset = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, offset = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < offset + n:
            return None
        self._buffer = buf[offset + n:]
        return fin, opcode, buf[offset:offset + n]

    def _on_message(self, message: bytes, now: float) -> None:
        if not message or message[0] != YMessageType.SYNC:
            return  # awareness: not part of the document
        reply = handle_sync_message(message[1:], self.doc)  # applies SyncStep2 and updates
        if reply is not None:
            self.send(reply)
        kind = message[1] if len(message) > 1 else None
        if kind == YSyncMessageType.SYNC_STEP2 and not self.synced.done():
            self.synced.set_result(None)
        if kind in (YSyncMessageType.SYNC_STEP2, YSyncMessageType.SYNC_UPDATE) and self.on_update:
            self.on_update(self, message, now)

    def connection_lost(self, exc):
        for future in (self.opened, self.synced):
            if not future.done():
                future.set_exception(ConnectionError("websocket closed"))
        if not self.closed.done():
            self.closed.set_result(exc)

    # -- sending ---------------------------------------------------------------------------
    def send(self, message: bytes) -> None:
        self.transport.write(client_frame(message))

    def send_update(self, update: bytes) -> None:
        self.send(create_update_message(update))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
