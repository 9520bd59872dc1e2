"""Students talk back (contract v3 *Hands*, *Run status*): hands raised with a cell, the
teacher's queue and spotlight, the hands switch of a session, and run reports."""

from __future__ import annotations

from ..services import hands, runs
from .table import CELL, SESSION, Route, WebRoute

HAND = r"(?P<hand_id>[^/]+)"


class HandsRoute(WebRoute):
    async def post(self, code):
        code = self.session_code(code)
        reader = await self.as_reader(code)
        self.write_json(await hands.raise_hand(self.service, code, reader, self.json_body()), status=201)

    async def get(self, code):
        code = self.session_code(code)
        await self.as_teacher(code)
        self.write_json(await hands.list_hands(self.service, code))


class HandRoute(WebRoute):
    async def patch(self, code, hand_id):
        code = self.session_code(code)
        await self.as_teacher(code)
        self.write_json(await hands.update_hand(self.service, code, hand_id, self.json_body()))

    async def delete(self, code, hand_id):
        """The teacher, or the client that raised it (``?client=`` or a JSON body's ``client``)."""
        code = self.session_code(code)
        reader = await self.as_reader(code)
        client = self.get_query_argument("client", None)
        if client is None and reader.role != "teacher":
            client = self.json_body().get("client")
        await hands.lower_hand(self.service, code, hand_id, reader, client if isinstance(client, str) else None)
        self.no_content()


class SpotlightRoute(WebRoute):
    async def post(self, code, hand_id):
        code = self.session_code(code)
        await self.as_teacher(code)
        self.write_json(await hands.spotlight(self.service, code, hand_id, self.json_body()))


class RunsRoute(WebRoute):
    async def post(self, code, cell_id):
        code = self.session_code(code)
        reader = await self.as_reader(code)
        await runs.record_run(self.service, code, cell_id, reader, self.json_body())
        self.no_content()


ROUTES = [
    Route(rf"{SESSION}/hands/?", HandsRoute),
    Route(rf"{SESSION}/hands/{HAND}/spotlight/?", SpotlightRoute),
    Route(rf"{SESSION}/hands/{HAND}/?", HandRoute),
    Route(rf"{SESSION}/cells/{CELL}/runs/?", RunsRoute),
]
