"""The soak's hands and runs (issue 24 item 6; API v3 "Hands", "Run status").

Every minute a fraction of the students (``--talkback-fraction`` of the direct listeners, spread
evenly over the minute) report a run of the newest cell (``POST …/cells/{id}/runs``, one in
``--error-share`` an error with an ``ename``) and raise a hand about it (``POST …/hands`` with a
source, outputs and a note), each with its stream's own client id, as a student's server does.
The teacher looks at the hands every ``--hands-every`` seconds (``GET …/hands``), as a dashboard
does, and works through them: a waiting hand becomes ``helping``, a hand being helped ``done``.
"""

from __future__ import annotations

import json
import random
import time

from .loadgen import HTTPConnection, split_url

HAND_OUTPUTS = [{"output_type": "error", "ename": "NameError", "evalue": "name 'valu' is not defined",
                 "traceback": ["NameError: name 'valu' is not defined"]}]


def add_arguments(parser) -> None:
    parser.add_argument("--talkback-fraction", type=float, default=0.0,
                        help="share of the students raising a hand and reporting a run each minute (default 0)")
    parser.add_argument("--error-share", type=float, default=0.3,
                        help="share of the run reports that are errors (default 0.3)")
    parser.add_argument("--hands-every", type=float, default=5.0,
                        help="seconds between the teacher's looks at the hands (default 5)")


class Talkback:
    """The students' hands and run reports and the teacher handling the hands, for one ``Soak``."""

    def __init__(self, soak):
        self.soak = soak
        self.args = soak.args
        for kind in ("hand", "run", "hand_handled"):
            soak.requests.setdefault(kind, 0)

    async def students(self, deadline: float) -> None:
        soak, args = self.soak, self.args
        direct = [x for x in soak.listeners if x.server == "teacher"]
        per_minute = max(1, round(len(direct) * args.talkback_fraction)) if direct else 0
        if not per_minute:
            return
        rng = random.Random(6)
        host, port, base = split_url(soak.lab.teacher.url)
        key, connection = None, None
        try:
            while time.perf_counter() < deadline and not soak.stopping.is_set():
                if key != soak.key:  # a rotation: students have the new key at once
                    if connection is not None:
                        await connection.close()
                    key = soak.key
                    connection = HTTPConnection(host, port, {"Authorization": f"Bearer {key}"})
                if soak.published:
                    student = rng.choice(direct)
                    cell_id = soak.published[-1][0]
                    await self._report_run(connection, base, key, student, cell_id, rng)
                    await self._raise_hand(connection, base, key, student, cell_id)
                await soak.pause(deadline, 60.0 / per_minute)
        finally:
            if connection is not None:
                await connection.close()

    async def _report_run(self, connection, base, key, student, cell_id, rng) -> None:
        soak = self.soak
        failed = rng.random() < self.args.error_share
        body = {"client": f"soak-{student.index}", "version": 1, "state": "error" if failed else "ok",
                **({"ename": rng.choice(["NameError", "TypeError", "ZeroDivisionError"])} if failed else {})}
        soak.requests["run"] += 1
        await self._send(connection, "run", "POST", f"{base}codestream/api/sessions/{soak.code}/cells/{cell_id}/runs",
                         body, 204, key)

    async def _raise_hand(self, connection, base, key, student, cell_id) -> None:
        soak = self.soak
        body = {"client": f"soak-{student.index}", "name": f"student {student.index}", "cell_id": cell_id,
                "source": f"value = {student.index}\nprint(valu)\n", "outputs": HAND_OUTPUTS,
                "note": "it says valu is not defined"}
        soak.requests["hand"] += 1
        await self._send(connection, "hand", "POST", f"{base}codestream/api/sessions/{soak.code}/hands", body, 201, key)

    async def _send(self, connection, kind, method, path, body, expected, key) -> tuple[int, bytes] | None:
        try:
            status, _h, raw = await connection.request(method, path, body)
        except Exception as exc:
            self.soak.error(kind, repr(exc))
            await connection.close()
            return None
        if status != expected and not (status == 401 and key is not None and key != self.soak.key):
            self.soak.error(kind, f"{status} {raw[:200]!r}")
        return status, raw

    async def teacher(self, deadline: float) -> None:
        """``GET …/hands`` every ``--hands-every`` s; waiting hands to ``helping``, helped ones ``done``."""
        soak = self.soak
        connection = await soak.lab.connection()
        _host, _port, base = split_url(soak.lab.teacher.url)
        hands_path = f"{base}codestream/api/sessions/{soak.code}/hands"
        try:
            while time.perf_counter() < deadline and not soak.stopping.is_set():
                await soak.pause(deadline, self.args.hands_every)
                answer = await self._send(connection, "hands_list", "GET", hands_path, None, 200, None)
                if answer is None or answer[0] != 200:
                    continue
                for hand in json.loads(answer[1])["hands"]:
                    following = {"waiting": "helping", "helping": "done"}.get(hand["state"])
                    if following is None:
                        continue
                    soak.requests["hand_handled"] += 1
                    await self._send(connection, "hand_handled", "PATCH", f"{hands_path}/{hand['hand_id']}",
                                     {"state": following}, 200, None)
        finally:
            await connection.close()
