"""DASH + HLS packaging of a title's renditions with Shaka Packager: CMAF segments, clear or encrypted.

Public names (import them from ``packager``; edge/ and player/ use nothing else):

- the stage: ``package`` (→ ``Package``), ``SubtitleInput``; ``validate`` (→ ``ValidationReport``);
- records: ``Package``, ``Stream``, ``Segment``, ``Thumbnails``, ``QualitySidecar``; reading them from a
  folder or from fetched bytes: ``load_package``/``parse_package``, ``load_sidecar``/``parse_sidecar``,
  ``read_mpd``/``parse_mpd`` (→ ``MPD`` with ``AdaptationSet``s and ``Representation``s);
- the file names at a package's root: ``PACKAGE_RECORD``, ``QUALITY_SIDECAR``, ``DASH_MANIFEST``,
  ``HLS_MASTER``;
- keys: ``KeyStore``, ``TitleKeys``, ``ContentKey``, ``TrackClass``; ``key_forms``/``find_key_material``
  (the key-leak scan);
- errors: ``KeyStoreError``, ``NotRenditions``, ``InvalidPackage``;
- live (LL-HLS and LL-DASH on ffmpeg's chunked CMAF): ``ChannelState`` (a channel folder's segments,
  parts, playlists and MPDs: ``refresh``, ``last``, ``segment``, ``segment_by_uri``, ``path``,
  ``init_segment``, ``media_playlist``, ``master_playlist``, ``mpd``, ``version``, ``add_listener``, ``end``)
  with its records ``Rendition``, ``LiveSegment``, ``Part``, ``LiveProtection`` (scheme and key ID of an
  encrypted channel); ``LIVE_MPDS`` (the MPD file names, ``DASH_MANIFEST`` and ``DASH_NUMBER_MANIFEST``,
  -> their SegmentTemplate form), ``LIVE_LICENSE`` and ``LIVE_KEYS`` (the channel's licence endpoint and
  key folder), ``live_key`` (an encrypted channel's protection and key from the key store);
  ``playlist_name`` (``<rendition>.m3u8`` / ``-plain.m3u8``), ``run_file_names`` (ffmpeg's segment
  names for encoder run k, so a restart does not overwrite the run before); ``Chunk``/``scan_chunks``
  /``track_timescale`` (the incremental CMAF box reader).

Modules: ``package`` (the stage), ``shaka`` (Shaka Packager's argv), ``hls`` and ``mpd`` (reading and
finishing the manifests, AES-128), ``keys`` (the key store), ``leaks`` (the key-leak scan), ``validate``,
``model`` (the records and file names), ``sidecar`` (the per-segment quality sidecar), ``errors``;
live: ``cmaf`` (chunks of growing CMAF segment files), ``live_records`` (parts, segments, renditions,
file names per encoder run), ``live_state`` (the channel folder's state), ``llhls`` (``ChannelState`` and
its LL-HLS / plain HLS playlists), ``live_dash`` (its MPDs), ``live_crypto`` (an encrypted channel's key and the pssh
of its init segments), ``live_cbcs`` (cbcs encryption of the encoder's clear chunks and init segments).

Package layout (stable; players and the edge rely on it)::

    OUT/
      manifest.mpd                       DASH: static MPD, SegmentTemplate + SegmentTimeline, fMP4;
                                         one AdaptationSet per video codec, per audio codec+language,
                                         per subtitle language (not written for --encrypt aes128)
      master.m3u8                        HLS master: version 6+, EXT-X-INDEPENDENT-SEGMENTS, every variant,
                                         audio GROUP-ID per codec, SUBTITLES group, I-frame playlists
      package.json                       the Package record (streams, codecs, bandwidths, key IDs, segments)
      video/<rendition>/init.mp4         e.g. video/h264_1280x720_crf23max3000k/ (the encode's file stem)
      video/<rendition>/<n>.m4s          n = 1, 2, ... (CMAF segments shared by DASH and HLS)
      video/<rendition>/media.m3u8       HLS media playlist
      video/<rendition>/iframes.m3u8     HLS I-frame playlist (not with aes128)
      audio/<rendition>/...              same files; <rendition> is e.g. aac_128k or aac_128k_fra
      text/<lang>/<n>.vtt, media.m3u8    WebVTT subtitles per language
      thumbs/sprite.jpg, thumbs.vtt      trick-play thumbnail sprite and its WebVTT index (#xywh=)

Encryption (``package(..., encrypt=...)``):

- ``cenc`` / ``cbcs``: CENC AES-CTR / AES-CBC pattern, raw keys, ClearKey signalling (the MPD carries
  the common-system PSSH, ``urn:uuid:1077efec-c0b2-4d02-ace3-3c1e52e2fb4b``, and a ``default_KID``
  per AdaptationSet). cbcs media playlists carry ``#EXT-X-KEY:METHOD=SAMPLE-AES`` with a key URI.
- ``aes128``: HLS only; whole-segment AES-128-CBC (PKCS7) of every media segment (init segments stay
  clear), ``#EXT-X-KEY:METHOD=AES-128,URI=...,IV=0x...`` before each segment.
- Key URIs (cbcs, aes128) come from ``key_uri``, a template with ``{title}`` and ``{kid}`` (hex),
  default ``/keys/{title}/{kid}``: the edge answers it with the 16 raw key bytes.

Keys never enter OUT. To get them (e.g. for a ClearKey player or a test key server)::

    from packager.keys import KeyStore
    keys = KeyStore().load("bbb")        # $VODFLOW_KEYS or .vodflow/keys; KeyStore(path) for another
    keys.clearkeys()                     # {kid_hex: key_hex, ...} for every track class
    keys.by_kid(kid_hex).key             # the key for one stream (package.json streams[].key_id)

The title defaults to the source file's stem (``bbb`` for ``bbb.mp4``); ``package.json`` records it.
"""

from packager.cmaf import Chunk
from packager.cmaf import scan as scan_chunks
from packager.cmaf import timescale as track_timescale
from packager.errors import InvalidPackage, KeyStoreError, NotRenditions
from packager.keys import ContentKey, KeyStore, TitleKeys, TrackClass
from packager.leaks import find_key_material, key_forms
from packager.live_crypto import live_key
from packager.live_dash import MPD_FORMS as LIVE_MPDS
from packager.live_records import LIVE_KEYS, LIVE_LICENSE, LiveProtection
from packager.llhls import ChannelState, LiveSegment, Part, Rendition, playlist_name, run_file_names
from packager.model import (
    DASH_MANIFEST,
    DASH_NUMBER_MANIFEST,
    HLS_MASTER,
    PACKAGE_RECORD,
    QUALITY_SIDECAR,
    Package,
    Segment,
    Stream,
    Thumbnails,
    load_package,
    parse_package,
)
from packager.mpd import MPD, AdaptationSet, Representation, SegmentRef, parse_mpd, read_mpd
from packager.package import SubtitleInput, package
from packager.sidecar import QualitySidecar, load_sidecar, parse_sidecar
from packager.validate import ValidationReport, validate

__all__ = [
    "DASH_MANIFEST",
    "DASH_NUMBER_MANIFEST",
    "HLS_MASTER",
    "LIVE_KEYS",
    "LIVE_LICENSE",
    "LIVE_MPDS",
    "MPD",
    "PACKAGE_RECORD",
    "QUALITY_SIDECAR",
    "AdaptationSet",
    "ChannelState",
    "Chunk",
    "ContentKey",
    "InvalidPackage",
    "KeyStore",
    "KeyStoreError",
    "LiveProtection",
    "LiveSegment",
    "NotRenditions",
    "Package",
    "Part",
    "QualitySidecar",
    "Rendition",
    "Representation",
    "Segment",
    "SegmentRef",
    "Stream",
    "SubtitleInput",
    "Thumbnails",
    "TitleKeys",
    "TrackClass",
    "ValidationReport",
    "find_key_material",
    "key_forms",
    "live_key",
    "load_package",
    "load_sidecar",
    "package",
    "parse_mpd",
    "parse_package",
    "parse_sidecar",
    "playlist_name",
    "read_mpd",
    "run_file_names",
    "scan_chunks",
    "track_timescale",
    "validate",
]
