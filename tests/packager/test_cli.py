"""`vodflow package`: table or JSON out, one-line errors with the right exit codes."""

from __future__ import annotations

import json

from cli.main import main


def test_package_cli_json_then_validate(pk_root, renditions, tmp_path, capsys):
    keys = tmp_path / "keys"
    out = tmp_path / "pkg"
    argv = ["package", str(pk_root / "renditions"), "--out", str(out), "--segment-seconds", "0.8"]
    assert main([*argv, "--encrypt", "cbcs", "--keys", str(keys), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["encryption"] == "cbcs" and (out / "master.m3u8").is_file() and doc["key_ids"]
    assert main(["validate", str(out), "--keys", str(keys), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main([*argv]) == 0  # re-packaging over a package replaces it
    assert "manifest.mpd and master.m3u8, none" in capsys.readouterr().out


def test_package_cli_errors(pk_root, renditions, tmp_path, capsys):
    assert main(["package", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert main(["package", str(pk_root / "renditions"), "--out", str(tmp_path / "o"), "--segment-seconds", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "no encode.json" in err[0] and "whole number of GOPs" in err[1]
