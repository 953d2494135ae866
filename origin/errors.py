"""The origin's errors, all rooted in ``VodflowError`` (one printable line each)::

VodflowError
├── UsageError
│   ├── BadOriginURL          --origin is not s3://bucket[/prefix]
│   └── NotAPackage           the folder to publish has no package.json / manifests
└── OriginError               exit 2: the origin (or the way to it) is at fault
    ├── OriginNotRunning      the embedded SeaweedFS is not up (`vodflow origin up`)
    ├── OriginStartFailed     weed exited or never answered while starting
    ├── OriginUnreachable     the S3 endpoint refused, timed out or failed a request
    ├── ObjectMissing         the object asked for is not stored (``origin.store.Store.get``...)
    ├── ChecksumMismatch      the origin stored other bytes than we sent
    ├── NotPublished          the title has no (previous) version to point at
    └── KeyMaterialFound      a file to publish contains the title's key bytes: nothing is sent
"""

from __future__ import annotations

from vodflow.errors import UsageError, VodflowError

__all__ = [
    "BadOriginURL",
    "ChecksumMismatch",
    "KeyMaterialFound",
    "NotAPackage",
    "NotPublished",
    "ObjectMissing",
    "OriginError",
    "OriginNotRunning",
    "OriginStartFailed",
    "OriginUnreachable",
]


class BadOriginURL(UsageError):
    """``--origin`` is not of the form ``s3://bucket[/prefix]``."""


class NotAPackage(UsageError):
    """The folder given to publish is missing or is not a package written by ``packager.package``."""


class OriginError(VodflowError):
    """The origin, or the way to it, is at fault."""


class OriginNotRunning(OriginError):
    """The embedded SeaweedFS is not running."""


class OriginStartFailed(OriginError):
    """``weed mini`` exited, or its S3 API never answered, while starting."""


class OriginUnreachable(OriginError):
    """An S3 request failed: connection refused, timeout, or an error status from the endpoint."""


class ObjectMissing(OriginError):
    """The object asked for is not stored on the origin (a 404 / NoSuchKey answer)."""


class ChecksumMismatch(OriginError):
    """The checksum the origin reports for an object differs from the file's."""


class NotPublished(OriginError):
    """The title has no publication, or no previous version to roll back to."""


class KeyMaterialFound(OriginError):
    """A file about to be published contains one of the title's content keys (raw, hex or base64)."""
