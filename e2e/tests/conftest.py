"""The browser tests' media, packages, server and one browser run, each made once per session.

A 16 s 640x360 title (ffmpeg's testsrc2: moving shapes and a running clock, with a tone) is encoded by
``pipeline.encode`` into two rungs per codec (320x180 and 640x360), each codec packaged on its own
(clear, cenc, cbcs, aes128) by the product's packager, so every case knows which codec it plays. The
broken packages are copies of the whole ones with one fault each.
"""

from __future__ import annotations

import logging
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_harness import Case, play, serve, wrong_key

from packager import KeyStore, package
from pipeline.encode import encode
from pipeline.renditions import AudioRendition, EncodeResult
from pipeline.rung_spec import parse_rung
from tests import media

CODECS = {"h264": "avc1", "vp9": "vp09", "av1": "av01"}  # codec -> its codec strings' prefix
RUNGS = ("{codec}:320x180:crf30@250k", "{codec}:640x360:crf22@1500k")
TITLE_SECONDS = 16
SEGMENT_SECONDS = 2  # so every player has made a few ABR decisions within the first seconds
# (manifest, encryption, players)
VARIANTS = (
    ("manifest.mpd", "clear", ("shaka", "dashjs")),
    ("manifest.mpd", "cenc", ("shaka", "dashjs")),
    ("master.m3u8", "clear", ("shaka", "hlsjs")),
    ("master.m3u8", "cbcs", ("shaka",)),
    ("master.m3u8", "aes128", ("shaka", "hlsjs")),
)
ENCRYPTIONS = ("clear", "cenc", "cbcs", "aes128")


def _case(codec: str, manifest: str, encryption: str, player: str, **kw) -> Case:
    kind = "dash" if manifest.endswith(".mpd") else "hls"
    return Case(
        id=kw.pop("id", f"{kind}-{encryption}-{codec}-{player}"),
        player=player,
        package=kw.pop("package", f"{codec}_{encryption}"),
        manifest=manifest,
        codec=(CODECS[codec],) if codec in CODECS else tuple(CODECS.values()),
        # DASH has no key URI: the player is handed the keys (ClearKey). HLS fetches each key from the
        # playlist's EXT-X-KEY URI on the edge (our server), for cbcs as for aes128.
        clearkey=kw.pop("clearkey", manifest.endswith(".mpd") and encryption != "clear"),
        **kw,
    )


MATRIX = [
    _case(codec, manifest, encryption, player)
    for codec in CODECS
    for manifest, encryption, players in VARIANTS
    for player in players
]
# The presentation the packager makes by default: every codec in one MPD (an AdaptationSet each) and one
# HLS master (a variant each); the player picks a codec and switches within it.
MATRIX += [_case("all", "manifest.mpd", "clear", player) for player in ("shaka", "dashjs")]
MATRIX += [_case("all", "master.m3u8", "clear", player) for player in ("shaka", "hlsjs")]


@dataclass(frozen=True)
class Broken:
    """A playback of a deliberately broken package that must fail."""

    fault: str  # "wrong key", "corrupted segment", "missing segment"
    case: Case


def _broken(fault: str, pkg: str, manifest: str, encryption: str, player: str, **kw) -> Broken:
    kind = "dash" if manifest.endswith(".mpd") else "hls"
    slug = fault.replace(" ", "-")
    return Broken(
        fault,
        _case(
            "h264",
            manifest,
            encryption,
            player,
            id=kw.pop("id", f"{slug}-{kind}-{encryption}-{player}"),
            package=pkg,
            **kw,
        ),
    )


BROKEN = [
    _broken("wrong key", "h264_cenc", "manifest.mpd", "cenc", "shaka", wrong_key=True),
    _broken("wrong key", "h264_cenc", "manifest.mpd", "cenc", "dashjs", wrong_key=True),
    _broken("wrong key", "h264_cbcs", "master.m3u8", "cbcs", "shaka", clearkey=True, wrong_key=True),
    _broken("wrong key", "h264_cbcs_wrongkey", "master.m3u8", "cbcs", "shaka", id="wrong-key-uri-hls-cbcs-shaka"),
    _broken("wrong key", "h264_aes128_wrongkey", "master.m3u8", "aes128", "shaka"),
    _broken("wrong key", "h264_aes128_wrongkey", "master.m3u8", "aes128", "hlsjs"),
    _broken("corrupted segment", "h264_clear_corrupt", "manifest.mpd", "clear", "shaka"),
    _broken("corrupted segment", "h264_clear_corrupt", "manifest.mpd", "clear", "dashjs"),
    _broken("corrupted segment", "h264_clear_corrupt", "master.m3u8", "clear", "hlsjs"),
    _broken("missing segment", "h264_clear_missing", "manifest.mpd", "clear", "shaka"),
    _broken("missing segment", "h264_clear_missing", "manifest.mpd", "clear", "dashjs"),
    _broken("missing segment", "h264_clear_missing", "master.m3u8", "clear", "hlsjs"),
]


@pytest.fixture(scope="session", autouse=True)
def _quiet_progress():
    logging.getLogger("vodflow").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def renditions(work) -> dict[str, EncodeResult]:
    """codec (and "all") -> the encoded rungs of that codec (of every codec) and the AAC audio."""
    src = media.clip(work, "title.mp4", size="640x360", fps=30, seconds=TITLE_SECONDS)
    rungs = [parse_rung(r.format(codec=codec)) for codec in CODECS for r in RUNGS]
    every = encode(
        src, rungs, work / "renditions", audio=[AudioRendition(codec="aac", bitrate_kbps=64)], show_progress=False
    )
    by_codec = {
        c: every.model_copy(update={"video": [v for v in every.video if v.rendition.codec == c]}) for c in CODECS
    }
    return {**by_codec, "all": every}


@dataclass
class Packages:
    root: Path
    clearkeys: dict[str, dict[str, str]]  # package -> {kid hex: key hex}
    http_keys: dict[str, bytes]  # key URI path under /keys/ -> key bytes (cbcs, AES-128)


def _video_segments(pkg: Path, number: int) -> list[Path]:
    """Segment ``number`` (1-based) of every video rendition of a package (layout: packager's docstring)."""
    return sorted((pkg / "video").glob(f"*/{number}.m4s"))


@pytest.fixture(scope="session")
def packages(work, renditions) -> Packages:
    store = KeyStore(work / "keys")
    pk = Packages(root=work / "pkg", clearkeys={}, http_keys={})
    package(renditions["all"], pk.root / "all_clear", segment_seconds=SEGMENT_SECONDS, keystore=store, title="e2e-all")
    for codec in CODECS:
        result, title = renditions[codec], f"e2e-{codec}"
        for encryption in ENCRYPTIONS:
            name = f"{codec}_{encryption}"
            encrypt = "none" if encryption == "clear" else encryption
            package(
                result, pk.root / name, encrypt=encrypt, segment_seconds=SEGMENT_SECONDS, keystore=store, title=title
            )
        keys = store.load(title)
        for encryption in ("cenc", "cbcs"):
            pk.clearkeys[f"{codec}_{encryption}"] = keys.clearkeys()
        # The packager's default key URI, /keys/{title}/{kid}: what the edge answers with the raw key.
        pk.http_keys.update({f"{title}/{k.kid}": k.key_bytes for k in keys.keys.values()})
    # A wrong key: the cbcs and AES-128 packages again, their key URIs answered with every key's first
    # byte flipped.
    keys = store.load("e2e-h264")
    for encrypt in ("cbcs", "aes128"):
        package(
            renditions["h264"],
            pk.root / f"h264_{encrypt}_wrongkey",
            encrypt=encrypt,
            segment_seconds=SEGMENT_SECONDS,
            keystore=store,
            title="e2e-h264",
            key_uri="/keys/wrong/{title}/{kid}",
        )
    pk.http_keys.update({f"wrong/e2e-h264/{k.kid}": wrong_key(k.key_bytes) for k in keys.keys.values()})
    # A corrupted segment: the middle half of the second segment of every video rung overwritten.
    # A missing segment: the second segment of every video rung deleted.
    clear = pk.root / "h264_clear"
    for fault in ("corrupt", "missing"):
        copy = pk.root / f"h264_clear_{fault}"
        shutil.copytree(clear, copy)
        for seg in _video_segments(copy, 2):
            if fault == "missing":
                seg.unlink()
            else:
                data = bytearray(seg.read_bytes())
                n = len(data)
                data[n // 4 : n // 4 + n // 2] = random.Random(n).randbytes(n // 2)
                seg.write_bytes(bytes(data))
    return pk


@pytest.fixture(scope="session")
def server(packages):
    with serve(packages.root, packages.http_keys) as s:
        yield s


@pytest.fixture(scope="session")
def played(server, packages, work) -> dict[str, dict]:
    """Every case of the matrix and every broken one, played in one browser."""
    return play([*MATRIX, *(b.case for b in BROKEN)], server.url, packages.clearkeys, work / "browser")
