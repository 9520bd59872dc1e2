"""The relay's read core takes its way of authenticating readers from outside (a ``ReadAuth``):
what a hub service plugs in. A real relay in this process, over a real redis-server."""

from __future__ import annotations

import httpx

from jupyter_ext.domain import Unauthorized
from jupyter_ext.relay import ReadAuth, Reader, Relay, RelayConfig


class HeaderAuth(ReadAuth):
    """Readers are named by a header (a stand-in for a hub's identity); only alice may read."""

    def __init__(self):
        self.asked: list[str] = []

    async def authorize(self, route, code: str) -> Reader:
        user = route.request.headers.get("X-Test-User", "")
        self.asked.append(code)
        if user != "alice":
            raise Unauthorized("Only alice reads here.")
        return Reader("student", presence_id=f"user-{user}")


async def test_a_relay_with_its_own_read_auth(cs_redis):
    auth = HeaderAuth()
    relay = Relay(RelayConfig(redis_url=cs_redis.url, port=0, heartbeat_seconds=1.0), read_auth=auth)
    port = await relay.start()
    try:
        record, key = await relay.service.create_session({"title": "hub class", "notebook_path": "a.ipynb"})
        await relay.service.publish_cell(record.code, "c1", {"source": "print(1)", "cell_type": "code",
                                                             "position": 1})
        base = f"http://127.0.0.1:{port}/codestream/api/sessions/{record.code}"
        async with httpx.AsyncClient(timeout=10) as client:
            cells = await client.get(f"{base}/cells", headers={"X-Test-User": "alice"})
            assert cells.status_code == 200 and [c["cell_id"] for c in cells.json()["cells"]] == ["c1"]
            one = await client.get(f"{base}/cells/c1", headers={"X-Test-User": "alice"})
            assert one.status_code == 200 and one.json()["source"] == "print(1)"
            # the session's own student key means nothing to this auth; another user is refused
            for headers in ({"Authorization": f"Bearer {key}"}, {"X-Test-User": "mallory"}):
                refused = await client.get(f"{base}/cells", headers=headers)
                assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
                refused = await client.get(f"{base}/events", headers=headers)
                assert refused.status_code == 401
            async with client.stream("GET", f"{base}/events", headers={"X-Test-User": "alice"}) as stream:
                assert stream.status_code == 200
                first = await stream.aiter_text().__anext__()
                assert first.startswith(": connected")
        assert auth.asked.count(record.code) == 7
    finally:
        await relay.stop()
