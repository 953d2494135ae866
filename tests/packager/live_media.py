"""A live channel folder for tests, written by the real ffmpeg's dash muxer as the live encoder drives it
(chunked CMAF: 2 s segments of four 0.5 s chunks, prft boxes, a dynamic-then-final MPD), two tiny video
rungs and AAC. Without ``-re`` it runs faster than real time; the files are the same."""

from __future__ import annotations

from pathlib import Path

from packager.llhls import run_file_names
from pipeline.ffmpeg import run_ffmpeg

SIZES = ((160, 90), (96, 54))
FPS = 30


def dash_args(out: Path, *, seconds: int, run: int = 0, realtime: bool = False, prft: bool = True) -> list[str]:
    """ffmpeg's arguments (no binary) encoding ``seconds`` of testsrc2 + sine into ``out`` with encoder
    run ``run``'s file names; ``realtime`` reads the sources at their rate (``-re``), as live does;
    ``prft`` writes producer reference time boxes."""
    out.mkdir(parents=True, exist_ok=True)
    init_name, media_name = run_file_names(run)
    (w0, h0), (w1, h1) = SIZES
    re = ["-re"] if realtime else []  # per input
    return [
        "-y",
        *re,
        *("-f", "lavfi", "-i", f"testsrc2=s={w0}x{h0}:r={FPS}"),
        *re,
        *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
        *("-t", str(seconds)),
        *("-filter_complex", f"[0:v]split=2[a][b];[b]scale={w1}:{h1}[small]"),
        *("-map", "[a]", "-map", "[small]", "-map", "1:a"),
        *("-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"),
        # Closed 2 s GOPs on every rung, no B-frames: each segment starts with an IDR, as the live ladder does.
        *("-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0", "-bf", "0"),
        *("-b:v:0", "200k", "-b:v:1", "100k", "-c:a", "aac", "-b:a", "64k"),
        *("-f", "dash", "-ldash", "1", "-streaming", "1", "-seg_duration", "2"),
        *("-frag_type", "duration", "-frag_duration", "0.5", "-use_template", "1", "-use_timeline", "1"),
        *("-write_prft", "1" if prft else "0", "-utc_timing_url", "https://time.example/?iso"),
        *("-format_options", "movflags=cmaf"),
        *("-adaptation_sets", "id=0,streams=v id=1,streams=a"),
        *("-init_seg_name", init_name, "-media_seg_name", media_name),
        str(out / "manifest.mpd"),
    ]


def live_folder(out: Path, *, seconds: int, run: int = 0, prft: bool = True) -> Path:
    """The folder ``dash_args`` describes, written as fast as ffmpeg can; returns ``out``."""
    run_ffmpeg(dash_args(out, seconds=seconds, run=run, prft=prft), show_progress=False)
    return out
