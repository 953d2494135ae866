"""Shaka Packager's command line, built as a list: one process packages every stream of a title.

Each stream descriptor names the input, the stream type and where its CMAF init segment, media segments
and HLS playlists go; the flags after them choose the manifests and the encryption. The command is
logged shell-quoted by ``vodflow.process.run``, so it can be pasted into a shell and rerun.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vodflow import tools
from vodflow.errors import ProcessError, UsageError
from vodflow.process import Completed, run

__all__ = ["COMMON_SYSTEM_ID", "KEY_URI_PLACEHOLDER", "Descriptor", "RawKey", "packager_argv", "run_packager"]

# W3C common PSSH ("CommonSystem"): the system ID dash.js and Shaka Player look for with ClearKey.
COMMON_SYSTEM_ID = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b"
# Shaka takes one --hls_key_uri for all playlists; each playlist gets its own key's URI afterwards.
KEY_URI_PLACEHOLDER = "vodflow-key-uri"
_TIMEOUT_S = 3600.0


@dataclass(frozen=True, slots=True)
class Descriptor:
    """One Shaka stream descriptor. ``folder`` is relative to the output root (``video/h264_...``)."""

    src: Path
    kind: str  # video, audio, text
    folder: str
    language: str | None = None
    hls_group: str | None = None
    hls_name: str | None = None
    drm_label: str | None = None
    iframes: bool = False

    def text(self) -> str:
        for value in (str(self.src), self.folder, self.hls_name or ""):
            if any(c in value for c in ",="):
                raise UsageError(f"{value}: Shaka Packager cannot take a path or name with ',' or '=' in it")
        ext = "vtt" if self.kind == "text" else "m4s"
        fields = [f"in={self.src}", f"stream={self.kind}"]
        if self.kind != "text":
            fields.append(f"init_segment={self.folder}/init.mp4")
        fields += [f"segment_template={self.folder}/$Number$.{ext}", f"playlist_name={self.folder}/media.m3u8"]
        if self.iframes:
            fields.append(f"iframe_playlist_name={self.folder}/iframes.m3u8")
        if self.language:
            fields.append(f"language={self.language}")
        if self.hls_group:
            fields.append(f"hls_group_id={self.hls_group}")
        if self.hls_name:
            fields.append(f"hls_name={self.hls_name}")
        if self.drm_label:
            fields.append(f"drm_label={self.drm_label}")
        return ",".join(fields)


@dataclass(frozen=True, slots=True)
class RawKey:
    label: str
    kid: str
    key: str


def packager_argv(
    descriptors: Sequence[Descriptor],
    *,
    segment_seconds: float,
    mpd: str,
    master: str,
    scheme: str | None = None,
    keys: Sequence[RawKey] = (),
    default_language: str | None = None,
    default_text_language: str | None = None,
    keyfile: Path | None = None,
) -> list[str]:
    """The full Shaka Packager argv (binary first). ``scheme`` None packages in the clear; with a scheme
    the raw ``keys`` are written to ``keyfile`` (mode 0600), which the argv names with ``--flagfile``."""
    argv = [os.fspath(tools.find(tools.Tool.PACKAGER)), *(d.text() for d in descriptors)]
    # Segments are cut at keyframes once this much time has passed: with a duration that is a whole
    # number of GOPs every segment is exactly that many GOPs, in every rendition.
    argv += ["--segment_duration", f"{segment_seconds:.6g}"]
    # A static MPD (type="static", mediaPresentationDuration) although segments use SegmentTemplate.
    argv += ["--mpd_output", mpd, "--generate_static_live_mpd"]
    argv += ["--hls_master_playlist_output", master, "--hls_playlist_type", "VOD"]
    if default_language:
        argv += ["--default_language", default_language]
    if default_text_language:
        argv += ["--default_text_language", default_text_language]
    if scheme:
        if keyfile is None:
            raise UsageError("encrypted packaging needs a flag file for its keys")
        # Keys go in a flag file (mode 0600, outside the package, deleted afterwards), never on the
        # command line: argv is logged, recorded in package.json and visible to every user in ps.
        keyfile.touch(mode=0o600)
        keyfile.write_text("--keys=" + ",".join(f"label={k.label}:key_id={k.kid}:key={k.key}" for k in keys) + "\n")
        argv += ["--enable_raw_key_encryption", "--protection_scheme", scheme, "--flagfile", os.fspath(keyfile)]
        # CommonSystem puts the common PSSH in the MPD and init segments: ClearKey in dash.js needs it.
        argv += ["--protection_systems", "CommonSystem", "--clear_lead", "0"]
        argv += ["--hls_key_uri", KEY_URI_PLACEHOLDER]
    return argv


def run_packager(argv: Sequence[str], *, cwd: Path) -> Completed:
    """Run Shaka Packager in ``cwd`` (outputs are relative to it); raises ``ProcessError`` with its
    first error line when it fails."""
    try:
        return run(argv, cwd=cwd, timeout=_TIMEOUT_S)
    except ProcessError as exc:
        first = next((ln for ln in exc.stderr_tail if ln.startswith(("E", "F")) and "]" in ln), None)
        if first:
            raise ProcessError(
                f"packager failed: {first.split('] ', 1)[-1]}",
                argv=exc.argv,
                returncode=exc.returncode,
                stderr_tail=exc.stderr_tail,
            ) from None
        raise
