"""Where titles are published: an ``S3Location`` (bucket + key prefix) on an ``Origin`` (an S3 endpoint
with credentials).

``Origin.resolve(url)`` is what the CLI uses for ``--origin``:

- no URL: the embedded SeaweedFS (``vodflow origin up``), its bucket ``vodflow``, its generated keys;
- ``s3://bucket/prefix``: that bucket and prefix; endpoint and credentials come from the usual AWS
  environment (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``...,
  as boto3 reads them). When the environment names no endpoint and no access key, the embedded origin's
  endpoint and keys are used with that bucket and prefix.

Every client made by ``Origin.client()`` uses path-style addressing (SeaweedFS and most S3 look-alikes
want it), bounded timeouts and retries, so an origin that is down fails within seconds, not minutes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from origin import embedded
from origin.errors import BadOriginURL
from vodflow.records import Record

__all__ = ["Origin", "S3Location"]

# S3 bucket naming rules (3-63 lower-case letters, digits, dots, hyphens; starts/ends alphanumeric).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class S3Location(Record):
    """A bucket and a key prefix ("" or ``a/b``, no leading or trailing slash)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket[/prefix]`` → ``S3Location``; raises ``BadOriginURL``."""
        m = re.fullmatch(r"s3://([^/]+)(?:/(.*))?", url.strip())
        if m is None:
            raise BadOriginURL(f"--origin {url!r}: expected s3://bucket[/prefix]")
        bucket, prefix = m.group(1), (m.group(2) or "").strip("/")
        if not _BUCKET.fullmatch(bucket):
            raise BadOriginURL(f"--origin {url!r}: {bucket!r} is not a valid S3 bucket name")
        if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
            raise BadOriginURL(f"--origin {url!r}: the prefix has an empty, '.' or '..' part")
        return cls(bucket=bucket, prefix=prefix)

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under this prefix: ``key("titles", "x")`` → ``prefix/titles/x``."""
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


@dataclass(frozen=True, kw_only=True)
class Origin:
    """An S3 endpoint, its credentials and the location titles go to. ``repr`` hides the secret key.

    ``endpoint_url=None`` and no keys mean "whatever boto3 finds in the environment"."""

    location: S3Location
    endpoint_url: str | None = None
    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    region: str = "us-east-1"

    @classmethod
    def resolve(cls, url: str | None = None, *, state_dir: str | os.PathLike[str] | None = None) -> Origin:
        """The origin the CLI means by ``--origin url`` (see the module docstring).

        Raises ``BadOriginURL`` for a malformed URL and ``OriginNotRunning`` when the embedded origin is
        needed but not up."""
        if url is None:
            return cls.embedded(state_dir)
        location = S3Location.parse(url)
        if os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ACCESS_KEY_ID"):
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            # Credentials stay boto3's to find; the endpoint is named so URLs and errors can show it.
            return cls(location=location, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None, region=region)
        return cls.embedded(state_dir, location)

    @classmethod
    def embedded(cls, state_dir: str | os.PathLike[str] | None = None, location: S3Location | None = None) -> Origin:
        """The running embedded origin of ``state_dir`` (``origin.embedded.running``) with ``location``
        (default: its bucket, no prefix). Raises ``OriginNotRunning`` when it is not running."""
        st, creds = embedded.running(state_dir)
        return cls(
            location=location or S3Location(bucket=st.bucket),
            endpoint_url=st.endpoint,
            access_key=creds.access_key,
            secret_key=creds.secret_key,
        )

    def with_location(self, location: S3Location) -> Origin:
        """The same endpoint and credentials with another bucket/prefix."""
        return Origin(
            location=location,
            endpoint_url=self.endpoint_url,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
        )

    def client(self, *, max_connections: int = 16, timeout: float = 10.0, attempts: int = 3):
        """A boto3 S3 client for this origin (path-style, bounded timeouts and retries).

        ``max_connections`` bounds the HTTP pool; keep it ≥ the transfer concurrency."""
        config = Config(
            region_name=self.region,
            s3={"addressing_style": "path"},
            max_pool_connections=max_connections,
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": attempts, "mode": "standard"},
            # Checksums only where we ask for them (publish asks for SHA-256 on every PUT).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=config,
        )

    def url(self, key: str) -> str:
        """The path-style URL of an object key (what a signed request or the edge fetches)."""
        base = (self.endpoint_url or f"https://s3.{self.region}.amazonaws.com").rstrip("/")
        return f"{base}/{self.location.bucket}/{key}"
