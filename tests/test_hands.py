"""Hands (contract v3 *Hands*) on a real teacher's Jupyter server: two students (one named) raise
hands with their code, the teacher's queue, states seen by the raising student only, a spotlight
that reaches every student without a name, the hands switch, and the limits."""

import json

import pytest

from jupyter_ext.pytest_plugin import SSEReader
from jupyter_ext.testing.rest import create_session, publish


def error_code(response):
    return response.json()["error"]["code"]


def names(reader):
    return [e.get("event") for e in reader.events]


@pytest.fixture
def classroom(cs_teacher):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Hands")
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "a = 1", 1.0)
    publish(teacher, code, "c2", "b = undefined", 2.0)
    base = f"{cs_teacher.url}codestream/api/sessions/{code}/"
    readers = {
        "teacher": SSEReader(base + "events", {"Authorization": f"token {cs_teacher.token}", "Last-Event-ID": "0-0"}),
        "ada": SSEReader(base + "events", {"Authorization": f"Bearer {key}", "X-CodeStream-Client": "client-ada",
                                           "Last-Event-ID": "0-0"}),
        "bob": SSEReader(base + "events", {"Authorization": f"Bearer {key}", "X-CodeStream-Client": "client-bob",
                                           "Last-Event-ID": "0-0"}),
    }
    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    try:
        yield cs_teacher, teacher, student, code, readers
    finally:
        for reader in readers.values():
            reader.close()


def wait_event(reader, name, n=1):
    reader._got.acquire()
    try:
        assert reader._got.wait_for(lambda: names(reader).count(name) >= n, 20), names(reader)
    finally:
        reader._got.release()
    return [json.loads(e["data"]) for e in reader.events if e.get("event") == name]


def test_hands_raised_queued_handled_and_seen_only_by_their_owner(classroom):
    _server, teacher, student, code, readers = classroom
    hands_path = f"codestream/api/sessions/{code}/hands"
    error = [{"output_type": "error", "ename": "NameError", "evalue": "name 'undefined' is not defined",
              "traceback": ["NameError: <script>alert(1)</script>"]}]
    first = student.post(hands_path, json={"client": "client-ada", "source": "b = undefined", "cell_id": "c2",
                                           "outputs": error, "note": "Why?", "name": "Ada"})
    assert first.status_code == 201, first.text
    assert first.json()["position"] == 1
    second = student.post(hands_path, json={"client": "client-bob", "source": "print(1"})
    assert second.status_code == 201 and second.json()["position"] == 2
    ada, bob = first.json()["hand_id"], second.json()["hand_id"]

    queue = teacher.get(hands_path)
    assert queue.status_code == 200, queue.text
    hands = queue.json()["hands"]
    assert [h["hand_id"] for h in hands] == [ada, bob]
    assert hands[0]["name"] == "Ada" and hands[0]["cell_id"] == "c2" and hands[0]["number"] == 2
    assert hands[0]["note"] == "Why?" and hands[0]["outputs"] == error and hands[0]["state"] == "waiting"
    assert hands[1]["name"] == "" and hands[1]["cell_id"] is None and hands[1]["source"] == "print(1"
    assert set(hands[0]) >= {"hand_id", "name", "cell_id", "number", "source", "outputs", "note", "raised", "state"}
    assert "client" not in hands[0]

    # the teacher hears of each hand; no student stream does
    assert [h["hand_id"] for h in wait_event(readers["teacher"], "hand", 2)] == [ada, bob]

    helping = teacher.patch(f"{hands_path}/{ada}", json={"state": "helping"})
    assert helping.status_code == 200 and helping.json()["state"] == "helping"
    assert wait_event(readers["ada"], "hand_state")[-1] == {"session": code, "hand_id": ada, "state": "helping"}
    assert teacher.patch(f"{hands_path}/{ada}", json={"state": "done"}).json()["state"] == "done"
    assert [s["state"] for s in wait_event(readers["ada"], "hand_state", 2)] == ["helping", "done"]
    assert wait_event(readers["teacher"], "hand_state", 2)

    # open ones first: Bob's, then Ada's handled one
    assert [(h["hand_id"], h["state"]) for h in teacher.get(hands_path).json()["hands"]] == \
        [(bob, "waiting"), (ada, "done")]

    # only the raising client (or the teacher) lowers a hand
    assert student.delete(f"{hands_path}/{bob}", params={"client": "client-ada"}).status_code == 403
    assert student.delete(f"{hands_path}/{bob}", params={"client": "client-bob"}).status_code == 204
    assert wait_event(readers["bob"], "hand_state")[-1]["state"] == "lowered"
    assert [h["hand_id"] for h in teacher.get(hands_path).json()["hands"]] == [ada]
    assert teacher.delete(f"{hands_path}/{ada}").status_code == 204
    assert teacher.get(hands_path).json()["hands"] == []

    # a student stream never carries another student's activity
    publish(teacher, code, "c3", "done = True", 3.0)
    wait_event(readers["bob"], "published", 3)
    assert "hand" not in names(readers["bob"]) and "hand" not in names(readers["ada"])
    assert all(json.loads(e["data"])["hand_id"] == bob for e in readers["bob"].events if e["event"] == "hand_state")
    assert all(json.loads(e["data"])["hand_id"] == ada for e in readers["ada"].events if e["event"] == "hand_state")


def test_spotlight_reaches_every_student_without_a_name(classroom):
    _server, teacher, student, code, readers = classroom
    hands_path = f"codestream/api/sessions/{code}/hands"
    outputs = [{"output_type": "display_data", "metadata": {},
                "data": {"text/html": "<script>alert(1)</script>", "text/plain": "42"}}]
    hand = student.post(hands_path, json={"client": "client-ada", "source": "answer = 42", "name": "Ada Lovelace",
                                          "outputs": outputs}).json()["hand_id"]
    shown = teacher.post(f"{hands_path}/{hand}/spotlight", json={"with_outputs": True})
    assert shown.status_code == 200, shown.text
    cell_id = shown.json()["cell_id"]
    assert shown.json()["version"] == 1
    for who in ("ada", "bob"):
        assert cell_id in [e["cell_id"] for e in wait_event(readers[who], "published", 3)]
    cell = student.get(f"codestream/api/sessions/{code}/cells/{cell_id}").json()
    assert cell["origin"] == "student" and cell["source"] == "answer = 42"
    assert cell["outputs"] == [{"output_type": "display_data", "metadata": {}, "data": {"text/plain": "42"}}]
    listing = student.get(f"codestream/api/sessions/{code}/cells").text
    assert "Ada" not in listing and "name" not in json.loads(listing)["cells"][-1]
    # without outputs: the code only
    plain = teacher.post(f"{hands_path}/{hand}/spotlight", json={})
    assert "outputs" not in student.get(f"codestream/api/sessions/{code}/cells/{plain.json()['cell_id']}").json()


def test_hands_switch_and_limits_change_nothing_when_refused(classroom):
    _server, teacher, student, code, _readers = classroom
    session_path = f"codestream/api/sessions/{code}"
    hands_path = f"{session_path}/hands"

    def raise_hand(client="client-ada", **extra):
        return student.post(hands_path, json={"client": client, "source": "x", **extra})

    assert teacher.patch(session_path, json={"hands_open": False}).status_code == 200
    closed = raise_hand()
    assert closed.status_code == 409 and error_code(closed) == "hands_closed"
    assert student.patch(session_path, json={"hands_open": True}).status_code in (401, 403)
    assert teacher.patch(session_path, json={"hands_open": "yes"}).status_code == 400
    assert teacher.get(hands_path).json() == {"hands": [], "hands_open": False}
    assert teacher.patch(session_path, json={"hands_open": True}).json()["hands_open"] is True
    assert teacher.get(hands_path).json()["hands_open"] is True

    too_big = raise_hand(source="x" * (64 * 1024 + 1))
    assert too_big.status_code == 413 and error_code(too_big) == "payload_too_large"
    big_outputs = [{"output_type": "stream", "name": "stdout", "text": "y" * (256 * 1024)}]
    assert raise_hand(outputs=big_outputs).status_code == 413
    assert raise_hand(cell_id="nope").status_code == 404
    assert raise_hand(note="n" * 501).status_code == 400
    assert raise_hand(name="n" * 41).status_code == 400
    assert raise_hand(outputs=[{"output_type": "bogus"}]).status_code == 400
    assert student.post("codestream/api/sessions/ZZZZZZ/hands", json={"client": "a", "source": "x"}).status_code \
        in (401, 404)
    assert teacher.get(hands_path).json()["hands"] == []
    for path in (hands_path, ):
        assert student.get(path).status_code in (401, 403)

    # one open hand per client: a new one replaces it
    ids = [raise_hand().json()["hand_id"] for _ in range(10)]
    assert [h["hand_id"] for h in teacher.get(hands_path).json()["hands"]] == [ids[-1]]
    limited = raise_hand()
    assert limited.status_code == 429 and error_code(limited) == "too_many_requests"
    assert [h["hand_id"] for h in teacher.get(hands_path).json()["hands"]] == [ids[-1]]
    assert raise_hand(client="client-bob").status_code == 201  # the limit is per client
    assert teacher.patch(f"{hands_path}/nope", json={"state": "done"}).status_code == 404
    assert teacher.patch(f"{hands_path}/{ids[-1]}", json={"state": "open"}).status_code == 400
    assert student.patch(f"{hands_path}/{ids[-1]}", json={"state": "done"}).status_code in (401, 403)
    assert student.post(f"{hands_path}/{ids[-1]}/spotlight", json={}).status_code in (401, 403)


def test_a_student_raises_a_hand_from_their_notebook_and_sees_its_state(cs_teacher, cs_student):
    import nbformat
    from student_fixtures import configure

    from jupyter_ext.pytest_plugin import wait_until, write_notebook

    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher, title="Hands from a notebook")
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "print(undefined)", 1.0)
    configure(student, cs_teacher.url, code, key)
    named = student.put("codestream/api/student/config",
                        json={"teacher_url": cs_teacher.url, "session_code": code, "name": "Ada"})
    assert named.status_code == 200 and named.json()["name"] == "Ada"
    own_stream = SSEReader(f"{cs_student.url}codestream/api/student/events", cs_student.auth_headers())
    try:
        write_notebook(cs_student.root_dir, "mine.ipynb", [("code", "mine = 1")])
        assert student.post("codestream/api/student/pull",
                            json={"cell_id": "c1", "notebook_path": "mine.ipynb"}).status_code == 200
        nb = nbformat.read(str(cs_student.root_dir / "mine.ipynb"), as_version=4)
        nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="undefined",
                                                      traceback=["NameError: undefined"])]
        nbformat.write(nb, str(cs_student.root_dir / "mine.ipynb"))

        raised = student.post("codestream/api/student/hands",
                              json={"notebook_path": "mine.ipynb", "cell_id": "c1", "note": "stuck",
                                    "with_outputs": True})
        assert raised.status_code == 201, raised.text
        hand_id = raised.json()["hand_id"]
        (hand,) = teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"]
        assert hand["hand_id"] == hand_id and hand["name"] == "Ada" and hand["cell_id"] == "c1"
        assert hand["source"] == "print(undefined)" and hand["note"] == "stuck" and hand["number"] == 1
        assert hand["outputs"][0]["ename"] == "NameError"
        # by index, without outputs: the first cell (not a pulled one), replacing the open hand
        second = student.post("codestream/api/student/hands", json={"notebook_path": "mine.ipynb", "cell_index": 0})
        assert second.status_code == 201, second.text
        (hand,) = teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"]
        assert hand["source"] == "mine = 1" and hand["cell_id"] is None and hand["outputs"] is None

        second_id = second.json()["hand_id"]
        assert teacher.patch(f"codestream/api/sessions/{code}/hands/{second_id}",
                             json={"state": "helping"}).status_code == 200

        def my_state():
            hands = student.get("codestream/api/student/hands").json()["hands"]
            return {h["hand_id"]: h["state"] for h in hands}

        wait_until(lambda: my_state().get(second_id) == "helping", 20, what="the state seen by the student")
        assert my_state()[hand_id] == "lowered"
        assert student.delete(f"codestream/api/student/hands/{second_id}").status_code == 204
        assert teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"] == []
        assert second_id not in my_state()
        # bad input changes nothing
        for body in ({"notebook_path": "mine.ipynb", "cell_index": 9}, {"notebook_path": "mine.ipynb"},
                     {"notebook_path": "../x.ipynb", "cell_index": 0},
                     {"notebook_path": "mine.ipynb", "cell_index": 0, "note": "n" * 501}):
            assert student.post("codestream/api/student/hands", json=body).status_code == 400, body
        missing = student.post("codestream/api/student/hands", json={"notebook_path": "nope.ipynb", "cell_index": 0})
        assert missing.status_code == 404
        assert teacher.patch(f"codestream/api/sessions/{code}", json={"hands_open": False}).status_code == 200
        closed = student.post("codestream/api/student/hands", json={"notebook_path": "mine.ipynb", "cell_index": 0})
        assert closed.status_code == 409 and closed.json()["error"]["code"] == "hands_closed"
        assert student.delete("codestream/api/student/hands/unknown").status_code == 404
        assert teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"] == []
    finally:
        own_stream.close()


async def test_the_queue_caps_open_hands_and_keeps_the_list_bounded(cs_redis):
    """500 open hands per session (then 429, nothing changed); handled hands kept up to a cap."""
    from redis.asyncio import Redis

    from jupyter_ext.domain import TooManyRequests
    from jupyter_ext.store import SessionStore
    from jupyter_ext.store.hands import HandQueue

    redis = Redis.from_url(cs_redis.url, decode_responses=True)
    try:
        record, _key = await SessionStore(redis).create_session("cap")
        queue = HandQueue(redis)

        def hand(i):
            return {"hand_id": f"h{i}", "name": "", "cell_id": None, "number": None, "source": "x",
                    "outputs": None, "note": "", "raised": "", "state": "waiting"}

        for i in range(5):
            assert await queue.raise_hand(record.code, f"c{i}", hand(i), now_ms=0, per_minute=10, max_open=5) == i + 1
        with pytest.raises(TooManyRequests):
            await queue.raise_hand(record.code, "c9", hand(9), now_ms=0, per_minute=10, max_open=5)
        # the same client replaces its open hand, even at the cap
        assert await queue.raise_hand(record.code, "c0", hand(10), now_ms=0, per_minute=10, max_open=5) == 5
        assert [h["hand_id"] for h in await queue.hands(record.code)] == ["h1", "h2", "h3", "h4", "h10"]
        for hand_id in ("h1", "h2", "h3"):
            await queue.update(record.code, hand_id, "done", max_done=2)
        listed = await queue.hands(record.code)
        assert [(h["hand_id"], h["state"], h["position"]) for h in listed] == [
            ("h4", "waiting", 1), ("h10", "waiting", 2), ("h2", "done", None), ("h3", "done", None)]
        assert not await redis.hexists(f"codestream:{{{record.code}}}:hands", "h1")  # gone with the cap
        await SessionStore(redis).delete_session(record.code)
        assert not await redis.exists(f"codestream:{{{record.code}}}:hands", f"codestream:{{{record.code}}}:hand_queue")
    finally:
        await redis.aclose()


def test_a_students_hands_outlive_a_restart_of_their_server(cs_teacher, cs_jupyter_server_factory):
    """The student server keeps the hands it raised in a private file: restarted, it still
    lists them and can lower them (a damaged file is ignored, not fatal)."""
    import os
    import stat

    from student_fixtures import configure

    from jupyter_ext.pytest_plugin import write_notebook

    student_server = cs_jupyter_server_factory("hands-restart")
    teacher, student = cs_teacher.client(), student_server.client()
    session = create_session(teacher, title="Hands kept")
    code, key = session["code"], session["student_key"]
    configure(student, cs_teacher.url, code, key)
    write_notebook(student_server.root_dir, "mine.ipynb", [("code", "mine = 1")])
    raised = student.post("codestream/api/student/hands",
                          json={"notebook_path": "mine.ipynb", "cell_index": 0, "note": "help"})
    assert raised.status_code == 201, raised.text
    hand_id = raised.json()["hand_id"]
    kept = next(student_server.data_dir.rglob("hands.json"))
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600

    student_server.restart()
    student = student_server.client()
    (hand,) = student.get("codestream/api/student/hands").json()["hands"]
    assert (hand["hand_id"], hand["session"], hand["notebook_path"], hand["note"], hand["state"]) == (
        hand_id, code, "mine.ipynb", "help", "waiting")
    assert student.delete(f"codestream/api/student/hands/{hand_id}").status_code == 204
    assert teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"] == []

    kept.write_text("{damaged")
    student_server.restart()
    assert student_server.client().get("codestream/api/student/hands").json()["hands"] == []
