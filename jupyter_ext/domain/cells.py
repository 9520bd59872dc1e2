"""The published-cell model, its limits, and the version rule."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import InvalidCellId, InvalidInput, PayloadTooLarge
from .outputs import DEFAULT_MAX_OUTPUT_BYTES, validate_number, validate_outputs

CELL_TYPES = ("code", "markdown", "raw")
# "." and ".." are path segments no URL can carry (clients normalise them away), and \Z, not $,
# so a trailing newline is not part of an id.
CELL_ID_RE = re.compile(r"^(?!\.{1,2}\Z)[A-Za-z0-9_.\-]{1,64}\Z")
DEFAULT_MAX_SOURCE_BYTES = 1024 * 1024
MAX_TITLE_LENGTH = 200
MAX_NOTEBOOK_PATH_LENGTH = 1024


@dataclass(frozen=True)
class CellLimits:
    """Input limits an operator may tune (source size is the one that matters)."""

    max_source_bytes: int = DEFAULT_MAX_SOURCE_BYTES
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES


@dataclass
class Cell:
    cell_id: str
    cell_type: str
    source: str
    position: float
    version: int = 1
    updated: str = ""
    notebook_path: str | None = None
    number: int | None = None  # 1-based place in the teacher's notebook, when known
    outputs: list | None = None  # None: the teacher publishes the code only
    origin: str | None = None  # "student": a hand's code the teacher showed the class (no name)

    def to_dict(self) -> dict:
        # Spelled out, not dataclasses.asdict: a 50-cell list renders 50 of these per request,
        # and asdict's recursive deep copy was the largest cost of the cell-list route.
        stored = {**self.public_dict(), "notebook_path": self.notebook_path}
        stored["number"] = self.number  # None when the publisher did not say; see public_dict
        return stored

    def public_dict(self, number: int | None = None) -> dict:
        """The contract's cell object (``notebook_path`` is kept for the teacher only);
        ``number`` is the rank to show when the publisher gave none."""
        public = {"cell_id": self.cell_id, "cell_type": self.cell_type, "source": self.source,
                  "position": self.position, "version": self.version, "updated": self.updated,
                  "number": self.number or number or 1}
        if self.outputs is not None:
            public["outputs"] = self.outputs
        if self.origin is not None:
            public["origin"] = self.origin
        return public

    @classmethod
    def from_dict(cls, data: dict) -> Cell:
        return cls(
            cell_id=data["cell_id"],
            cell_type=data["cell_type"],
            source=data["source"],
            position=float(data["position"]),
            version=int(data["version"]),
            updated=str(data["updated"]),
            notebook_path=data.get("notebook_path"),
            number=data.get("number"),
            outputs=data.get("outputs"),
            origin=data.get("origin"),
        )


def iso_timestamp(epoch_seconds: float) -> str:
    """ISO 8601 in UTC, the form every timestamp takes in the contract."""
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).isoformat(timespec="milliseconds")


def validate_cell_id(raw: object) -> str:
    if not isinstance(raw, str) or not CELL_ID_RE.match(raw):
        raise InvalidCellId(
            "A cell id is 1 to 64 letters, digits, '.', '_' or '-', not '.' or '..' (the notebook's own cell id)."
        )
    return raw


MAX_VALID_CELL_IDS = 10_000


def validate_valid_cell_ids(body: dict) -> set[str]:
    """1.x ``cleanup-orphan-cells``: the ``valid_cell_ids`` to keep (every other cell goes)."""
    keep = body.get("valid_cell_ids")
    if (not isinstance(keep, list) or len(keep) > MAX_VALID_CELL_IDS
            or not all(isinstance(cell_id, str) for cell_id in keep)):
        raise InvalidInput("'valid_cell_ids' must be a list of cell ids (strings),"
                           f" at most {MAX_VALID_CELL_IDS}.")
    return set(keep)


def validate_title(raw: object) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise InvalidInput("'title' must be a string.")
    title = raw.strip()
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"'title' is at most {MAX_TITLE_LENGTH} characters.")
    return title


def validate_notebook_path(raw: object, *, required: bool = False) -> str | None:
    """A contents-API path: relative, no '..' segment, no NUL."""
    if raw is None:
        if required:
            raise InvalidInput("'notebook_path' is required.")
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("'notebook_path' must be a non-empty string.")
    return normalize_notebook_path(raw)


def normalize_notebook_path(raw: str) -> str:
    """The one spelling of a contents-API path: ``a.ipynb``, ``./a.ipynb``, ``/a.ipynb`` and
    ``a//./b`` style paths name one file, so they get one name (a pull locks on it); a ``..``
    segment, a NUL or an over-long path is refused (400), never resolved."""
    path = raw.strip().replace("\\", "/")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if (
        not parts
        or len(path) > MAX_NOTEBOOK_PATH_LENGTH
        or "\x00" in path
        or ".." in parts
    ):
        raise InvalidInput("'notebook_path' must be a path inside the Jupyter root, without '..'.")
    return "/".join(parts)


def validate_cell_input(body: object, limits: CellLimits = CellLimits()) -> dict:
    """Check a publish body; returns the clean ``source``, ``cell_type``, ``position``, ``notebook_path``."""
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.")
    source = body.get("source")
    if not isinstance(source, str):
        raise InvalidInput("'source' is required and must be a string.")
    if len(source.encode("utf-8", "surrogatepass")) > limits.max_source_bytes:
        raise PayloadTooLarge(
            f"The cell source is larger than {limits.max_source_bytes} bytes; split the cell."
        )
    cell_type = body.get("cell_type")
    if cell_type not in CELL_TYPES:
        raise InvalidInput("'cell_type' must be one of 'code', 'markdown' or 'raw'.")
    position = body.get("position")
    if isinstance(position, bool) or not isinstance(position, (int, float)) or not math.isfinite(position):
        raise InvalidInput("'position' is required and must be a finite number.")
    return {
        "source": source,
        "cell_type": cell_type,
        "position": float(position),
        "notebook_path": validate_notebook_path(body.get("notebook_path")),
        "number": validate_number(body.get("number")),
        "outputs": validate_outputs(body.get("outputs"), cell_type, limits.max_output_bytes),
    }


def next_version(previous: Cell | None, source: str, cell_type: str) -> int:
    """Version starts at 1 and grows by one only when source or type changes."""
    if previous is None:
        return 1
    if previous.source == source and previous.cell_type == cell_type:
        return previous.version
    return previous.version + 1


def apply_publish(previous: Cell | None, cell_id: str, clean: dict, now: str) -> Cell:
    """The cell as it stands after a publish of ``clean`` input."""
    version = next_version(previous, clean["source"], clean["cell_type"])
    unchanged = previous is not None and version == previous.version
    return Cell(
        cell_id=cell_id,
        cell_type=clean["cell_type"],
        source=clean["source"],
        position=clean["position"],
        version=version,
        updated=previous.updated if unchanged and previous.outputs == clean.get("outputs") else now,
        notebook_path=clean["notebook_path"] or (previous.notebook_path if previous else None),
        number=clean.get("number") or (previous.number if previous and "number" not in clean else None),
        outputs=clean.get("outputs"),
        origin=clean.get("origin"),
    )


# -- versions across an unpublish (contract v2 *Versions*) -------------------------------------
def source_digest(source: str, cell_type: str) -> str:
    """What a retired cell remembers of its last version: enough to tell "same" from "changed"."""
    return hashlib.sha256(f"{cell_type}\x00{source}".encode("utf-8", "surrogatepass")).hexdigest()


def retired_record(cell: Cell) -> dict:
    """The trace an unpublished cell leaves, so publishing its id again continues its versions."""
    return {"version": cell.version, "digest": source_digest(cell.source, cell.cell_type)}


def republished_version(retired: dict | None, source: str, cell_type: str) -> int:
    """The version of a cell id published again after an unpublish: the last version it had
    when the source is the same as then, the next one when it changed (never back to 1)."""
    if not retired:
        return 1
    try:
        version = max(1, int(retired.get("version", 0)))
    except (TypeError, ValueError):
        return 1
    return version if retired.get("digest") == source_digest(source, cell_type) else version + 1
