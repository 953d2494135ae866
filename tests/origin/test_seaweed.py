"""The embedded origin: a real weed mini, reached only with its generated keys."""

from __future__ import annotations

import stat
import urllib.error
import urllib.request

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from origin.config import Origin, S3Location
from origin.errors import BadOriginURL, OriginNotRunning
from origin.seaweed import Seaweed


def test_up_writes_private_state_and_answers(seaweed, origin):
    st = seaweed.status()
    assert st.running and st.problem is None and st.endpoint.startswith("http://127.0.0.1:")
    for name in ("credentials.json", "s3.json"):
        assert stat.S_IMODE((seaweed.dir / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(seaweed.dir.stat().st_mode) == 0o700
    assert seaweed.credentials().secret_key not in (seaweed.dir / "origin.json").read_text()
    s3 = origin.client()
    s3.put_object(Bucket=origin.location.bucket, Key=origin.location.key("hello"), Body=b"hi")
    body = s3.get_object(Bucket=origin.location.bucket, Key=origin.location.key("hello"))["Body"].read()
    assert body == b"hi"


def test_up_again_finds_the_running_server(seaweed):
    pid = seaweed.state().pid
    assert Seaweed(seaweed.dir).up().pid == pid


def test_anonymous_and_wrong_keys_are_refused(seaweed, origin):
    key = origin.location.key("secret.mp4")
    origin.client().put_object(Bucket=origin.location.bucket, Key=key, Body=b"x" * 100)
    anon = boto3.client(
        "s3", endpoint_url=origin.endpoint_url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    for call in (
        lambda: anon.get_object(Bucket=origin.location.bucket, Key=key),
        lambda: anon.list_objects_v2(Bucket=origin.location.bucket),
        lambda: anon.put_object(Bucket=origin.location.bucket, Key=key, Body=b"evil"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    wrong = Origin(
        location=origin.location, endpoint_url=origin.endpoint_url, access_key=origin.access_key, secret_key="nope"
    )
    with pytest.raises(ClientError) as err:
        wrong.client(attempts=1).get_object(Bucket=origin.location.bucket, Key=key)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # Plain HTTP: the S3 port refuses, and the filer's HTTP port does not serve the bucket's files.
    filer = f"http://127.0.0.1:{seaweed.state().ports['filer.port']}/buckets/{origin.location.bucket}/{key}"
    for url in (origin.url(key), filer):
        with pytest.raises((urllib.error.HTTPError, urllib.error.URLError)) as err:
            urllib.request.urlopen(url, timeout=5)
        assert getattr(err.value, "code", None) != 200


def test_down_then_up_keeps_endpoint_and_data(seaweed_factory):
    sw = seaweed_factory()
    o = sw.origin()
    o.client().put_object(Bucket=o.location.bucket, Key="kept", Body=b"still here")
    pid = sw.state().pid
    assert sw.down() is True
    assert not sw.status().running and sw.status().problem == "stopped"
    assert sw.state().pid is None
    assert not Seaweed(sw.dir)._alive(pid)
    with pytest.raises(OriginNotRunning):
        sw.origin()
    assert sw.down() is False
    sw.up()
    again = sw.origin()
    assert again.endpoint_url == o.endpoint_url
    assert again.client().get_object(Bucket=o.location.bucket, Key="kept")["Body"].read() == b"still here"


def test_down_from_another_process_object(seaweed_factory):
    # `vodflow origin down` runs in a process that did not start weed: it stops it by pid.
    sw = seaweed_factory()
    pid = sw.state().pid
    assert Seaweed(sw.dir).down() is True
    assert not sw._alive(pid)
    assert not sw.status().running


def test_origin_urls():
    assert S3Location.parse("s3://media/vod/") == S3Location(bucket="media", prefix="vod")
    assert S3Location.parse("s3://media").key("titles", "x/") == "titles/x"
    assert S3Location.parse("s3://media/a/b").key("c") == "a/b/c"
    for bad in ("http://media/x", "s3://", "s3://Media", "s3://media/a/../b", "media"):
        with pytest.raises(BadOriginURL):
            S3Location.parse(bad)
