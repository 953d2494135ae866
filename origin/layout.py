"""The bucket layout, written once: where a title's objects live under an origin's prefix, and the pointer.

::

    titles/<title>/current.json                 the Pointer: the version players get, its manifests, history
    titles/<title>/v/<version>/<path>           the package tree of one version, byte for byte
    titles/<title>/publications/<version>.json  the Publication record of that version
    live/<channel>/<file>                       a running channel's mirror: its init segments and the whole
                                                segments of its DVR window (origin.live_mirror)

Every function returns a key relative to the origin's prefix (``S3Location.key(...)`` puts the prefix in
front); title and version IDs are checked against ``vodflow.ids``, so no key can leave ``titles/<title>/``.
Publishers (``origin.publish``), readers (the edge's upstream and catalogue) and tools use these names and
no other spelling of them.
"""

from __future__ import annotations

from vodflow.errors import UsageError
from vodflow.ids import check_title, is_id
from vodflow.records import Record

__all__ = ["LIVE", "POINTER", "TITLES", "Pointer", "live_object", "live_root", "pointer", "publication", "title_root",
           "version_root"]  # fmt: skip

TITLES = "titles"  # the folder of every title under the origin's prefix
POINTER = "current.json"  # a title's pointer object, beside its versions
LIVE = "live"  # the folder of every live channel's mirror under the origin's prefix


class Pointer(Record):
    """``titles/<title>/current.json``: the version players get, and the ones before it (oldest first).

    ``root`` is the version's key prefix; ``dash`` and ``hls`` are the manifests' paths under it."""

    title: str
    version: str
    root: str
    dash: str | None
    hls: str
    published_at: str
    history: list[str] = []


def title_root(title: str) -> str:
    """``titles/<title>``: everything of one title (its pointer, versions and records) is under it."""
    return f"{TITLES}/{check_title(title)}"


def pointer(title: str) -> str:
    """``titles/<title>/current.json``."""
    return f"{title_root(title)}/{POINTER}"


def version_root(title: str, version: str) -> str:
    """``titles/<title>/v/<version>`` (no trailing slash): the package tree of one version."""
    return f"{title_root(title)}/v/{_check_version(version)}"


def publication(title: str, version: str) -> str:
    """``titles/<title>/publications/<version>.json``: the Publication record of one version."""
    return f"{title_root(title)}/publications/{_check_version(version)}.json"


def live_root(channel: str) -> str:
    """``live/<channel>``: a live channel's mirror (no trailing slash)."""
    return f"{LIVE}/{check_title(channel)}"


def live_object(channel: str, name: str) -> str:
    """``live/<channel>/<name>``: one file of the channel's media folder (a plain file name)."""
    if not is_id(name):
        raise UsageError(f"live file name {name!r} is not a plain file name")
    return f"{live_root(channel)}/{name}"


def _check_version(version: str) -> str:
    if not is_id(version):
        raise UsageError(f"version {version!r} is not a valid version ID (letters, digits, . _ -; at most 128)")
    return version
