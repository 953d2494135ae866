"""A real edge (the aiohttp app, in-process on its own event loop thread) in front of the session's real
SeaweedFS, and a small hand-made title published into it whose segment sizes are known."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator

import pytest

from edge.server import EdgeConfig
from edge.tokens import TokenSigner
from edge.upstream import S3Upstream
from packager import HLS_MASTER, PACKAGE_RECORD, QUALITY_SIDECAR, Package, QualitySidecar, Segment, Stream
from tests.edge.harness import edge, put_title

TITLE = "tiny"
SEGMENTS = 3
# two renditions: 400 kb/s and 1.2 Mb/s, 2 s segments; sizes in bytes, worked into the tests
RENDITIONS = {"lo": (400_000, 90_000), "hi": (1_200_000, 280_000)}


def tiny_title() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    master = ["#EXTM3U", "#EXT-X-VERSION:6"]
    streams = []
    for rid, (bw, size) in RENDITIONS.items():
        master += [
            f'#EXT-X-STREAM-INF:BANDWIDTH={bw},RESOLUTION=640x360,CODECS="avc1.64001e"',
            f"video/{rid}/media.m3u8",
        ]
        media = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", '#EXT-X-MAP:URI="init.mp4"']
        segs = []
        for i in range(1, SEGMENTS + 1):
            media += ["#EXTINF:2.000,", f"{i}.m4s"]
            files[f"video/{rid}/{i}.m4s"] = os.urandom(size + i)
            segs.append(Segment(path=f"video/{rid}/{i}.m4s", size=size + i, start=2.0 * (i - 1), duration=2.0))
        media.append("#EXT-X-ENDLIST")
        files[f"video/{rid}/media.m3u8"] = ("\n".join(media) + "\n").encode()
        files[f"video/{rid}/init.mp4"] = os.urandom(700)
        streams.append(_stream(rid, bw, segs))
    files["master.m3u8"] = ("\n".join(master) + "\n").encode()
    files[PACKAGE_RECORD] = _package(streams, files).to_json().encode()
    scores = {"lo": [70.0, 71.0, 72.0], "hi": [90.0, 91.0, 92.0]}
    sidecar = QualitySidecar(model="vmaf_v0.6.1", subsample=1, reference="tiny.mp4", streams=scores)
    files[QUALITY_SIDECAR] = sidecar.to_json().encode()
    return files


def _stream(rid: str, bandwidth: int, segments: list[Segment]) -> Stream:
    return Stream(
        id=rid, kind="video", codec="h264", codecs="avc1.64001e", source=f"{rid}.mp4", width=640, height=360,
        init=f"video/{rid}/init.mp4", playlist=f"video/{rid}/media.m3u8", segments=segments,
        duration=2.0 * SEGMENTS, bandwidth=bandwidth, average_bandwidth=bandwidth,
    )  # fmt: skip


def _package(streams: list[Stream], files: dict[str, bytes]) -> Package:
    size = sum(len(b) for b in files.values())
    return Package(
        title=TITLE, root=TITLE, encryption="none", segment_seconds=2.0, gop_seconds=2.0,
        duration=2.0 * SEGMENTS, dash=None, hls=HLS_MASTER, streams=streams, files=sorted(files),
        total_bytes=size, rendition_bytes=size, packager_argv=[], seconds=0.0,
    )  # fmt: skip


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(os.urandom(32))


@pytest.fixture
def edge_url(origin, signer) -> Iterator[str]:
    """Base URL of a token-checking edge serving ``TITLE``."""
    put_title(origin, TITLE, "v1", tiny_title())
    config = EdgeConfig(upstream=S3Upstream.from_origin(origin), signer=signer)
    loop = asyncio.new_event_loop()
    ready: dict[str, str] = {}
    started = threading.Event()
    stop = asyncio.Event()

    async def main() -> None:
        async with edge(config) as url:
            ready["url"] = url
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10), "the edge did not start"
    try:
        yield ready["url"]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
