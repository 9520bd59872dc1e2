"""The student dashboard's v3 parts driven through their parameters against real servers:
follow the teacher, a per-pull "teacher's output" choice, merge, pull all, the lesson download,
hands; plus their pure parts (the merge view's resolution, hand states).
"""

from __future__ import annotations

import nbformat
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codestream_dash import student_merge_model as merge_model
from codestream_dash.hub import HubStudentDashboard
from codestream_dash.student import StudentDashboard
from codestream_dash.student_hands import hand_state_text, ordinal
from codestream_dash.student_pull import count_of
from jupyter_ext.clients import ServerClient
from jupyter_ext.clients.server import attachment_name
from jupyter_ext.domain.merge import merge_texts
from jupyter_ext.testing import create_session, notebook_cells, publish, source_of, until, write_notebook


@pytest.fixture
async def dashboard(student):
    board = StudentDashboard(ServerClient(student.url, student.token))
    yield board
    await board.aclose()


async def joined(board, teacher_server, session, notebook="work.ipynb"):
    board.param.update(teacher_url=teacher_server.url, session_code=session["code"],
                       student_key=session["student_key"])
    assert await board.save_config(), board.form_message
    await board.start()
    await until(board, lambda: board.connection == "connected", "the relay to open")
    board.target_notebook = notebook
    await board.settle()


# -- pure parts -------------------------------------------------------------------------------
def server_merge(base: str, mine: str, theirs: str) -> dict:
    """The merge answer's text fields as the student's server computes them."""
    result = merge_texts(base, mine, theirs)
    return {"merged": result.merged, "clean": result.clean, "conflicts": [c.to_dict() for c in result.conflicts]}


def test_conflicts_resolved_as_mine_theirs_both_or_by_hand():
    base = "a = 1\nb = 2\nc = 3\n"
    mine = "a = 1\nb = 20  # mine\nc = 3\n"
    theirs = "a = 1\nb = 200\nc = 3\nd = 4\n"
    result = server_merge(base, mine, theirs)
    assert len(result["conflicts"]) == 1
    assert merge_model.resolve(result, [""], [""]) is None  # undecided: no result yet
    assert merge_model.resolve(result, ["mine"], [""]) == "a = 1\nb = 20  # mine\nc = 3\nd = 4\n"
    assert merge_model.resolve(result, ["theirs"], [""]) == theirs
    assert merge_model.resolve(result, ["both"], [""]) == "a = 1\nb = 20  # mine\nb = 200\nc = 3\nd = 4\n"
    assert merge_model.resolve(result, ["edited"], ["b = 99"]) == "a = 1\nb = 99\nc = 3\nd = 4\n"
    long_base = "a\nb\nc\nd\ne\n"
    clean = server_merge(long_base, "a  # mine\nb\nc\nd\ne\n", "a\nb\nc\nd\ne = 5\n")
    assert clean["clean"] and merge_model.resolve(clean, [], []) == "a  # mine\nb\nc\nd\ne = 5\n"


lines = st.lists(st.sampled_from(["a = 1", "b = 2", "c", "", "x = y", "# note"]), min_size=0, max_size=8).map(
    lambda parts: "".join(f"{p}\n" for p in parts))


@given(base=lines, mine=lines, theirs=lines)
def test_resolving_every_conflict_leaves_no_marker_and_keeps_the_chosen_side(base, mine, theirs):
    result = server_merge(base, mine, theirs)
    count = len(result["conflicts"])
    for choice in ("mine", "theirs", "both"):
        text = merge_model.resolve(result, [choice] * count, [""] * count)
        assert "<<<<<<< mine" not in text and ">>>>>>> teacher" not in text
        for conflict in result["conflicts"]:
            side = {"mine": conflict["mine"], "theirs": conflict["theirs"]}.get(choice, conflict["theirs"])
            assert side in text
    # taking the teacher's side of every conflict of an unedited copy gives the teacher's text
    unedited = server_merge(base, base, theirs)
    assert unedited["clean"] and merge_model.resolve(unedited, [], []) == theirs


def test_hand_states_and_small_helpers():
    assert hand_state_text({"state": "waiting", "position": 3}) == "waiting, 3rd"
    assert hand_state_text({"state": "waiting", "position": 11}) == "waiting, 11th"
    assert hand_state_text({"state": "helping"}) == "the teacher is looking at it"
    assert hand_state_text({"state": "done"}) == "done"
    assert [ordinal(n) for n in (1, 2, 3, 4, 21, 112)] == ["1st", "2nd", "3rd", "4th", "21st", "112th"]
    assert attachment_name('attachment; filename="Loops.ipynb"') == "Loops.ipynb"
    assert attachment_name('attachment; filename="../x/y.ipynb"') == "_x_y.ipynb"
    assert attachment_name("") == "lesson.ipynb"
    assert count_of(3) == 3 and count_of(["a", "b"]) == 2 and count_of(None) == 0 and count_of(True) == 0


async def test_under_the_hub_no_laptop_form_and_no_name_field(student):
    board = HubStudentDashboard(ServerClient(student.url, student.token))
    try:
        view = board.__panel__()
        assert not list(view.select(lambda obj: getattr(obj, "placeholder", "") == "http://teacher-host:8888/"))
        assert not board.needs_name and "session" in board.not_configured_text
    finally:
        await board.aclose()


# -- follow the teacher -----------------------------------------------------------------------
async def test_follow_the_teacher_on_and_off(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    write_notebook(student.root_dir, "work.ipynb", [("code", "x = 1")])
    for n, cell_id in enumerate(("one", "two", "three"), start=1):
        publish(teacher, code, cell_id, f"print({n})", n)
    r = teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "two"})
    assert r.status_code == 200, r.text
    await joined(dashboard, cs_teacher, session)
    # the list's focus at load: shown and selected
    assert dashboard.focus_cell_id == "two" and dashboard.selected_cell_id == "two"
    scrolls = dashboard.scroll_request
    items = dashboard._feed_view()
    assert "cs-feed-item-focused" in items[2].css_classes and "the teacher is showing this" in items[2][0].object

    teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "three"})
    await until(dashboard, lambda: dashboard.focus_cell_id == "three", "the focus event")
    assert dashboard.selected_cell_id == "three" and dashboard.scroll_request > scrolls

    dashboard.follow_teacher = False  # stays put from now on, the mark still moves
    dashboard.selected_cell_id = "one"
    scrolls = dashboard.scroll_request
    teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "two"})
    await until(dashboard, lambda: dashboard.focus_cell_id == "two", "the focus event")
    assert dashboard.selected_cell_id == "one" and dashboard.scroll_request == scrolls

    dashboard.follow_teacher = True  # back on: jump to where the teacher is
    assert dashboard.selected_cell_id == "two" and dashboard.scroll_request == scrolls + 1
    teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": None})
    await until(dashboard, lambda: dashboard.focus_cell_id is None, "the focus cleared")
    assert dashboard.selected_cell_id == "two"


# -- the teacher's output: a choice per pull ----------------------------------------------------
async def test_the_teachers_output_is_a_choice_for_one_pull(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    write_notebook(student.root_dir, "work.ipynb", [("code", "x = 1")])
    outputs = [{"output_type": "stream", "name": "stdout", "text": "42\n"}]
    r = teacher.put(f"codestream/api/sessions/{code}/cells/answer",
                    json={"source": "print(42)", "cell_type": "code", "position": 1, "outputs": outputs})
    assert r.status_code == 200, r.text
    await joined(dashboard, cs_teacher, session)
    dashboard.selected_cell_id = "answer"
    await dashboard.settle()
    dashboard.with_outputs = True
    assert (await dashboard.pull_selected())["with_outputs"] is True
    assert dashboard.with_outputs is False  # the next pull starts without unasked output
    r = teacher.put(f"codestream/api/sessions/{code}/cells/answer",
                    json={"source": "print(43)", "cell_type": "code", "position": 1, "outputs": outputs})
    await until(dashboard, lambda: dashboard.cells[0]["version"] == 2, "version 2")
    assert not (await dashboard.pull_selected()).get("with_outputs")
    cells = notebook_cells(student, "work.ipynb")
    assert [len(c.get("outputs", [])) for c in cells] == [0, 1, 0]

    dashboard.with_outputs = True
    dashboard.selected_cell_id = None  # choosing another cell resets it too
    assert dashboard.with_outputs is False


# -- a new notebook on offer --------------------------------------------------------------------
async def test_a_pull_into_the_offered_new_notebook_creates_it(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    publish(teacher, code, "hello", "print('hi')", 1)
    write_notebook(student.root_dir, "existing.ipynb", [("code", "x = 1")])
    dashboard.param.update(teacher_url=cs_teacher.url, session_code=code, student_key=session["student_key"])
    assert await dashboard.save_config()
    await dashboard.load()
    assert dashboard.target_notebook and not dashboard.target_notebook.startswith("new:")
    dashboard._on_full_page(True)  # what the browser says, after the page loaded, of a join link opened on its own
    await dashboard.settle()
    assert dashboard.target_notebook == f"new:codestream-{code.lower()}.ipynb"
    dashboard.selected_cell_id = "hello"
    await dashboard.settle()
    result = await dashboard.pull_selected()
    assert result and result["notebook_path"] == f"codestream-{code.lower()}.ipynb"
    assert dashboard.target_notebook == f"codestream-{code.lower()}.ipynb"
    assert [source_of(c) for c in notebook_cells(student, dashboard.target_notebook)] == ["print('hi')"]
    assert "Open JupyterLab with" in dashboard._lab_link_html(True, dashboard.target_notebook)


# -- hands --------------------------------------------------------------------------------------
async def test_a_hand_raised_with_my_cell_its_state_live_and_lowered(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    write_notebook(student.root_dir, "work.ipynb", [("code", "import math")])
    publish(teacher, code, "area", "area = 3.14 * r * r", 1)
    await joined(dashboard, cs_teacher, session)
    dashboard.selected_cell_id = "area"
    await dashboard.settle()
    assert await dashboard.pull_selected()
    await dashboard.settle()
    assert dashboard.hand_cell == 1  # the cell I pulled, by default

    dashboard.hand_note = "NameError: r?"
    assert await dashboard.raise_hand() is None  # laptop mode: a name first
    assert "name" in dashboard.hand_message
    dashboard.student_name = "Ada <b>"
    dashboard.param.trigger("ask_help")
    await dashboard.settle()
    assert dashboard.hand_ok, dashboard.hand_message
    assert [(h["state"], h.get("position")) for h in dashboard.my_hands] == [("waiting", 1)]
    assert "waiting, 1st" in dashboard._my_hands_view()[0][0].object
    r = student.client().get("codestream/api/student/config")
    assert r.json()["name"] == "Ada <b>"  # kept in the student config: given once

    queue = teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"]
    assert [(h["name"], h["cell_id"], h["note"], h["source"]) for h in queue] == [
        ("Ada <b>", "area", "NameError: r?", "area = 3.14 * r * r")]
    hand_id = queue[0]["hand_id"]
    teacher.patch(f"codestream/api/sessions/{code}/hands/{hand_id}", json={"state": "helping"})
    await until(dashboard, lambda: dashboard.my_hands and dashboard.my_hands[0]["state"] == "helping",
                "the hand_state event")
    assert "the teacher is looking at it" in dashboard._my_hands_view()[0][0].object

    assert await dashboard.lower(hand_id)
    assert dashboard.my_hands == []
    still_open = [h for h in teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"]
                  if h["hand_id"] == hand_id and h["state"] in ("waiting", "helping")]
    assert still_open == []


async def test_sharing_run_status_is_a_student_config_toggle(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    write_notebook(student.root_dir, "work.ipynb", [("code", "x = 1")])
    await joined(dashboard, cs_teacher, session)
    assert dashboard.share_run_status is True
    dashboard.share_run_status = False
    await dashboard.settle()
    assert student.client().get("codestream/api/student/config").json()["share_run_status"] is False
    other = StudentDashboard(ServerClient(student.url, student.token))
    try:
        await other.load()
        assert other.share_run_status is False and other.configured
    finally:
        await other.aclose()


# -- merge, undo ----------------------------------------------------------------------------------
async def pulled_and_edited(cs_teacher, dashboard, student, source: str, edited: str):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    write_notebook(student.root_dir, "work.ipynb", [("code", "import math")])
    publish(teacher, code, "area", source, 1)
    await joined(dashboard, cs_teacher, session)
    dashboard.selected_cell_id = "area"
    await dashboard.settle()
    assert await dashboard.pull_selected()
    client = student.client()
    nb = client.get("api/contents/work.ipynb", params={"content": 1}).json()["content"]
    nb["cells"][1]["source"] = edited
    assert client.put("api/contents/work.ipynb",
                      json={"type": "notebook", "format": "json", "content": nb}).status_code == 200
    return teacher, code


BASE = "import math\n\nr = 2\n\n\narea = 3.14 * r * r\nprint(area)\n"
MINE = "import math\n\nr = 5  # my radius\n\n\narea = 3.14 * r * r\nprint(area)\n"


async def test_a_clean_merge_applies_in_one_click_and_undo_restores_my_text(cs_teacher, dashboard, student):
    teacher, code = await pulled_and_edited(cs_teacher, dashboard, student, BASE, MINE)
    publish(teacher, code, "area", BASE.replace("3.14 * r * r", "math.pi * r ** 2"), 1)
    await until(dashboard, lambda: dashboard.cells and dashboard.cells[0]["version"] == 2, "version 2")
    await dashboard.refresh_target()
    await dashboard.settle()
    # the update's diff has a base: the teacher's change and mine, apart
    teacher_diff, my_diff = dashboard.selected_diffs()
    assert "+area = math.pi * r ** 2" in teacher_diff and "r = 5" not in teacher_diff
    assert "+r = 5  # my radius" in my_diff and "math.pi" not in my_diff
    assert dashboard.merge_offered()
    detail = dashboard._detail_view()
    assert any("cs-diff-teacher" in (pane.css_classes or []) for pane in detail)

    dashboard.param.trigger("merge")
    await dashboard.settle()
    assert dashboard.merge_result["clean"] and dashboard.merge_choices == []
    assert dashboard.merged_text() == MINE.replace("3.14 * r * r", "math.pi * r ** 2")
    view = dashboard._merge_view()
    assert any("cs-merge-three" in (part.css_classes or []) for part in view)
    dashboard.param.trigger("apply_merge")
    await dashboard.settle()
    assert dashboard.merge_ok, dashboard.merge_message
    cells = notebook_cells(student, "work.ipynb")
    assert source_of(cells[1]) == MINE.replace("3.14 * r * r", "math.pi * r ** 2") and len(cells) == 2
    assert cells[1]["metadata"]["codestream"]["version"] == 2
    assert cells[1]["metadata"]["codestream"]["before_merge"] == MINE

    dashboard.param.trigger("undo_merge")
    await dashboard.settle()
    assert dashboard.merge_ok, dashboard.merge_message
    cells = notebook_cells(student, "work.ipynb")
    assert source_of(cells[1]) == MINE and "before_merge" not in cells[1]["metadata"]["codestream"]
    assert cells[1]["metadata"]["codestream"]["version"] == 1
    assert dashboard.feed()[0][1] == "updated"  # the teacher's update is on offer again


async def test_conflicts_are_resolved_one_by_one_before_applying(cs_teacher, dashboard, student):
    teacher, code = await pulled_and_edited(cs_teacher, dashboard, student, BASE, MINE)
    publish(teacher, code, "area", BASE.replace("r = 2", "r = 3"), 1)
    await until(dashboard, lambda: dashboard.cells and dashboard.cells[0]["version"] == 2, "version 2")
    await dashboard.refresh_target()
    assert await dashboard.start_merge()
    assert not dashboard.merge_result["clean"] and dashboard.merge_choices == [""]
    assert dashboard.merged_text() is None
    assert await dashboard.apply_current_merge() is None  # undecided: nothing sent, nothing changed
    assert "every conflict" in dashboard.merge_message
    assert source_of(notebook_cells(student, "work.ipynb")[1]) == MINE

    dashboard.choose(0, "both")
    assert "r = 5  # my radius\nr = 3\n" in dashboard.merged_text()
    dashboard.choose(0, "edited", "r = 4  # agreed\n")
    answer = await dashboard.apply_current_merge()
    assert answer and answer["applied"]
    assert source_of(notebook_cells(student, "work.ipynb")[1]) == MINE.replace("r = 5  # my radius", "r = 4  # agreed")


# -- catch up, take home -------------------------------------------------------------------------
async def test_pull_all_twice_adds_nothing_the_second_time_and_the_lesson_downloads(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Loops")
    code = session["code"]
    write_notebook(student.root_dir, "work.ipynb", [("code", "mine = 1")])
    for n in range(1, 4):
        publish(teacher, code, f"c{n}", f"print({n})", n)
    await joined(dashboard, cs_teacher, session)
    dashboard.param.trigger("pull_all")
    await dashboard.settle()
    assert dashboard.pull_ok and "added 3 cells" in dashboard.pull_message, dashboard.pull_message
    assert [source_of(c) for c in notebook_cells(student, "work.ipynb")] == ["mine = 1", "print(1)", "print(2)", "print(3)"]
    assert [status for _, status in dashboard.feed()] == ["pulled"] * 3
    assert await dashboard.pull_everything()
    assert "added 0 cells, skipped 3" in dashboard.pull_message
    assert len(notebook_cells(student, "work.ipynb")) == 4

    body, name = await dashboard.client.student_notebook()
    assert name == "Loops.ipynb"
    lesson = nbformat.reads(body.decode(), as_version=4)
    nbformat.validate(lesson)
    assert [c.source for c in lesson.cells] == ["print(1)", "print(2)", "print(3)"]
