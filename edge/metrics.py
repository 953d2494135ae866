"""The edge's counters and one latency histogram, rendered in the Prometheus text format (0.0.4).

Hand-rolled rather than ``prometheus_client``: a handful of counters in one process needs no registry,
and the hit path pays one dict update per counter.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["LATENCY_BUCKETS", "Metrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(**kv: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in kv.items())
    return "{" + inner + "}" if inner else ""


@dataclass
class Metrics:
    requests: Counter = field(default_factory=Counter)  # status -> count
    cache: Counter = field(default_factory=Counter)  # hit / miss / stale / revalidated / bypass
    coalesced_waiters: int = 0
    fast_hits: int = 0  # hits answered by the fast path (edge.fast), also counted in cache["hit"]
    bytes_served: int = 0
    upstream_requests: int = 0
    upstream_errors: Counter = field(default_factory=Counter)  # kind -> count
    errors: Counter = field(default_factory=Counter)  # refusals and failures by kind
    _lat_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    _lat_sum: float = 0.0

    def observe_upstream(self, seconds: float) -> None:
        self.upstream_requests += 1
        self._lat_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._lat_sum += seconds

    def render(self, *, cache_bytes: int = 0, cache_entries: int = 0, inflight: int = 0) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{lab} {val}" for lab, val in samples)

        family(
            "edge_requests_total",
            "counter",
            "Requests answered, by HTTP status.",
            [(_labels(status=str(s)), n) for s, n in sorted(self.requests.items())],
        )
        family(
            "edge_cache_lookups_total",
            "counter",
            "Cache lookups for content, by result (hit, miss, stale, revalidated).",
            [(_labels(result=r), n) for r, n in sorted(self.cache.items())],
        )
        family("edge_cache_hits_total", "counter", "Requests answered from the cache.", [("", self.cache["hit"])])
        family("edge_cache_misses_total", "counter", "Requests that needed the upstream.", [("", self.cache["miss"])])
        family(
            "edge_coalesced_waiters_total",
            "counter",
            "Requests that joined an upstream fetch already in flight instead of starting one.",
            [("", self.coalesced_waiters)],
        )
        family(
            "edge_fast_hits_total",
            "counter",
            "Hits answered before aiohttp parsed the request (also in edge_cache_hits_total).",
            [("", self.fast_hits)],
        )
        family("edge_bytes_served_total", "counter", "Body bytes sent to clients.", [("", self.bytes_served)])
        family("edge_cache_bytes", "gauge", "Bytes held by the cache (memory and disk).", [("", cache_bytes)])
        family("edge_cache_entries", "gauge", "Objects held in the memory cache.", [("", cache_entries)])
        family("edge_upstream_inflight", "gauge", "Upstream fetches in flight.", [("", inflight)])
        family(
            "edge_upstream_errors_total",
            "counter",
            "Failed upstream attempts, by kind (status, timeout, refused, denied, protocol, not_found).",
            [(_labels(kind=k), n) for k, n in sorted(self.upstream_errors.items())],
        )
        family(
            "edge_errors_total",
            "counter",
            "Requests refused or failed, by kind.",
            [(_labels(kind=k), n) for k, n in sorted(self.errors.items())],
        )
        name = "edge_upstream_latency_seconds"
        out.append(f"# HELP {name} Upstream request latency (each attempt).")
        out.append(f"# TYPE {name} histogram")
        cum = 0
        for le, n in zip((*LATENCY_BUCKETS, float("inf")), self._lat_counts, strict=True):
            cum += n
            out.append(f'{name}_bucket{{le="{"+Inf" if le == float("inf") else f"{le:g}"}"}} {cum}')
        out.append(f"{name}_sum {self._lat_sum:.6f}")
        out.append(f"{name}_count {cum}")
        return "\n".join(out) + "\n"
