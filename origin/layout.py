"""The bucket layout, written once: where a title's objects live under an origin's prefix, and the pointer.

::

    titles/<title>/current.json                 the Pointer: the version players get, its manifests, history
    titles/<title>/v/<version>/<path>           the package tree of one version, byte for byte
    titles/<title>/publications/<version>.json  the Publication record of that version

Every function returns a key relative to the origin's prefix (``S3Location.key(...)`` puts the prefix in
front); title and version IDs are checked against ``vodflow.ids``, so no key can leave ``titles/<title>/``.
Publishers (``origin.publish``), readers (the edge's upstream and catalogue) and tools use these names and
no other spelling of them.
"""

from __future__ import annotations

from vodflow.errors import UsageError
from vodflow.ids import check_title, is_id
from vodflow.records import Record

__all__ = ["POINTER", "TITLES", "Pointer", "pointer", "publication", "title_root", "version_root"]

TITLES = "titles"  # the folder of every title under the origin's prefix
POINTER = "current.json"  # a title's pointer object, beside its versions


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


def _check_version(version: str) -> str:
    if not is_id(version):
        raise UsageError(f"version {version!r} is not a valid version ID (letters, digits, . _ -; at most 128)")
    return version
