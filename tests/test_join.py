"""Join links (contract v2): one link on the projector instead of three things to copy."""

from __future__ import annotations

import pytest

from jupyter_ext.domain import InvalidInput, InvalidSessionCode, InvalidUrl
from jupyter_ext.domain.join import join_link, parse_join_link, students_base_url
from jupyter_ext.pytest_plugin import create_session


def test_links_are_built_and_parsed_back():
    link = join_link("http://10.0.0.5:8888/lab/", "ABC234", "KEY-1234")
    assert link == "http://10.0.0.5:8888/lab/codestream/join/ABC234#KEY-1234"
    assert parse_join_link(link) == {"teacher_url": "http://10.0.0.5:8888/lab/", "session_code": "ABC234",
                                     "student_key": "KEY-1234"}
    assert parse_join_link("  http://h:1/codestream/join/abc234/  ") == {
        "teacher_url": "http://h:1/", "session_code": "ABC234"}
    assert join_link("http://h/", "ABC234", None) == "http://h/codestream/join/ABC234"
    assert parse_join_link("https://hub.example/hub/user-redirect/codestream-student/?session=abc234") == {
        "session_code": "ABC234", "hub": True}
    for bad in ("", None, 3, "http://h/lab/", "http://h/codestream/join/", "x" * 5000):
        with pytest.raises(InvalidInput):
            parse_join_link(bad)
    with pytest.raises(InvalidSessionCode):
        parse_join_link("http://h/codestream/join/ABC_0O#k")
    with pytest.raises(InvalidUrl) as info:
        parse_join_link("ftp://user:secret@h/codestream/join/ABC234#KEY")
    assert "secret" not in info.value.message and "KEY" not in info.value.message
    assert students_base_url("http://pc:8888/", local_hostname="pc", lan_address="10.1.2.3") == "http://10.1.2.3:8888/"
    assert students_base_url("http://pc:8888/", "https://cs.school/") == "https://cs.school/"


def test_sessions_carry_the_link_and_the_public_page_holds_no_key(cs_teacher, cs_student):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Week 3")
    code, key = session["code"], session["student_key"]
    assert session["join_link"] == f"{cs_teacher.url}codestream/join/{code}#{key}"
    listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    # Redis has only the key's hash; the teacher's own server kept the key (0600 file) for its list
    assert listed[code]["join_link"] == f"{cs_teacher.url}codestream/join/{code}#{key}"
    rotated = teacher.post(f"codestream/api/sessions/{code}/key").json()
    key = rotated["student_key"]
    assert rotated["join_link"] == f"{cs_teacher.url}codestream/join/{code}#{key}"
    listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    assert listed[code]["join_link"] == rotated["join_link"]
    # a session this server did not start with its key known (a 1.x push made it) lists no key
    assert teacher.post("code_stream/ABCDEF/push-cell", json={"cell_id": "c1", "cell_content": "1",
                                                              "cell_timestamp": "1"}).status_code < 300
    listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    assert listed["ABCDEF"]["join_link"] == f"{cs_teacher.url}codestream/join/ABCDEF"

    page = cs_teacher.client(auth=False).get(f"codestream/join/{code.lower()}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert code in page.text and "Code Stream — Student" in page.text and key not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    gone = cs_teacher.client(auth=False).get("codestream/join/ZZZZZZ")
    assert gone.status_code == 404 and "no live session" in gone.text
    assert cs_teacher.client(auth=False).get("codestream/join/ABC_0O").status_code == 400

    # the student pastes the one link: URL, code and key are configured from it
    student = cs_student.client()
    r = student.put("codestream/api/student/config", json={"join_link": rotated["join_link"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"teacher_url": cs_teacher.url, "session_code": code, "has_key": True}
    assert student.post("codestream/api/student/test").json()["ok"] is True
    for bad, status in ((f"{cs_teacher.url}codestream/join/{code}", 400), ("not a link", 400),
                        (f"{cs_teacher.url}hub/user-redirect/codestream-student/?session={code}", 400)):
        r = student.put("codestream/api/student/config", json={"join_link": bad})
        assert r.status_code == status and set(r.json()["error"]) == {"code", "message"}, bad
    assert student.get("codestream/api/student/config").json()["has_key"] is True  # nothing lost
