"""`vodflow --help` and argument parsing stay cheap: building the parser imports no command group and none
of the slow libraries; a command's group is imported only when that command runs."""

from __future__ import annotations

import json
import sys

from vodflow.process import run

SLOW = ("prefect", "scipy", "matplotlib", "aiohttp", "boto3", "edge", "flows", "cli.media", "cli.delivery")


def imported_after(code: str) -> list[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(m for m in {SLOW!r} if m in sys.modules)))"
    return json.loads(run([sys.executable, "-c", probe], timeout=120).stdout.splitlines()[-1])


def test_parsing_imports_no_command_group():
    code = "from cli.main import build_parser\nbuild_parser().parse_args(['probe', 'x.mp4'])"
    assert imported_after(code) == []


def test_a_command_imports_only_its_group():
    code = "from cli.main import main\nmain(['tools', '--json'])"
    found = imported_after(code)
    assert "cli.media" in found and not {"prefect", "aiohttp", "edge", "flows", "cli.delivery"} & set(found)


def test_edge_help_lists_the_edge_options():
    res = run([sys.executable, "-m", "cli.main", "edge", "--help"], timeout=120)
    assert "--cache-bytes" in res.stdout and "--json" in res.stdout
