"""Packaging benchmark, run by hand (``python -m bench.package``); it prints figures.

The hard 1080p sample (``grain``) is encoded with the full fixed reference ladder in all four codecs
(H.264, HEVC, AV1, VP9; AAC + Opus audio), then packaged clear and with each encryption. For each
package it prints:

- packaging seconds / that ladder's encode seconds (goal <= 0.05): packaging must be a rounding error
  next to encoding;
- package bytes / rendition bytes (goal <= 1.02): CMAF segments, manifests, I-frame playlists and the
  thumbnail sprite add little to the media itself (AES-128 adds up to 16 bytes of padding a segment).

``--keep DIR`` keeps (and reuses) the encoded renditions there, so a second run only packages.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from ladders.fixed import fixed_ladder
from packager.keys import KeyStore
from packager.package import package
from pipeline.encode import encode
from pipeline.probe import probe
from pipeline.renditions import EncodeResult
from samples import DEFAULT_DIR, make_samples

CODECS = ("h264", "hevc", "av1", "vp9")
ENCRYPTIONS = ("none", "cenc", "cbcs", "aes128")
GOAL_TIME, GOAL_BYTES = 0.05, 1.02


def renditions(src: Path, out: Path, *, show_progress: bool) -> EncodeResult:
    """The fixed ladder of every codec for ``src`` in ``out`` (reused when out/encode.json exists)."""
    record = out / "encode.json"
    if record.is_file():
        return EncodeResult.load(record)
    info = probe(src)
    rungs = [r.rendition() for r in fixed_ladder(info, CODECS).rungs]
    result = encode(src, rungs, out, show_progress=show_progress)
    result.save(record)
    return result


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.package", description=__doc__.splitlines()[0])
    p.add_argument("--keep", help="encode into (and reuse) this folder instead of a temporary one")
    p.add_argument("--progress", action="store_true", help="show encode progress")
    args = p.parse_args()
    (src,) = make_samples(DEFAULT_DIR, names=["grain"], show_progress=args.progress)
    with tempfile.TemporaryDirectory(prefix="vodflow-bench-package-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp) / "renditions"
        result = renditions(src, work, show_progress=args.progress)
        n_video, n_audio = len(result.video), len(result.audio)
        print(f"{src.name}: {n_video} video + {n_audio} audio renditions, encoded in {result.seconds:.1f} s")
        print(f"{'encryption':<11} {'package s':>9} {'/ encode':>9} {'bytes ratio':>12}")
        for e in ENCRYPTIONS:
            pkg = package(work, Path(tmp) / e, encrypt=e, keystore=KeyStore(Path(tmp) / "keys"))
            t, b = pkg.seconds / result.seconds, pkg.total_bytes / pkg.rendition_bytes
            flags = ("" if t <= GOAL_TIME else " time>goal") + ("" if b <= GOAL_BYTES else " bytes>goal")
            print(f"{e:<11} {pkg.seconds:>9.2f} {t:>9.4f} {b:>12.4f}{flags}")
        print(f"goals: package/encode <= {GOAL_TIME}, package bytes/rendition bytes <= {GOAL_BYTES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
