"""The per-segment VMAF sidecar built from real encoded media, then published next to the playlists."""

from __future__ import annotations

import json
import shutil

from origin.files import MANIFEST
from origin.publish import publish
from packager.model import QUALITY_SIDECAR as SIDECAR
from packager.model import Package
from packager.sidecar import write_sidecar


def test_sidecar_from_real_media_is_published_as_json(origin, pub_root, pub_packages, pub_keys, tmp_path):
    root = tmp_path / "pkg"
    shutil.copytree(pub_packages["none"].root, root)
    path = write_sidecar(root, pub_root / "src" / "multilang.mp4", subsample=1)

    body = json.loads(path.read_text())
    pkg = Package.load(root / "package.json")
    video = {s.id: s for s in pkg.streams if s.kind == "video"}
    assert SIDECAR in pkg.files and body["model"] == "vmaf_v0.6.1" and body["reference"] == "multilang.mp4"
    assert set(body["streams"]) == set(video)
    for sid, scores in body["streams"].items():
        assert len(scores) == len(video[sid].segments) >= 2
        assert all(0 < x <= 100 for x in scores)
    # the 320x180 rendition is the source's own size: it scores above the 160x90 one on every segment
    big, small = (next(s for s in video if s.startswith(f"h264_{size}")) for size in ("320x180", "160x90"))
    assert all(b > s for b, s in zip(body["streams"][big], body["streams"][small], strict=True))

    pub = publish(root, "sidecar", origin, keystore=pub_keys)
    [obj] = [o for o in pub.objects if o.path == SIDECAR]
    s3 = origin.client()
    head = s3.head_object(Bucket=origin.location.bucket, Key=obj.key)
    assert (head["ContentType"], head["CacheControl"]) == ("application/json", MANIFEST)
    assert json.loads(s3.get_object(Bucket=origin.location.bucket, Key=obj.key)["Body"].read()) == body
