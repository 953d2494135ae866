"""The player against a real edge: manifests, package record and sidecar read over HTTP, every played
byte fetched (token on the manifest, cookie on the segments), the CLI on top."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from player import trace
from player.client import EdgeClient
from player.errors import FetchFailed
from player.manifest import open_title
from player.play import play_edge
from player.qoe import qoe
from tests.player.conftest import RENDITIONS, SEGMENTS, TITLE


def manifest(edge_url, signer) -> str:
    token = signer.sign(f"/titles/{TITLE}/", ttl=600)
    return f"{edge_url}/titles/{TITLE}/master.m3u8?token={token}"


def test_title_from_the_edge_has_renditions_sizes_and_vmaf(edge_url, signer):
    client = EdgeClient()
    title = open_title(manifest(edge_url, signer), client)
    m = title.movie
    assert m.bitrates == (400_000.0, 1_200_000.0) and m.segment_duration == 2.0 and m.segments == SEGMENTS
    assert m.sizes[0] == (8 * (RENDITIONS["lo"][1] + 1), 8 * (RENDITIONS["hi"][1] + 1))
    assert m.vmaf[2] == (72.0, 92.0)
    assert m.renditions[1].segment_urls[0] == f"{edge_url}/titles/{TITLE}/video/hi/1.m4s"
    assert (m.renditions[0].width, m.renditions[0].height, m.renditions[0].codecs) == (640, 360, "avc1.64001e")


def test_without_a_token_the_edge_refuses_and_the_player_says_so(edge_url):
    with pytest.raises(FetchFailed, match="403"):
        open_title(f"{edge_url}/titles/{TITLE}/master.m3u8", EdgeClient())


def test_a_session_fetches_every_byte_it_plays(edge_url, signer):
    client = EdgeClient()
    # 10 Mb/s: first segment at 400 kb/s, then 1.2 Mb/s; a 12 s session loops the 3-segment title twice
    [r] = play_edge(manifest(edge_url, signer), [trace.steady(10e6)], "throughput", session_s=12, client=client)
    q = qoe(r)
    assert [p[2] for p in r.played] == [0, 1, 1, 1, 1, 1]
    lo, hi = RENDITIONS["lo"][1], RENDITIONS["hi"][1]
    media = (lo + 1) + (hi + 2) + (hi + 3) + (hi + 1) + (hi + 2) + (hi + 3)
    assert q.bytes_downloaded == media + 2 * 700  # plus one init segment per rendition used
    assert client.bytes_fetched >= q.bytes_downloaded  # the manifests, package.json and sidecar too
    assert q.time_average_vmaf == pytest.approx((70 + 91 + 92 + 90 + 91 + 92) / 6)

    # with the per-session cache, each (segment, rendition) is fetched once and moves the same bytes
    title = open_title(manifest(edge_url, signer), client)
    before = client.bytes_fetched
    [c] = play_edge("", [trace.steady(10e6)], "throughput", session_s=12, client=client, title=title, cache=True)
    assert qoe(c).bytes_downloaded == q.bytes_downloaded
    assert client.bytes_fetched - before == (lo + 1) + (hi + 1) + (hi + 2) + (hi + 3) + 2 * 700


def test_cli_play_json_and_plot(edge_url, signer, tmp_path, capsys):
    tdir = tmp_path / "traces"
    tdir.mkdir()
    (tdir / "a.log").write_text("0 10\n1 10\n")
    (tdir / "b.log").write_text("0 0.3\n1 0.3\n")
    png = tmp_path / "t.png"
    rc = main(["play", manifest(edge_url, signer), "--trace", str(tdir), "--abr", "quality", "--session", "8",
               "--json", "--plot", str(png)])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["sessions"] == 2 and out["summary"]["stall_share"] == 0.5
    slow = out["sessions"][1]
    assert slow["trace"] == "b.log" and slow["rebuffer_count"] > 0 and slow["time_average_vmaf"] < 80
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["play", "--movie", str(tmp_path / "no.json"), "--trace", str(tmp_path)]) == 2
    assert main(["play", "--trace", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("vodflow play: error:") for line in err)
