"""Pure domain rules: session codes, cell validation, the version rule."""

from __future__ import annotations

import pytest

from jupyter_ext.domain import (
    ALPHABET,
    Cell,
    CellLimits,
    InvalidCellId,
    InvalidInput,
    InvalidSessionCode,
    PayloadTooLarge,
    apply_publish,
    new_session_code,
    new_student_key,
    next_version,
    normalize_session_code,
    validate_cell_id,
    validate_cell_input,
    validate_notebook_path,
    validate_title,
)


def test_new_codes_use_only_the_unambiguous_alphabet():
    codes = {new_session_code() for _ in range(500)}
    assert len(codes) > 490
    for code in codes:
        assert len(code) == 6 and set(code) <= set(ALPHABET)
    assert not set("0O1IL") & set(ALPHABET)


def test_student_keys_are_readable_from_a_projector_and_unguessable():
    keys = {new_student_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        groups = key.split("-")
        assert len(groups) == 5 and all(len(g) == 4 and set(g) <= set(ALPHABET) for g in groups)


@pytest.mark.parametrize("raw,expected", [("abc234", "ABC234"), (" xyzw99 ", "XYZW99"),
                                          ("Lo1Ab0", "LO1AB0"), ("o0i1lL", "O0I1LL")])
def test_codes_are_normalised_to_upper_case(raw, expected):
    assert normalize_session_code(raw) == expected


@pytest.mark.parametrize("raw", ["", "ABCDE", "ABCDEFG", "ABC-EF", "ABC_EF", None, 123456, "ÄBCDEF",
                                 "ßBCDE", "ABCDE\n", "ＡBCDEF", "ABCDE٣"])
def test_bad_codes_are_refused(raw):
    with pytest.raises(InvalidSessionCode) as info:
        normalize_session_code(raw)
    assert info.value.status == 400 and info.value.code == "invalid_session_code"


@pytest.mark.parametrize("raw", ["", "a b", "a/b", "x" * 65, None, 5, "../x"])
def test_bad_cell_ids(raw):
    with pytest.raises(InvalidCellId):
        validate_cell_id(raw)


def test_good_cell_id():
    assert validate_cell_id("3f2a-b_c.d") == "3f2a-b_c.d"


def test_cell_input_limits_and_types():
    ok = validate_cell_input({"source": "x", "cell_type": "raw", "position": 2})
    assert ok == {"source": "x", "cell_type": "raw", "position": 2.0, "notebook_path": None,
                  "number": None, "outputs": None}
    with pytest.raises(PayloadTooLarge) as info:
        validate_cell_input({"source": "é" * 6, "cell_type": "code", "position": 0}, CellLimits(max_source_bytes=10))
    assert info.value.status == 413
    for bad in ({"source": "x", "cell_type": "code", "position": True},
                {"source": "x", "cell_type": "code", "position": float("nan")},
                {"source": ["x"], "cell_type": "code", "position": 0},
                {"source": "x", "cell_type": "heading", "position": 0},
                [1, 2]):
        with pytest.raises(InvalidInput):
            validate_cell_input(bad)


@pytest.mark.parametrize("raw", ["../a.ipynb", "a/../../b.ipynb", "a\x00b", "  ", 3])
def test_notebook_paths_stay_inside_the_root(raw):
    with pytest.raises(InvalidInput):
        validate_notebook_path(raw)


def test_notebook_path_normalised():
    assert validate_notebook_path("/lessons\\week1.ipynb") == "lessons/week1.ipynb"
    assert validate_notebook_path(None) is None


def test_title():
    assert validate_title("  Loops ") == "Loops"
    with pytest.raises(InvalidInput):
        validate_title("x" * 201)


def test_version_rule():
    assert next_version(None, "a", "code") == 1
    v1 = Cell("c", "code", "a", 0.0, 1, "t0")
    assert next_version(v1, "a", "code") == 1
    assert next_version(v1, "b", "code") == 2
    assert next_version(v1, "a", "markdown") == 2
    moved = apply_publish(v1, "c", {"source": "a", "cell_type": "code", "position": 4.0, "notebook_path": None}, "t1")
    assert moved.version == 1 and moved.position == 4.0 and moved.updated == "t0"
    changed = apply_publish(moved, "c", {"source": "b", "cell_type": "code", "position": 4.0, "notebook_path": "n.ipynb"}, "t2")
    assert changed.version == 2 and changed.updated == "t2" and changed.notebook_path == "n.ipynb"
