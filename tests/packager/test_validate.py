"""validate() and `vodflow validate`: every package we make is valid; each kind of damage is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli.main import main
from packager.validate import validate


@pytest.mark.parametrize("scheme", ["none", "cenc", "cbcs", "aes128"])
def test_every_package_is_valid(packages, keystore, scheme):
    report = validate(packages[scheme].root, keys=keystore)
    assert report.problems == [] and report.ok and report.skipped == []
    assert report.checked["keyframes"] == 15 and report.checked["codecs"] > 0
    if scheme != "none":
        assert report.checked["encryption"] > 0 and report.checked["files scanned for keys"] > 0


def _broken(pkg, tmp_path, name) -> Path:
    dst = tmp_path / name
    shutil.copytree(pkg.root, dst)
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_damage_is_found_one_line_each(packages, keystore, tmp_path):
    pkg = packages["cenc"]
    h264 = next(s for s in pkg.streams if s.codec == "h264")
    variant_bw = f"BANDWIDTH={h264.bandwidth + pkg.streams[5].bandwidth}"
    cases = {
        "missing": lambda d: (d / h264.segments[1].path).unlink(),
        "leak": lambda d: (d / "notes.txt").write_text(keystore.load(pkg.title).keys["sd"].key),
        "bandwidth": lambda d: _edit(d / "master.m3u8", variant_bw, "BANDWIDTH=1000"),
        "codecs": lambda d: _edit(d / "manifest.mpd", 'codecs="avc1.64000c"', 'codecs="avc1.42e01e"'),
        "short": lambda d: _edit(d / h264.playlist, "#EXTINF:0.800,\n2.m4s\n#EXTINF:0.400,\n3.m4s\n", ""),
    }  # fmt: skip
    words = {
        "missing": "does not exist",
        "leak": "notes.txt: contains key material",
        "bandwidth": "below the measured peak",
        "codecs": "says profile 66",
        "short": "segments add up to 0.800 s",
    }
    for name, damage in cases.items():
        d = _broken(pkg, tmp_path, name)
        damage(d)
        report = validate(d, keys=keystore)
        assert not report.ok and any(words[name] in p for p in report.problems), (name, report.problems)
        assert all("\n" not in p for p in report.problems)


def test_a_clear_segment_in_an_encrypted_package_is_found(packages, keystore, tmp_path):
    d = _broken(packages["cenc"], tmp_path, "clear")
    clear = packages["none"]
    for s in clear.streams:
        if s.codec == "hevc":
            for g in s.segments:
                shutil.copy(Path(clear.root) / g.path, d / g.path)
            shutil.copy(Path(clear.root) / s.init, d / s.init)
    report = validate(d, keys=keystore)
    assert any("key ID None is not in the key store" in p or "not encrypted" in p for p in report.problems)


def test_cli_validate_exit_codes(packages, keystore, tmp_path, capsys):
    assert main(["validate", packages["cbcs"].root, "--keys", str(keystore.root)]) == 0
    assert "valid" in capsys.readouterr().out
    d = _broken(packages["none"], tmp_path, "cli")
    (d / packages["none"].streams[0].segments[0].path).unlink()
    assert main(["validate", str(d)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err and all(": " in line for line in err)
    assert main(["validate", str(tmp_path / "nope")]) == 2
