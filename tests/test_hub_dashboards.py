"""The hub variants of the dashboards, driven without a browser against real single-user servers
under the real hub: the teacher's group choices and a session made for the chosen group; the
student's joinable list, one-click join, and a refused join."""

from __future__ import annotations

import pytest

from codestream_dash.hub import ANYONE, GroupedServerClient, HubStudentDashboard, HubTeacherDashboard
from jupyter_ext.clients import ServerClient


def teacher_board(hub, user="teacher1") -> HubTeacherDashboard:
    hub.start_servers(user)
    return HubTeacherDashboard(GroupedServerClient(f"{hub.url}user/{user}/", hub.token_for(user)))


def student_board(hub, user) -> HubStudentDashboard:
    hub.start_servers(user)
    return HubStudentDashboard(ServerClient(f"{hub.url}user/{user}/", hub.token_for(user)))


async def test_teacher_picks_one_of_their_groups_and_the_student_joins_with_a_click(cs_hub):
    teacher = teacher_board(cs_hub)
    student = student_board(cs_hub, "student2")
    code = None
    try:
        await teacher.load()
        assert teacher.param.group.objects == {ANYONE: "", "algebra": "algebra", "teachers": "teachers"}
        teacher.group = "algebra"
        created = await teacher.client.create_session("From the dashboard")
        assert created["group"] == "algebra" and created["teacher"] == "teacher1"
        code = created["code"]

        # a reload (or a restart of the teacher's server) shows the session's group, not "Anyone"
        again = teacher_board(cs_hub)
        try:
            await again.load()
            assert again.session_code == code and again.group == "algebra"
            assert again.join_link.endswith(f"?session={code}") and again.student_key == ""
        finally:
            await again.close()

        await student.refresh_joinable()
        assert code in [s["code"] for s in student.joinable]
        assert await student.join(code)
        assert student.session_code == code and student.configured and not student.has_key
        assert student.join_message == f"Following session {code}."
    finally:
        if code:
            await teacher.client.request("DELETE", f"codestream/api/sessions/{code}")
        await teacher.client.aclose()
        await student.aclose()


async def test_a_student_outside_the_group_is_told_and_nothing_changes(cs_hub):
    teacher = teacher_board(cs_hub)
    outsider = student_board(cs_hub, "outsider")
    code = None
    try:
        teacher.client.group = "algebra"
        code = (await teacher.client.create_session("Algebra only"))["code"]
        before = await outsider.client.student_config()
        await outsider.refresh_joinable()
        assert code not in [s["code"] for s in outsider.joinable]
        assert not await outsider.join(code)
        assert "algebra" in outsider.join_message
        assert await outsider.client.student_config() == before
    finally:
        if code:
            await teacher.client.request("DELETE", f"codestream/api/sessions/{code}")
        await teacher.client.aclose()
        await outsider.aclose()


@pytest.mark.parametrize("environ, expected", [({}, False), ({"CODESTREAM_HUB_SERVICE_URL": "http://h/"}, True)])
def test_the_apps_pick_the_hub_variants_only_under_the_hub(environ, expected):
    from codestream_dash.hub import under_hub

    assert under_hub(environ) is expected
