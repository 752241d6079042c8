"""Stream entry ids: ``<milliseconds>-<sequence>``, ordered, and where a read starts."""

from __future__ import annotations

import re

from .errors import InvalidEntryIdError

#: Read only entries added from now on (``XREAD ... STREAMS key $``).
TAIL = "$"
#: Read the stream from its first entry.
BEGINNING = "0-0"

_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
_MAX = 2**64 - 1
_AN_ID = (
    "expected '<milliseconds>-<sequence>' or '<milliseconds>' (unsigned 64-bit integers, "
    "as in '1700000000000-0')"
)
_A_START = f"{_AN_ID}, '$' for the tail or '0' for the beginning"


def parse_entry_id(text: object) -> tuple[int, int]:
    """``(milliseconds, sequence)`` of an entry id; ``"5"`` means ``"5-0"``.

    >>> parse_entry_id("1700000000000-3")
    (1700000000000, 3)

    Raises:
        InvalidEntryIdError: ``text`` is not a string of that form, or a part exceeds 64 bits.
    """
    return _parse(text, _AN_ID)


def _parse(text: object, allowed: str) -> tuple[int, int]:
    match = _ID.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidEntryIdError(text, allowed)
    ms, seq = int(match[1]), int(match[2] or 0)
    if ms > _MAX or seq > _MAX:
        raise InvalidEntryIdError(text, allowed)
    return ms, seq


def start_id(after: object) -> str:
    """Where a read begins: ``"$"``, or a concrete id (``"0"`` becomes ``"0-0"``).

    >>> start_id("0"), start_id("$"), start_id("17-2")
    ('0-0', '$', '17-2')

    Raises:
        InvalidEntryIdError: see :func:`parse_entry_id`.
    """
    if after == TAIL:
        return TAIL
    ms, seq = _parse(after, _A_START)
    return f"{ms}-{seq}"


def text_of(value: str | bytes) -> str:
    """An id as Redis returned it (``bytes`` unless the client decodes) as text."""
    return value.decode() if isinstance(value, bytes) else value
