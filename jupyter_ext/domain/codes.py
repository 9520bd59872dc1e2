"""Session codes: short, unambiguous when read aloud or from a projector."""

from __future__ import annotations

import re
import secrets

from .errors import InvalidSessionCode

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
# Codes the server makes come from ALPHABET; codes it accepts are any 6 of [A-Z0-9] (after
# upper-casing), because the 1.x frontend made its codes in the browser from [A-Za-z0-9].
_CODE_RE = re.compile(rf"^[A-Z0-9]{{{CODE_LENGTH}}}\Z")


def new_session_code() -> str:
    """A fresh random code; uniqueness among live sessions is the store's job."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_session_code(raw: object) -> str:
    """Upper-case and check a code typed by a person; raise ``InvalidSessionCode`` otherwise."""
    if not isinstance(raw, str):
        raise InvalidSessionCode("A session code is a string of 6 letters and digits.")
    code = raw.strip()
    if not code.isascii():
        code = ""  # str.upper() maps some non-ASCII letters onto ASCII ones (e.g. 'ß' -> 'SS')
    code = code.upper()
    if not _CODE_RE.match(code):
        raise InvalidSessionCode(
            f"A session code is {CODE_LENGTH} letters and digits (A-Z, 0-9);"
            " check the code your teacher shows."
        )
    return code


STUDENT_KEY_GROUPS = 5
STUDENT_KEY_GROUP_LENGTH = 4


def new_student_key() -> str:
    """A read-only key for one session's students; only its hash is ever stored.

    Five groups of four characters from the session-code alphabet (about 99 bits), so it can be
    read off a projector and typed without confusing 0/O or 1/I/L.
    """
    return "-".join(
        "".join(secrets.choice(ALPHABET) for _ in range(STUDENT_KEY_GROUP_LENGTH))
        for _ in range(STUDENT_KEY_GROUPS)
    )
