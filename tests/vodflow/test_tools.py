import os

import pytest

from vodflow import tools
from vodflow.errors import ToolError


def test_every_tool_is_found_through_its_package_and_reports_a_version():
    found = tools.versions()
    assert set(found) == {t.value for t in tools.Tool}
    for info in found.values():
        assert info.path.is_file() and os.access(info.path, os.X_OK)
        assert info.version
    assert found["ffmpeg"].version.startswith("n8.")
    assert found["ffmpeg-vmaf"].version.startswith("6.0")
    assert found["packager"].version.startswith("v3.8")
    assert found["weed"].version == "4.48"


def test_tools_do_not_come_from_path(monkeypatch):
    tools.find.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        assert tools.find(tools.Tool.FFMPEG).is_file()
    finally:
        tools.find.cache_clear()


def test_a_non_executable_binary_is_one_clear_error(monkeypatch, tmp_path):
    fake = tmp_path / "weed"
    fake.write_text("")
    monkeypatch.setattr(tools, "_locate", lambda tool: fake)
    tools.find.cache_clear()
    try:
        with pytest.raises(ToolError, match=r"weed is not usable: .* is not executable; reinstall"):
            tools.find("weed")
    finally:
        tools.find.cache_clear()
