"""Where a student's server keeps its teacher: one small per-user file, mode 0600.

The file lives under the Jupyter data directory (per user), is replaced atomically (a
temporary file in the same folder, fsync, rename), and holds the only copy of the student
key outside the teacher's hash. The key is never logged and never returned: views carry
``has_key`` instead.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..domain import InvalidInput, normalize_session_code
from ..domain.join import parse_join_link
from ..domain.talkback import MAX_NAME_CHARS
from ..domain.urls import normalize_teacher_url
from .private_files import write_private

MAX_KEY_LENGTH = 256


@dataclass(frozen=True)
class StudentConfig:
    teacher_url: str
    session_code: str | None = None  # 1.x configs have none: the code comes with each request
    student_key: str | None = field(default=None, repr=False)
    name: str | None = None  # shown with my hands (laptop mode; under the hub: the hub user)
    share_run_status: bool = True  # tell the teacher how my runs of pulled cells ended

    def public_dict(self) -> dict:
        view = {"teacher_url": self.teacher_url, "session_code": self.session_code,
                "has_key": bool(self.student_key)}
        if self.name:  # v3 settings, listed once set (absent: no name, run status shared)
            view["name"] = self.name
        if not self.share_run_status:
            view["share_run_status"] = False
        return view

    def to_file(self) -> dict:
        return {"teacher_url": self.teacher_url, "session_code": self.session_code,
                "student_key": self.student_key, "name": self.name, "share_run_status": self.share_run_status}


def validate_student_key(raw: object) -> str:
    """A key as the teacher's dashboard shows it; the message never repeats what was typed."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("'student_key' must be the key your teacher shows (a non-empty string).")
    key = raw.strip()
    if len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable() or " " in key:
        raise InvalidInput("The student key may contain only letters, digits, '-' and '_'; copy it"
                           " again from your teacher's screen.")
    return key


def config_from_body(body: dict, current: StudentConfig | None, *, require_code: bool = True) -> StudentConfig:
    """Validate a PUT body; an omitted ``student_key`` keeps the stored one; a ``join_link``
    stands for all three."""
    if body.get("join_link") is not None:
        body = body_from_join_link(body["join_link"])
    teacher_url = normalize_teacher_url(body.get("teacher_url"))
    raw_code = body.get("session_code")
    if raw_code is None and not require_code:
        code = None
    else:
        code = normalize_session_code(raw_code)
    if body.get("student_key") is not None:
        key = validate_student_key(body["student_key"])
    else:
        key = current.student_key if current is not None else None
    return StudentConfig(teacher_url=teacher_url, session_code=code, student_key=key,
                         **talkback_settings(body, current))


def talkback_settings(body: dict, current: StudentConfig | None) -> dict:
    """``name`` (≤ 40 characters, "" or null for none) and ``share_run_status``; omitted: kept."""
    name = current.name if current is not None else None
    if "name" in body:
        raw = body["name"]
        if raw is not None and (not isinstance(raw, str) or len(raw.strip()) > MAX_NAME_CHARS):
            raise InvalidInput(f"'name' is the name your teacher sees (at most {MAX_NAME_CHARS} characters).")
        name = raw.strip() or None if isinstance(raw, str) else None
    share = current.share_run_status if current is not None else True
    if "share_run_status" in body:
        if not isinstance(body["share_run_status"], bool):
            raise InvalidInput("'share_run_status' must be true or false.")
        share = body["share_run_status"]
    return {"name": name, "share_run_status": share}


def body_from_join_link(link: object) -> dict:
    found = parse_join_link(link)
    if found.get("hub"):
        raise InvalidInput("That is a JupyterHub link: open it in your browser while logged in to the hub.")
    if not found.get("student_key"):
        raise InvalidInput("The join link has no key (the part after #); copy the whole link again.")
    return found


class StudentConfigStore:
    """Reads once at start, keeps the config in memory, writes each change through to the file."""

    def __init__(self, folder: str | Path, log: logging.Logger | None = None):
        self.folder = Path(folder)
        self.path = self.folder / "student.json"
        self.client_id_path = self.folder / "client-id"
        self.hands_path = self.folder / "hands.json"  # the hands this server raised (services/student_talkback.py)
        self.log = log or logging.getLogger(__name__)
        self._config: StudentConfig | None = None
        self._client_id: str | None = None

    @property
    def config(self) -> StudentConfig | None:
        return self._config

    def load(self) -> StudentConfig | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._config = StudentConfig(
                teacher_url=normalize_teacher_url(data["teacher_url"]),
                session_code=normalize_session_code(data["session_code"]) if data.get("session_code") else None,
                student_key=validate_student_key(data["student_key"]) if data.get("student_key") else None,
                **talkback_settings(data, None),
            )
        except FileNotFoundError:
            self._config = None
        except Exception as exc:  # a damaged file must not stop the server; its content is not logged
            self.log.warning("codestream: ignoring the unreadable student config %s (%s)",
                             self.path, type(exc).__name__)
            self._config = None
        return self._config

    def save(self, config: StudentConfig) -> None:
        self._write_private(self.path, json.dumps(config.to_file()))
        self._config = config

    def delete(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self._config = None

    def load_hands(self) -> list[dict]:
        """The hands this server raised, as last kept ([] when none or unreadable)."""
        try:
            kept = json.loads(self.hands_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            self.log.warning("codestream: ignoring the unreadable hands file %s (%s)", self.hands_path,
                             type(exc).__name__)
            return []
        return kept if isinstance(kept, list) else []

    def save_hands(self, hands: list[dict]) -> None:
        """Keep the hands this server raised across a restart; a failure is logged, never raised
        (the hands go on in memory)."""
        try:
            self._write_private(self.hands_path, json.dumps(hands))
        except OSError as exc:
            self.log.warning("codestream: could not keep the raised hands in %s (%s)", self.hands_path,
                             type(exc).__name__)

    def client_id(self) -> str:
        """A stable id of this student server, sent to the teacher so it can count students."""
        if self._client_id is None:
            try:
                value = self.client_id_path.read_text(encoding="ascii").strip()
                uuid.UUID(value)
            except (OSError, ValueError):
                value = str(uuid.uuid4())
                try:
                    self._write_private(self.client_id_path, value)
                except OSError:
                    self.log.warning("codestream: could not keep the client id in %s", self.client_id_path)
            self._client_id = value
        return self._client_id

    def _write_private(self, target: Path, text: str) -> None:
        write_private(target, text)
