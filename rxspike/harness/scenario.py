"""Scenarios: one declarative TOML file per workload, loaded into frozen dataclasses.

A scenario says what the demo server streams (the ``/stream`` query), how the clients behave
(how many, how fast they read, when they leave) and which approaches run it. The file format,
with every key and its default::

    title = "LLM-like token stream"          # one line for tables
    description = "{clients.count} clients"  # a paragraph for the report; {stream.x} and
                                             #   {clients.x} placeholders are filled from the
                                             #   scenario as it runs, so --quick reads true
    order = 1                                # position in listings and reports
    repeats = 0                              # > 0: timing passes in a full run (behaviour
                                             #   scenarios that rank nothing: 2)
    soak = false                             # true: only `run --soak` runs it

    [stream]                                 # the /stream query, per client
    format = "sse"                           # sse | ndjson | bytes
    count = 200                              # items per stream
    size = 16                                # payload bytes per item
    interval_ms = 10.0                       # producer pause between items (0: flat out)
    fail_after = 0                           # > 0: the source fails after this many items
    drop_after = 0                           # > 0: the server drops each connection after
                                             #   this many items (resume scenarios)

    capacity = 0                             # push-buffer/-throttle buffer (0: server's)
    max_bytes = 262144                       # ...and its bound in payload bytes (0: none):
                                             #   the recommendation's configuration
    rate = 0.0                               # push-throttle items/s (0: server's)
    burst = 0                                # push-throttle burst (0: server's)

    [clients]
    count = 10                               # concurrent clients
    ramp_ms = 0                              # connects spread evenly over this window
    waves = 0                                # > 0: connect in this many groups instead
    read_rate = 0.0                          # > 0: read at this fraction of the producer's
                                             #   nominal byte rate (a slow reader)
    read_mb_per_s = 0.0                      # > 0: read this many MB/s of payload instead
    read_for_s = 0.0                         # > 0: leave after this long (slow readers)
    disconnect_fraction = 0.0                # this share of the clients leaves early...
    disconnect_after = 0                     # ...after receiving this many items
    resume = false                           # reconnect with Last-Event-ID after a drop
    run_for_s = 0.0                          # > 0 (soaks): keep connecting new crowds
                                             #   for this long

    [workers]                                # several server processes (approach redis)
    count = 1                                # worker processes sharing one redis-server
    kill_after_s = 0.0                       # > 0: SIGKILL one worker this long into a pass
    publish_rate = 0.0                       # entries/s the surviving worker publishes

    [approaches]
    run = ["pull", "push-buffer", ...]       # default: rxspike's five; peers by name
    overflow = ["drop-oldest", ...]          # push-buffer strategies (default: drop-oldest)

    [sweep]                                  # optional extra memory passes:
    count = [1000, 10000]                    # the same scenario at these stream lengths
    [sweep.clients]                          # ...with these [clients] keys changed
    count = 1

    [quick]                                  # overrides applied by --quick, same keys
    stream.count = 20
    clients.count = 4

>>> s = Scenario.from_dict({"stream": {"count": 5}}, name="tiny")
>>> s.stream.query("pull")
{'format': 'ndjson', 'count': '5', 'size': '64', 'interval_ms': '0', 'approach': 'pull'}
>>> [v.label for v in s.variants()]
['pull', 'push-buffer:drop-oldest', 'push-throttle', 'push-unbounded', 'async-iterator']
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rxspike.demo.names import APPROACHES, FORMATS

T = TypeVar("T")

#: What a team would use instead, each served by its own process (SSE only): a competent
#: hand-written aiohttp handler, aiohttp-sse, and sse-starlette on uvicorn.
PEERS = ("aiohttp-handler", "aiohttp-sse", "sse-starlette")
#: The demo's Redis-backed feed, served by several workers (``rxspike serve --redis-url``).
REDIS = "redis"
#: Every approach a scenario may name: the demo's five (``APPROACHES``), the peers, redis.
ALL_APPROACHES = (*APPROACHES, *PEERS, REDIS)
#: The push-buffer strategy used when a scenario names none.
DEFAULT_OVERFLOW = "drop-oldest"
#: The demo's push-buffer capacity when the query names none.
DEMO_CAPACITY = 1024


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable, or says something the harness cannot run.

    The message names the file and the offending key; fix the file.
    """


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What the server streams to each client: the ``GET /stream`` query."""

    #: ``sse``, ``ndjson`` or ``bytes``.
    format: str = "ndjson"
    #: Items per stream.
    count: int = 100
    #: Payload bytes per item.
    size: int = 64
    #: Producer pause between items, in milliseconds; 0 produces as fast as it can.
    interval_ms: float = 0.0
    #: When > 0, the source raises after this many items.
    fail_after: int = 0
    #: push-buffer / push-throttle buffer capacity in items (0: the server's default).
    capacity: int = 0
    #: push-throttle's token-bucket rate, items/s (0: the server's default).
    rate: float = 0.0
    #: push-throttle's token-bucket burst, items (0: the server's default).
    burst: int = 0
    #: When > 0, the server closes each connection after this many items (``drop_after``).
    drop_after: int = 0
    #: The push buffers' bound in payload bytes (0: items only), as the findings recommend.
    #: Items have a fixed size, so it is sent as the item capacity it amounts to.
    max_bytes: int = 256 * 1024

    @property
    def push_capacity(self) -> int:
        """The push buffers' capacity in items: ``capacity`` (or the demo's 1024), cut to
        what ``max_bytes`` holds.

        >>> StreamSpec(size=65536).push_capacity, StreamSpec(size=64).push_capacity
        (4, 1024)
        """
        capacity = self.capacity or DEMO_CAPACITY
        if self.max_bytes > 0:
            capacity = min(capacity, max(1, self.max_bytes // self.size))
        return capacity

    @property
    def duration_s(self) -> float:
        """How long a paced stream lasts at its nominal rate (0 for ``interval_ms = 0``)."""
        return self.count * self.interval_ms / 1000.0

    @property
    def total_mib(self) -> float:
        """Payload of one whole stream, in MiB."""
        return self.count * self.size / 2**20

    @property
    def nominal_items_per_s(self) -> float:
        """The producer's rate if nothing held it back (``inf`` for ``interval_ms = 0``)."""
        return math.inf if self.interval_ms <= 0 else 1000.0 / self.interval_ms

    @property
    def expected_items(self) -> int:
        """Items a client that reads to the end should receive."""
        if 0 < self.fail_after < self.count:
            return self.fail_after
        return self.count

    def query(self, approach: str, overflow: str | None = None) -> dict[str, str]:
        """The query string for one stream, as a dict."""
        interval = f"{self.interval_ms:g}"
        query = {
            "format": self.format,
            "count": str(self.count),
            "size": str(self.size),
            "interval_ms": interval,
            "approach": approach,
        }
        if overflow is not None:
            query["overflow"] = overflow
        if self.fail_after > 0:
            query["fail_after"] = str(self.fail_after)
        if self.drop_after > 0:
            query["drop_after"] = str(self.drop_after)
        if approach in ("push-buffer", "push-throttle"):
            query["capacity"] = str(self.push_capacity)
        if approach == "push-throttle":
            if self.rate > 0:
                query["rate"] = f"{self.rate:g}"
            if self.burst > 0:
                query["burst"] = str(self.burst)
        return query


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """How the load generator's clients behave."""

    #: Concurrent clients, all connected during the run.
    count: int = 1
    #: Client connects are spread evenly over this window (milliseconds).
    ramp_ms: float = 0.0
    #: When > 0, clients connect in this many simultaneous groups spread over ``ramp_ms``
    #: (bursts of streams) instead of one by one.
    waves: int = 0
    #: When > 0, every client reads at this fraction of the producer's nominal byte rate.
    read_rate: float = 0.0
    #: When > 0, every client reads this many MB (10^6 bytes) of payload per second.
    read_mb_per_s: float = 0.0
    #: When > 0, a client leaves this many seconds after its first byte.
    read_for_s: float = 0.0
    #: This share of the clients (the first ones) disconnects after ``disconnect_after`` items.
    disconnect_fraction: float = 0.0
    #: Items an early-leaving client receives before it disconnects.
    disconnect_after: int = 0
    #: After the server dropped the connection, reconnect with ``Last-Event-ID`` (as
    #: ``EventSource`` does) until the stream ends cleanly.
    resume: bool = False
    #: When > 0 (soaks), new crowds of ``count`` clients keep connecting for this long.
    run_for_s: float = 0.0

    @property
    def disconnect_percent(self) -> int:
        """``disconnect_fraction`` as a whole percentage, for descriptions."""
        return round(self.disconnect_fraction * 100)

    def start_delay(self, index: int) -> float:
        """Seconds after the pass starts that client ``index`` connects.

        >>> ClientSpec(count=4, ramp_ms=1000, waves=2).start_delay(3)
        0.5
        >>> ClientSpec(count=4, ramp_ms=1000).start_delay(3)
        0.75
        """
        ramp = self.ramp_ms / 1000.0
        if self.waves > 0:
            per_wave = -(-self.count // self.waves)
            return ramp * (index // per_wave) / self.waves
        return ramp * index / self.count

    @property
    def disconnecting(self) -> int:
        """How many clients leave early on purpose."""
        if self.disconnect_after <= 0:
            return 0
        return round(self.count * self.disconnect_fraction)

    @property
    def slow(self) -> bool:
        """Whether clients read slower than they could."""
        return self.read_rate > 0 or self.read_mb_per_s > 0

    def read_items_per_s(self, stream: StreamSpec) -> float:
        """A slow reader's pace in items per second (``inf`` for a full reader).

        >>> ClientSpec(read_rate=0.1).read_items_per_s(StreamSpec(interval_ms=1.0))
        100.0
        >>> ClientSpec(read_mb_per_s=1.0).read_items_per_s(StreamSpec(size=1000))
        1000.0
        """
        if self.read_mb_per_s > 0:
            return self.read_mb_per_s * 1e6 / stream.size
        if self.read_rate > 0:
            return self.read_rate * stream.nominal_items_per_s
        return math.inf


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Several server processes behind the clients (the Redis-backed feed)."""

    #: Worker processes, each its own demo server on one shared redis-server.
    count: int = 1
    #: When > 0, one worker (not the publisher) is SIGKILLed this long into each pass.
    kill_after_s: float = 0.0
    #: Feed entries per second the surviving worker publishes (``--publish-rate``).
    publish_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class Variant:
    """One approach as the server is asked for it: ``push-buffer`` comes with a strategy."""

    #: One of :data:`APPROACHES`.
    approach: str
    #: push-buffer's overflow strategy; None for the other approaches.
    overflow: str | None = None

    @property
    def label(self) -> str:
        """``approach`` or ``approach:overflow``: the name in tables and on the command line."""
        return self.approach if self.overflow is None else f"{self.approach}:{self.overflow}"

    @property
    def slug(self) -> str:
        """The label as a file-name part."""
        return self.label.replace(":", ".")

    def matches(self, selector: str) -> bool:
        """Whether ``--approach selector`` picks this variant (``push-buffer`` picks all)."""
        return selector in (self.approach, self.label)

    @classmethod
    def parse(cls, label: str) -> Variant:
        """The inverse of :attr:`label`."""
        approach, _, overflow = label.partition(":")
        return cls(approach, overflow or None)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One workload: a stream, a crowd of clients, and the approaches that serve it."""

    #: The file stem; what ``rxspike scenarios run NAME`` takes.
    name: str
    title: str = ""
    description: str = ""
    #: Position in listings and reports.
    order: int = 100
    stream: StreamSpec = field(default_factory=StreamSpec)
    clients: ClientSpec = field(default_factory=ClientSpec)
    #: Approaches to run, in order.
    approaches: tuple[str, ...] = APPROACHES
    #: push-buffer's strategies to run (each is its own variant).
    overflow: tuple[str, ...] = (DEFAULT_OVERFLOW,)
    #: Extra memory passes at these stream lengths (empty: none).
    sweep_counts: tuple[int, ...] = ()
    #: ``[clients]`` keys the sweep passes change (one client, reading at a set pace, keeps
    #: streams from overlapping by chance and the kernel's buffers from hiding the heap).
    sweep_clients: Mapping[str, Any] = field(default_factory=dict)
    #: Overrides that ``--quick`` applies, in the file's own shape.
    quick_overrides: Mapping[str, Any] = field(default_factory=dict)
    #: Where the scenario came from (None when built in code).
    path: Path | None = None
    #: Soaks run only under ``rxspike scenarios run --soak``.
    soak: bool = False
    #: Timing passes in a full run (0: the runner's default). Behaviour scenarios that rank
    #: nothing by speed (disconnects, failures, resume) ask for fewer.
    repeats: int = 0
    #: Whether memray passes run (several workers: no single process to track).
    memory: bool = True
    workers: WorkerSpec = field(default_factory=WorkerSpec)

    @property
    def prose(self) -> str:
        """The description with its ``{stream.x}`` / ``{clients.x}`` placeholders filled in
        from this scenario (so a ``--quick`` report describes the quick workload)."""
        return self.description.format(
            stream=self.stream, clients=self.clients, workers=self.workers
        )

    def variants(self) -> list[Variant]:
        """Every approach variant this scenario runs, push-buffer once per strategy."""
        out: list[Variant] = []
        for approach in self.approaches:
            if approach == "push-buffer":
                out.extend(Variant(approach, strategy) for strategy in self.overflow)
            else:
                out.append(Variant(approach))
        return out

    def quick(self) -> Scenario:
        """The scenario with its ``[quick]`` overrides applied (a small, fast version)."""
        if not self.quick_overrides:
            return self
        return self.with_overrides(self.quick_overrides)

    def sweep_pass(self, count: int) -> Scenario:
        """The scenario as one sweep pass runs it: ``count`` items, the sweep's clients."""
        return self.with_overrides({"stream": {"count": count}, "clients": self.sweep_clients})

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A copy with some keys replaced, given in the file's shape.

        >>> s = Scenario.from_dict({}, name="x").with_overrides({"stream": {"count": 7}})
        >>> s.stream.count
        7
        """
        data = self.to_dict()
        for section, values in overrides.items():
            if isinstance(values, Mapping) and isinstance(data.get(section), dict):
                data[section] = {**data[section], **values}
            else:
                data[section] = values
        data["quick"] = dict(self.quick_overrides)
        return Scenario.from_dict(data, name=self.name, path=self.path)

    def to_dict(self) -> dict[str, Any]:
        """The scenario in the file's shape (what ``metrics.json`` records)."""
        return {
            "title": self.title,
            "description": self.description,
            "order": self.order,
            "soak": self.soak,
            "repeats": self.repeats,
            "memory": self.memory,
            "workers": dataclasses.asdict(self.workers),
            "stream": dataclasses.asdict(self.stream),
            "clients": dataclasses.asdict(self.clients),
            "approaches": {"run": list(self.approaches), "overflow": list(self.overflow)},
            "sweep": {"count": list(self.sweep_counts), "clients": dict(self.sweep_clients)},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str, path: Path | None = None) -> Scenario:
        """Validate a parsed file; raises :class:`ScenarioError` naming the bad key."""
        where = str(path) if path is not None else name
        known = {"title", "description", "order", "soak", "repeats", "stream", "clients"}
        known |= {"approaches", "memory", "workers"}
        known |= {"sweep"}
        _reject_unknown(data, known | {"quick", "name"}, where, "")
        stream = _build(StreamSpec, data.get("stream", {}), where, "stream")
        workers = _build(WorkerSpec, data.get("workers", {}), where, "workers")
        if workers.count < 1:
            raise ScenarioError(f"{where}: workers.count must be at least 1")
        if workers.kill_after_s > 0 and workers.count < 2:
            raise ScenarioError(f"{where}: workers.kill_after_s needs workers.count >= 2")
        memory = data.get("memory", True)
        if not isinstance(memory, bool):
            raise ScenarioError(f"{where}: memory must be true or false, got {memory!r}")
        clients = _build(ClientSpec, data.get("clients", {}), where, "clients")
        if stream.format not in FORMATS:
            raise ScenarioError(
                f"{where}: stream.format must be one of {FORMATS}, got {stream.format!r}"
            )
        for key in ("count", "size"):
            if getattr(stream, key) < 1:
                raise ScenarioError(f"{where}: stream.{key} must be at least 1")
        if stream.interval_ms < 0 or stream.fail_after < 0:
            raise ScenarioError(f"{where}: stream.interval_ms and stream.fail_after must be >= 0")
        if clients.count < 1:
            raise ScenarioError(f"{where}: clients.count must be at least 1")
        if not 0 <= clients.disconnect_fraction <= 1:
            raise ScenarioError(f"{where}: clients.disconnect_fraction must be within [0, 1]")
        if min(clients.read_rate, clients.read_for_s, clients.ramp_ms, clients.waves) < 0 or (
            clients.read_mb_per_s < 0
        ):
            raise ScenarioError(
                f"{where}: clients.read_rate, read_for_s, ramp_ms, waves must be >= 0"
            )
        if clients.read_rate > 0 and stream.interval_ms <= 0:
            raise ScenarioError(
                f"{where}: clients.read_rate is a fraction of the producer's rate, so "
                "stream.interval_ms must be > 0"
            )
        approaches_table = data.get("approaches", {})
        _reject_unknown(approaches_table, {"run", "overflow"}, where, "approaches.")
        approaches = tuple(approaches_table.get("run", APPROACHES))
        for approach in approaches:
            if approach == "redis" and workers.count < 2:
                raise ScenarioError(f"{where}: approach 'redis' runs with workers.count >= 2")
            if approach not in ALL_APPROACHES:
                raise ScenarioError(
                    f"{where}: approaches.run has {approach!r}; known: {', '.join(ALL_APPROACHES)}"
                )
            if approach in PEERS and stream.format != "sse":
                raise ScenarioError(
                    f"{where}: approaches.run has the peer {approach!r}, which speaks SSE "
                    f"only; stream.format is {stream.format!r}"
                )
        overflow = tuple(approaches_table.get("overflow", (DEFAULT_OVERFLOW,)))
        if not overflow:
            raise ScenarioError(f"{where}: approaches.overflow must name at least one strategy")
        sweep = data.get("sweep", {})
        _reject_unknown(sweep, {"count", "clients"}, where, "sweep.")
        sweep_counts = tuple(int(c) for c in sweep.get("count", ()))
        sweep_clients = dict(sweep.get("clients", {}))
        _build(ClientSpec, sweep_clients, where, "sweep.clients")
        quick = data.get("quick", {})
        if not isinstance(quick, Mapping):
            raise ScenarioError(f"{where}: [quick] must be a table")
        if clients.resume and stream.drop_after <= 0 and workers.kill_after_s <= 0:
            raise ScenarioError(
                f"{where}: clients.resume needs stream.drop_after > 0 or workers.kill_after_s > 0"
            )
        soak = data.get("soak", False)
        if not isinstance(soak, bool):
            raise ScenarioError(f"{where}: soak must be true or false, got {soak!r}")
        repeats = data.get("repeats", 0)
        if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 0:
            raise ScenarioError(f"{where}: repeats must be an integer >= 0, got {repeats!r}")
        built = cls(
            name=name,
            title=str(data.get("title", name)),
            description=str(data.get("description", "")).strip(),
            order=int(data.get("order", 100)),
            stream=stream,
            clients=clients,
            approaches=approaches,
            overflow=overflow,
            sweep_counts=sweep_counts,
            sweep_clients=sweep_clients,
            quick_overrides=dict(quick),
            path=path,
            soak=soak,
            repeats=repeats,
            memory=memory,
            workers=workers,
        )
        try:
            built.prose  # noqa: B018 - a placeholder naming no field fails here, not in a report
        except (AttributeError, KeyError, IndexError, ValueError) as error:
            raise ScenarioError(
                f"{where}: description has a bad placeholder ({error}); use {{stream.FIELD}}, "
                "{clients.FIELD} or {workers.FIELD} with the fields of those tables"
            ) from error
        return built


def _reject_unknown(data: Mapping[str, Any], known: set[str], where: str, prefix: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key {prefix}{unknown[0]}; known: {', '.join(sorted(known))}"
        )


def _build(cls: type[T], data: Any, where: str, section: str) -> T:
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{where}: [{section}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _reject_unknown(data, set(fields), where, f"{section}.")
    values: dict[str, Any] = {}
    for key, given in data.items():
        kind = type(fields[key].default)
        value = given
        if kind is float and isinstance(given, int) and not isinstance(given, bool):
            value = float(given)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ScenarioError(f"{where}: {section}.{key} must be {kind.__name__}, got {given!r}")
        values[key] = value
    return cls(**values)


def load_scenario(path: str | Path) -> Scenario:
    """Read one scenario file; its name is the file stem."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{path}: not valid TOML: {error}") from error
    return Scenario.from_dict(data, name=path.stem, path=path)


#: The scenarios that ship with the package (``rxspike scenarios list`` without ``--dir``).
BUILTIN = Path(__file__).resolve().parent / "scenarios"


def load_scenarios(directory: str | Path = BUILTIN) -> list[Scenario]:
    """Every ``*.toml`` in ``directory`` (default: the packaged ones), in their ``order``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ScenarioError(f"{directory}: no such scenario directory")
    scenarios = [load_scenario(path) for path in sorted(directory.glob("*.toml"))]
    return sorted(scenarios, key=lambda s: (s.order, s.name))


def select(
    scenarios: Iterable[Scenario], names: Iterable[str], *, soak: bool = False
) -> list[Scenario]:
    """The scenarios with these names; when ``names`` is empty, every scenario that is not a
    soak (``soak=False``) or every soak (``soak=True``)."""
    pool = list(scenarios)
    wanted = list(names)
    if not wanted:
        return [s for s in pool if s.soak == soak]
    by_name = {s.name: s for s in pool}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise ScenarioError(
            f"unknown scenario {missing[0]!r}; known: {', '.join(by_name) or '(none)'}"
        )
    return [by_name[name] for name in wanted]
