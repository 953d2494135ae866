"""Running sessions: one title (from the edge or a Sabre movie) under one trace or a folder of traces.

``play_edge`` fetches every init and media segment it plays from the edge (bytes really moved; only
their timing is virtual); ``play_movie`` runs on a movie description alone. A folder of traces runs
every trace (sorted by name) and returns one result per trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from player import abr as algorithms
from player.client import EdgeClient
from player.errors import BadTrace
from player.manifest import Title, open_title
from player.movie import Movie
from player.network import Network
from player.records import SessionResult
from player.session import Session
from player.trace import Trace, load

__all__ = ["EdgeFetcher", "load_traces", "play_edge", "play_movie"]


def load_traces(path: str | Path, *, latency_s: float = 0.08) -> list[Trace]:
    """One trace file, or every file of a folder (sorted by name). Raises ``BadTrace``."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise BadTrace(f"{path}: no trace files in the folder")
        return [load(f, latency_s=latency_s) for f in files]
    if not path.exists():
        raise BadTrace(f"{path}: no such trace file or folder")
    return [load(path, latency_s=latency_s)]


class EdgeFetcher:
    """``fetch(segment, quality) -> bits``: GETs the segment (and, the first time a rendition is used,
    its init segment) from the edge and returns the bits that arrived.

    A session looping a short title asks for the same few segments many times; the first request for
    each (segment, rendition) goes to the edge and its size is remembered for the rest of this fetcher's
    session (``cache=True``, as the edge keeps the bytes; off by default), so every size the network model
    moves is one the edge really served in this session. ``requests`` counts the GETs made."""

    def __init__(self, title: Title, client: EdgeClient, *, cache: bool = False) -> None:
        self.title = title
        self.client = client
        self.cache = cache
        self._inits: set[int] = set()
        self._sizes: dict[tuple[int, int], float] = {}
        self.requests = 0

    def __call__(self, segment: int, quality: int) -> float:
        bits = 0.0
        rend = self.title.movie.renditions[quality]
        if quality not in self._inits and rend.init_url:
            self._inits.add(quality)
            self.requests += 1
            bits += 8 * len(self.client.get(rend.init_url))
        size = self._sizes.get((segment, quality)) if self.cache else None
        if size is None:
            self.requests += 1
            size = 8.0 * len(self.client.get(self.title.segment_url(segment, quality)))
            self._sizes[segment, quality] = size
        return bits + size


def play_movie(
    movie: Movie,
    traces: Sequence[Trace],
    abr: str,
    *,
    session_s: float | None = None,
    max_buffer: float = 25.0,
    latency_s: float | None = None,
    **options: object,
) -> list[SessionResult]:
    """One session per trace of ``abr`` over ``movie`` (looped or cut to ``session_s`` when given)."""
    m = movie.looped(session_s) if session_s else movie
    return [
        Session(m, Network(t, latency_s=latency_s), algorithms.make(abr), max_buffer=max_buffer, **options).run()  # type: ignore[arg-type]
        for t in traces
    ]


def play_edge(
    url: str,
    traces: Sequence[Trace],
    abr: str,
    *,
    session_s: float | None = 600.0,
    max_buffer: float = 25.0,
    latency_s: float | None = None,
    codec: str | None = None,
    client: EdgeClient | None = None,
    title: Title | None = None,
    cache: bool = False,
    **options: object,
) -> list[SessionResult]:
    """One session per trace against the title at ``url`` on the edge. Abandoned downloads are retried
    at the rendition abandoned to, as dash.js does; ``cache`` as in ``EdgeFetcher``. Raises
    ``BadManifest``/``FetchFailed``."""
    client = client or EdgeClient()
    title = title or open_title(url, client, codec=codec)
    movie = title.movie.looped(session_s) if session_s else title.movie
    out = []
    for t in traces:
        fetch = EdgeFetcher(title, client, cache=cache)
        session = Session(
            movie,
            Network(t, latency_s=latency_s),
            algorithms.make(abr),
            max_buffer=max_buffer,
            fetch=fetch,
            abandon_to_target=True,
            **options,  # type: ignore[arg-type]
        )
        out.append(session.run())
    return out
