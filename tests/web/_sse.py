"""A server-sent events parser that follows the WHATWG algorithm ("Interpreting an event
stream"), so tests see what a browser's EventSource would dispatch."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINES = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """One dispatched event."""

    type: str
    data: str
    last_event_id: str


@dataclass
class EventStream:
    """Feed it text; it collects dispatched events, comments, and the reconnection time."""

    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    #: The last ``retry:`` value, in milliseconds.
    retry: int | None = None
    last_event_id: str = ""
    _data: list[str] = field(default_factory=list)
    _type: str = ""
    _pending: str = ""

    def feed(self, text: str) -> None:
        *lines, self._pending = _LINES.split(self._pending + text)
        for line in lines:
            self._line(line)

    def _line(self, line: str) -> None:
        if not line:
            self._dispatch()
            return
        if line.startswith(":"):
            self.comments.append(line[1:].removeprefix(" "))
            return
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self.retry = int(value)

    def _dispatch(self) -> None:
        data, kind = self._data, self._type
        self._data, self._type = [], ""
        if data:
            self.events.append(Event(kind or "message", "\n".join(data), self.last_event_id))


def parse(body: bytes) -> EventStream:
    stream = EventStream()
    stream.feed(body.decode())
    return stream
