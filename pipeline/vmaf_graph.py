"""The libvmaf/ssim/psnr filter graph pieces: both inputs prepared the same way (distorted scaled to the
reference, one pixel format, timestamps rebased), the frame selection for subsampling, and the inputs
the libvmaf build of ffmpeg can read. See ``pipeline.quality`` for why each step is there."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.probe import MediaInfo, parse_rate
from pipeline.quality_inputs import Pair
from vodflow.errors import UnsupportedMedia

__all__ = [
    "ffmpeg_inputs",
    "filter_value",
    "frame_selection",
    "prepared_distorted",
    "prepared_reference",
    "prepared_streams",
    "refuse_mpegts",
    "same_constant_rate",
]


def filter_value(text: str) -> str:
    """Escape ``text`` as an option value inside a filtergraph: once for the option, once for the graph."""
    option = re.sub(r"([\\':])", r"\\\1", text)
    return re.sub(r"([\\'\[\],;])", r"\\\1", option)


def prepared_streams(pair: Pair, select: str = "") -> str:
    """Graph head: the distorted (input 0) as [dist] and the reference (input 1) as [ref], made comparable."""
    return f"{prepared_distorted(pair, 0, 'dist', select)};{prepared_reference(pair, 1, select)}[ref];"


def prepared_distorted(pair: Pair, input_index: int, label: str, select: str = "") -> str:
    """The distorted input's chain, from input ``input_index`` to the output label ``label``."""
    w, h, fmt = pair.ref.width, pair.ref.height, pair.pix_fmt
    return (
        # Leave out a lead the reference does not have; then rebase to 0 (the reference too) so that
        # pairing by timestamp ignores a start offset.
        f"[{input_index}:{pair.dist.index}]{f'trim=start_frame={pair.skip},' if pair.skip else ''}"
        f"setpts=PTS-STARTPTS{select},"
        # Bicubic to the reference size; scale passes frames through untouched when sizes already match.
        f"scale={w}:{h}:flags=bicubic,format={fmt}[{label}]"
    )


def prepared_reference(pair: Pair, input_index: int, select: str = "") -> str:
    """The reference's chain, without its output label (a caller may end it with a split)."""
    return f"[{input_index}:{pair.ref.index}]setpts=PTS-STARTPTS{select},format={pair.pix_fmt}"


def same_constant_rate(pair: Pair) -> bool:
    """True when frame n of the distorted is paired with frame n of the reference."""
    return (
        not pair.ref.vfr
        and not pair.dist.vfr
        and pair.ref.frame_rate is not None
        and parse_rate(pair.ref.frame_rate) == parse_rate(pair.dist.frame_rate)
    )


def frame_selection(pairs: Sequence[Pair], subsample: int) -> tuple[str, int]:
    """(select filter to add to every chain, libvmaf n_subsample) scoring every ``subsample``-th frame.

    See the module docstring: frames 0, 1 and each scored frame's neighbours are all libvmaf needs.
    """
    if subsample <= 3 or not all(same_constant_rate(p) for p in pairs):
        return "", subsample
    return f",select='lte(mod(n+1\\,{subsample})\\,2)'", 3


def refuse_mpegts(info: MediaInfo) -> None:
    """Return if ``info`` is not MPEG-TS; raise ``UnsupportedMedia`` if it is."""
    if "mpegts" in info.container.split(","):
        # The static ffmpeg 6.0 that carries libvmaf segfaults on every MPEG-TS input, even with -c copy.
        raise UnsupportedMedia(
            info.path,
            "MPEG-TS cannot be scored: the ffmpeg build with libvmaf crashes on it; "
            "remux it to MP4 first (ffmpeg -i in.ts -c copy out.mp4)",
        )


def ffmpeg_inputs(pair: Pair) -> list[str]:
    """The ``-i`` arguments of one pair, distorted first; raises as :func:`refuse_mpegts`."""
    for info in (pair.dist_info, pair.ref_info):
        refuse_mpegts(info)
    # The distorted goes first: libvmaf, ssim and psnr call input 0 "main" and input 1 "reference".
    return ["-i", str(pair.distorted), "-i", str(pair.reference)]
