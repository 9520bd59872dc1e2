"""Property-based tests (hypothesis) of the merge: random base texts, random edits on both sides.

Non-overlapping edits (at least one untouched line between an edit of mine and one of the
teacher's) merge cleanly and the result holds both; overlapping ones are a conflict and an
apply without a resolution changes nothing; ``before_merge`` is always the text before.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_ext.domain.errors import MergeConflict
from jupyter_ext.domain.merge import merge_texts
from jupyter_ext.services.student_merge import MergeChange, MergeRequest

WORDS = st.text(alphabet="abcxyz =+()#'", max_size=12)


@st.composite
def base_lines(draw, min_size=1, max_size=40):
    words = draw(st.lists(WORDS, min_size=min_size, max_size=max_size))
    return [f"line{i} {w}\n" for i, w in enumerate(words)]  # unique lines: one alignment


def replacement(draw, side: str, i: int) -> list[str]:
    """What an edit puts in place of base line ``i``: 0 (a deletion) to 3 new lines of ``side``."""
    count = draw(st.integers(0, 3))
    return [f"{side}{i}.{k} {draw(WORDS)}\n" for k in range(count)]


@st.composite
def non_overlapping(draw):
    base = draw(base_lines())
    owners: list[str | None] = []
    for i in range(len(base)):
        choices = [None]
        # an edit of one side never touches a line next to an edit of the other side
        near = owners[i - 1] if i else None
        if near in (None, "mine"):
            choices.append("mine")
        if near in (None, "theirs"):
            choices.append("theirs")
        owner = draw(st.sampled_from(choices))
        if owner is not None and i and owners[i - 1] not in (None, owner):
            owner = None
        owners.append(owner)
    mine, theirs, expected = [], [], []
    for i, line in enumerate(base):
        if owners[i] is None:
            mine.append(line)
            theirs.append(line)
            expected.append(line)
            continue
        new = replacement(draw, owners[i], i)
        (mine if owners[i] == "mine" else theirs).extend(new)
        (theirs if owners[i] == "mine" else mine).append(line)
        expected.extend(new)
    return "".join(base), "".join(mine), "".join(theirs), "".join(expected)


@st.composite
def overlapping(draw):
    base = draw(base_lines())
    i = draw(st.integers(0, len(base) - 1))
    mine, theirs = list(base), list(base)
    mine[i] = f"mine {draw(WORDS)}\n"
    theirs[i] = f"theirs {draw(WORDS)}\n"
    return "".join(base), "".join(mine), "".join(theirs)


@settings(max_examples=300, deadline=None)
@given(non_overlapping())
def test_non_overlapping_edits_merge_cleanly_and_keep_both(texts):
    base, mine, theirs, expected = texts
    result = merge_texts(base, mine, theirs)
    assert result.clean and result.conflicts == []
    assert result.merged == expected
    for line in set(mine.splitlines()) ^ set(base.splitlines()):
        if line.startswith("mine"):
            assert line in result.merged.splitlines()
    for line in set(theirs.splitlines()) ^ set(base.splitlines()):
        if line.startswith("theirs"):
            assert line in result.merged.splitlines()


@settings(max_examples=200, deadline=None)
@given(overlapping())
def test_overlapping_edits_are_a_conflict(texts):
    base, mine, theirs = texts
    result = merge_texts(base, mine, theirs)
    assert not result.clean
    conflict = result.conflicts[0]
    assert conflict.mine.startswith("mine ") and conflict.theirs.startswith("theirs ")
    assert result.merged.splitlines()[conflict.line - 1] == "<<<<<<< mine"


def notebook_with_copy(source: str, version: int = 1) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    mine = nbformat.v4.new_code_cell(source)
    mine.metadata["codestream"] = {"session": "ABCDEF", "cell_id": "t1", "version": version}
    nb.cells = [nbformat.v4.new_markdown_cell("intro"), mine]
    return nb


def change(base: str, theirs: str, *, apply: bool, resolution: str | None = None) -> MergeChange:
    request = MergeRequest("n.ipynb", "t1", apply=apply, resolution=resolution)
    return MergeChange(request, session="ABCDEF", theirs={"source": theirs, "version": 2}, base_source=base,
                       base_version=1)


@settings(max_examples=200, deadline=None)
@given(overlapping())
def test_an_apply_with_conflicts_and_no_resolution_changes_nothing(texts):
    base, mine, theirs = texts
    nb = notebook_with_copy(mine)
    before = copy.deepcopy(nb)
    with pytest.raises(MergeConflict):
        change(base, theirs, apply=True).file(nb)
    assert nb == before
    answer, changed = change(base, theirs, apply=False).file(nb)
    assert not changed and nb == before and answer["applied"] is False and answer["conflicts"]


@settings(max_examples=200, deadline=None)
@given(st.one_of(non_overlapping().map(lambda t: t[:3]), overlapping()), st.none() | st.text(max_size=40))
def test_before_merge_is_always_the_text_before(texts, resolution):
    base, mine, theirs = texts
    nb = notebook_with_copy(mine)
    merge = merge_texts(base, mine, theirs)
    if not merge.clean and resolution is None:
        resolution = "resolved by hand\n"
    answer, changed = change(base, theirs, apply=True, resolution=resolution).file(nb)
    assert changed and answer["applied"] is True
    cell = nb.cells[1]
    assert cell.metadata["codestream"]["before_merge"] == mine
    assert cell.metadata["codestream"]["version"] == 2 and cell.metadata["codestream"]["cell_id"] == "t1"
    assert cell.source == (resolution if resolution is not None else merge.merged)
    assert nb.cells[0].source == "intro"
    nbformat.validate(nb)
