"""Stream metrics in the Prometheus text format, through ``prometheus_client``.

Needs the ``metrics`` extra (``pip install 'rxspike[metrics]'``). :class:`StreamCollector`
exports one registry's :meth:`~rxspike.web.StreamRegistry.aggregates`; :func:`exposition`
renders them; :func:`rxspike.web.metrics_handler` (or ``setup(app, prometheus=True)``)
serves them. A scrape reads counters the streams keep up to date as they write, so its cost
does not grow with the number of open streams, and every label is bounded (end reasons,
drop strategies): there is never a label per stream.

Families (``rxspike_`` prefix):

- ``streams_open`` (gauge), ``streams_started_total``, ``streams_ended_total{reason}``;
- ``sent_items_total``, ``sent_bytes_total``, ``writes_total``;
- ``dropped_items_total{strategy}``: items dropped upstream, by the stage's name;
- ``write_lag_seconds`` (histogram): per write, how long its oldest frame waited;
- ``stream_duration_seconds`` (histogram): per ended stream, how long it lived.

>>> from rxspike.web import StreamRegistry
>>> text = exposition(StreamRegistry())[0].decode()
>>> 'rxspike_streams_ended_total{reason="completed"} 0.0' in text
True
"""

from __future__ import annotations

from collections.abc import Iterator

try:
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
        Metric,
    )
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"Prometheus metrics need prometheus_client ({missing}); "
        "install it with: pip install 'rxspike[metrics]'"
    ) from None

from .metrics import EndReason, HistogramSnapshot, StreamRegistry

#: The prefix of every family's name.
PREFIX = "rxspike"


def _buckets(histogram: HistogramSnapshot) -> list[tuple[str, float]]:
    bounds = [repr(float(b)) for b in histogram.bounds] + ["+Inf"]
    return list(zip(bounds, (float(c) for c in histogram.cumulative), strict=True))


class StreamCollector(Collector):
    """A ``prometheus_client`` collector of one :class:`StreamRegistry`'s aggregates.

    Register it with your own ``CollectorRegistry`` (or ``prometheus_client.REGISTRY``) to
    serve rxspike's families beside yours.
    """

    def __init__(self, registry: StreamRegistry, prefix: str = PREFIX) -> None:
        self._registry = registry
        self._prefix = prefix

    def collect(self) -> Iterator[Metric]:
        found = self._registry.aggregates()
        p = self._prefix
        yield GaugeMetricFamily(f"{p}_streams_open", "Streams open now.", value=found.open)
        yield CounterMetricFamily(f"{p}_streams_started", "Streams started.", value=found.started)
        ended = CounterMetricFamily(
            f"{p}_streams_ended", "Streams ended, by why they ended.", labels=["reason"]
        )
        for reason in EndReason:
            ended.add_metric([reason.value], found.ended.get(reason.value, 0))
        yield ended
        yield CounterMetricFamily(f"{p}_sent_items", "Items written to sockets.", value=found.items)
        yield CounterMetricFamily(
            f"{p}_sent_bytes",
            "Body bytes written to sockets, before compression and chunked framing.",
            value=found.bytes,
        )
        yield CounterMetricFamily(f"{p}_writes", "Socket writes issued.", value=found.writes)
        dropped = CounterMetricFamily(
            f"{p}_dropped_items",
            "Items dropped upstream (overflow strategies), by the stage's name.",
            labels=["strategy"],
        )
        for strategy, count in sorted(found.drops.items()):
            dropped.add_metric([strategy], count)
        yield dropped
        yield HistogramMetricFamily(
            f"{p}_write_lag_seconds",
            "Per write: how long its oldest frame waited in the writer's queue.",
            buckets=_buckets(found.lag),
            sum_value=found.lag.sum,
        )
        yield HistogramMetricFamily(
            f"{p}_stream_duration_seconds",
            "Per ended stream: how long it lived.",
            buckets=_buckets(found.duration),
            sum_value=found.duration.sum,
        )


def exposition(registry: StreamRegistry, accept: str = "") -> tuple[bytes, str]:
    """The registry's families and their ``Content-Type``, in the format the scraper's
    ``Accept`` header asks for (``prometheus_client`` chooses: the Prometheus text format,
    or OpenMetrics)."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(StreamCollector(registry))
    encode, content_type = choose_encoder(accept)
    return encode(collectors), content_type
