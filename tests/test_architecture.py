"""The house rules, read from the source: rooms point one way, no import circle, no module over 500 lines,
first-party imports at module top unless deferred for a stated reason, every error in one tree, and each
shared concept spelled in one place. Pure Python (``ast``), no imports of the code under test except to
walk the exception tree."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import itertools
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("vodflow", "pipeline", "ladders", "packager", "origin", "edge", "player", "flows", "cli", "samples")
# Which rooms each room may import (besides itself). cli -> flows -> {origin, packager, ladders, edge,
# player} -> pipeline -> vodflow; origin reads packages (packager), the edge reads the bucket layout and
# keys (origin, packager), the player reads manifests (packager). samples makes media with pipeline. A live
# channel's supervisor (flows/live.py) serves its playlists through the edge's live routes.
ALLOWED = {
    "vodflow": set(),
    "pipeline": {"vodflow"},
    "samples": {"pipeline", "vodflow"},
    "ladders": {"pipeline", "vodflow"},
    "packager": {"pipeline", "vodflow"},
    "origin": {"packager", "pipeline", "vodflow"},
    "edge": {"origin", "packager", "vodflow"},
    "player": {"packager", "vodflow"},
    "flows": {"origin", "packager", "ladders", "edge", "pipeline", "vodflow", "samples"},
    "cli": {"flows", "origin", "packager", "ladders", "edge", "player", "pipeline", "vodflow", "samples"},
}
# Rooms whose public names (the package's __init__) are all another room may use.
PUBLIC_ONLY = {("edge", "packager"), ("player", "packager")}
MAX_LINES = 500
DEFERRED = "# deferred:"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: list[str]


@cache
def modules() -> dict[str, Module]:
    found = {}
    for room in ROOMS:
        for path in sorted((REPO / room).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            text = path.read_text()
            found[".".join(parts)] = Module(".".join(parts), path, ast.parse(text), text.splitlines())
    return found


def _first_party(name: str) -> bool:
    return name.split(".")[0] in ROOMS


def _target(name: str) -> str | None:
    """The module an imported dotted name lives in (``a.b.C`` -> ``a.b`` when ``a.b`` is a module)."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


@dataclass(frozen=True)
class Import:
    module: Module
    node: ast.Import | ast.ImportFrom
    targets: tuple[str, ...]
    in_function: bool


def imports() -> Iterator[Import]:
    for mod in modules().values():
        functions = [n for n in ast.walk(mod.tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        inner = {id(n) for f in functions for n in ast.walk(f)}
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.name.split(".")
                    if mod.path.name != "__init__.py":
                        pkg.pop()
                    base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules() else base for a in node.names]
            else:
                continue
            targets = tuple(t for n in names if _first_party(n) and (t := _target(n)) and t != mod.name)
            if targets:
                yield Import(mod, node, targets, id(node) in inner)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in imports():
        graph[imp.module.name].update(imp.targets)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(set(graph) | {c for cs in graph.values() for c in cs}):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_checks_find_what_they_look_for():
    # The checks below would pass on an empty graph or an unread tree: show they see real things.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    assert len(modules()) > 90
    graph = _graph()
    assert {"pipeline.probe", "vodflow.errors"} <= graph["pipeline.encode"]
    assert "vodflow.process" in graph["pipeline.ffmpeg"]
    assert _doc_paths("see `origin/edge/server.py`, `tests/x`, `DESIGN.md`") == {"origin/edge/server.py", "tests/x"}
    assert _doc_modules("run `python -m origin.edge --open`") == {"origin.edge"}


def test_no_import_circle():
    assert _cycles(_graph()) == []


def test_rooms_point_one_way():
    breaches = set()
    for imp in imports():
        room = imp.module.name.split(".")[0]
        for target in imp.targets:
            other = target.split(".")[0]
            if other != room and other not in ALLOWED[room]:
                breaches.add(f"{imp.module.name} imports {target}")
            if (room, other) in PUBLIC_ONLY and target != other:
                breaches.add(f"{imp.module.name} imports {target}: use the public names of {other}")
    assert sorted(breaches) == []


def test_no_source_module_over_500_lines():
    long = {m.name: len(m.lines) for m in modules().values() if len(m.lines) > MAX_LINES}
    assert long == {}


def _unexplained(imps: list[Import]) -> list[str]:
    """Function-level first-party imports whose last line carries no ``# deferred: reason``."""
    found = []
    for imp in imps:
        if imp.in_function:
            last = imp.module.lines[(imp.node.end_lineno or imp.node.lineno) - 1]
            if DEFERRED not in last:
                found.append(f"{imp.module.path.relative_to(REPO)}:{imp.node.lineno}")
    return found


def test_first_party_imports_in_functions_say_why():
    deferred = [imp for imp in imports() if imp.in_function]
    assert _unexplained(list(imports())) == []
    # Each deferral names its reason, and a bare one is caught.
    assert all(imp.module.lines[imp.node.lineno - 1].split(DEFERRED, 1)[1].strip() for imp in deferred)
    bare = Module(
        "x",
        REPO / "x.py",
        ast.parse("def f():\n    import vodflow.errors\n"),
        ["def f():", "    import vodflow.errors"],
    )
    node = bare.tree.body[0].body[0]
    assert _unexplained([Import(bare, node, ("vodflow.errors",), True)]) == ["x.py:2"]


# --- one exception tree ------------------------------------------------------------------------------


def test_every_error_is_a_vodflow_error_and_drawn_in_the_tree():
    from vodflow import errors

    tree = errors.__doc__ or ""
    outside, undrawn = [], []
    for name in sorted(modules()):
        if name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name or not issubclass(cls, BaseException):
                continue
            if not issubclass(cls, errors.VodflowError):
                outside.append(f"{name}.{cls_name}")
            elif f" {cls_name} " not in tree.replace("\n", " \n "):
                undrawn.append(f"{name}.{cls_name}")
    assert outside == []
    assert undrawn == []


# --- each concept in one place -----------------------------------------------------------------------


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _code_files() -> Iterator[tuple[str, ast.Module]]:
    """Every Python file whose code may spell a concept: the rooms, bench/, tests/ and e2e/."""
    for top in (*ROOMS, "bench", "tests", "e2e"):
        for path in sorted((REPO / top).rglob("*.py")):
            if "node_modules" not in path.parts and path != Path(__file__).resolve():
                yield str(path.relative_to(REPO)), ast.parse(path.read_text())


def _constants(tree: ast.Module) -> Iterator[str | bytes]:
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes) and id(node) not in skip:
            yield node.value


# (what, the one file allowed to spell it, a test on each string or bytes constant, where to look)
SOURCE = ROOMS
EVERYWHERE = (*ROOMS, "bench", "tests", "e2e")
SPELLINGS = [
    ("the ID alphabet", {"vodflow/ids.py"}, lambda s: "A-Za-z0-9][A-Za-z0-9._-]{0,127}" in _text(s), EVERYWHERE),
    ("the ID sanitiser", {"vodflow/ids.py"}, lambda s: _text(s) == "[^A-Za-z0-9._-]+", SOURCE),
    ("the state folder", {"vodflow/state.py"}, lambda s: ".vodflow" in _text(s), SOURCE),
    ("the pointer object", {"origin/layout.py"}, lambda s: "current.json" in _text(s), SOURCE),
    ("the package record", {"packager/model.py"}, lambda s: _text(s) == "package.json", SOURCE),
    ("the quality sidecar", {"packager/model.py"}, lambda s: _text(s) == "quality.json", SOURCE),
    ("the DASH manifest", {"packager/model.py"}, lambda s: _text(s) == "manifest.mpd", SOURCE),
    ("the HLS master", {"packager/model.py"}, lambda s: _text(s) == "master.m3u8", SOURCE),
    ("the encode record", {"pipeline/renditions.py"}, lambda s: _text(s) == "encode.json", SOURCE),
    (
        "the versions folder",
        {"origin/layout.py"},
        lambda s: _folder(_text(s), ("v", "publications")),
        ("origin", "edge"),
    ),
]


def _folder(text: str, names: tuple[str, ...]) -> bool:
    """``text`` is one of ``names`` as a key part: alone (``"v"``) or between slashes (``"/v/"`` in an f-string)."""
    return text in names or any(f"/{n}/" in text for n in names)


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


@pytest.mark.parametrize("what, allowed, test, where", SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_each_concept_is_spelled_once(what, allowed, test, where):
    found = {path for path, tree in _code_files() if path.split("/")[0] in where and any(map(test, _constants(tree)))}
    assert found - allowed == set(), f"{what} is spelled outside {allowed}"
    assert found & allowed, f"{what}: the one place lost it (the check would pass vacuously)"


def _environment_reads(tree: ast.Module) -> Iterator[str]:
    """``VODFLOW_*`` names read with os.environ.get(...), os.environ[...] or os.getenv(...)."""
    for node in ast.walk(tree):
        arg = None
        if isinstance(node, ast.Call) and node.args:
            func = ast.unparse(node.func)
            if func in ("os.environ.get", "os.getenv", "environ.get"):
                arg = node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)  # setting one for a child process is not reading it
            and ast.unparse(node.value) in ("os.environ", "environ")
        ):
            arg = node.slice
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("VODFLOW_"):
            yield arg.value


def test_state_folders_are_found_in_one_place():
    # The state folders' variables are read by vodflow.state alone (through its table); the two others
    # name no folder of ours.
    from vodflow.state import ENV

    not_folders = {"VODFLOW_EDGE_SECRET", "VODFLOW_PLAYER_DIR"}
    reads = {
        (path, name)
        for path, tree in _code_files()
        if path.split("/")[0] in ROOMS
        for name in _environment_reads(tree)
        if name not in not_folders
    }
    assert reads == set()
    assert set(ENV.values()) == {"VODFLOW_WORK", "VODFLOW_KEYS", "VODFLOW_ORIGIN", "VODFLOW_CACHE", "VODFLOW_LIVE"}
    snippet = ast.parse('import os\nos.environ.get("VODFLOW_KEYS")\nos.environ["VODFLOW_WORK"] = "x"\n')
    assert list(_environment_reads(snippet)) == ["VODFLOW_KEYS"]


def _is_codec_list(node: ast.AST) -> bool:
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        return len(values) == len(node.elts) and set(values) == {"h264", "hevc", "av1", "vp9"}
    if isinstance(node, ast.Dict):  # the CRF maximum and the like: a per-codec table of the four
        keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
        return set(keys) == {"h264", "hevc", "av1", "vp9"} and all(
            isinstance(v, ast.Constant) and isinstance(v.value, int | float) for v in node.values
        )
    return False


def test_the_codec_list_and_crf_maximum_are_written_once():
    found = {
        path for path, tree in _code_files() if path.split("/")[0] in ROOMS and any(map(_is_codec_list, ast.walk(tree)))
    }
    assert found == {"pipeline/codecs.py"}


def test_ffprobe_is_run_from_one_place():
    found = {
        path
        for path, tree in _code_files()
        if path.split("/")[0] in ROOMS
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "FFPROBE" and path != "vodflow/tools.py"
    }
    assert len(found) == 1 and found <= {p for p in found if p.startswith("pipeline/")}, found


def test_the_edge_is_started_from_one_place():
    def starts_edge(node: ast.AST) -> bool:
        if isinstance(node, ast.List):
            values = [e.value if isinstance(e, ast.Constant) else None for e in node.elts]
            return any(a == "-m" and b == "edge" for a, b in itertools.pairwise(values))
        return False

    found = {path for path, tree in _code_files() if any(map(starts_edge, ast.walk(tree)))}
    assert found == {"edge/process.py"}


def test_flows_make_no_s3_calls_of_their_own():
    found = {
        path
        for path, tree in _code_files()
        if path.startswith("flows/")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(n.split(".")[0] in ("boto3", "botocore", "s3transfer") for n in _names(node))
    }
    assert found == set()


def _names(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]


# --- who runs what -----------------------------------------------------------------------------------

# Child processes: ffmpeg/ffprobe/PyAV in pipeline/ alone (the README's rule), Shaka Packager in
# packager/shaka.py, SeaweedFS in origin/seaweed.py, the edge server in edge/process.py, a live channel's
# supervisor in flows/live.py (it starts itself detached); vodflow/ holds the runner and the binary finder.
RUNNERS = ("vodflow/", "pipeline/", "packager/shaka.py", "origin/seaweed.py", "edge/process.py", "flows/live.py")
MEDIA_TOOLS = {"FFMPEG", "FFPROBE", "FFMPEG_VMAF"}


def _runs_things(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = _names(node)
            if isinstance(node, ast.ImportFrom):
                names += [f"{node.module}.{a.name}" for a in node.names]
            if any(n.split(".")[0] in ("subprocess", "av") or n.startswith("vodflow.process") for n in names):
                return True
        if isinstance(node, ast.Attribute) and node.attr in MEDIA_TOOLS and ast.unparse(node.value).endswith("Tool"):
            return True
    return False


def test_only_the_runner_rooms_start_processes_or_decode_media():
    found = {path for path, tree in _code_files() if path.split("/")[0] in ROOMS and _runs_things(tree)}
    assert found, "the check found no runner at all"
    assert {p for p in found if not p.startswith(RUNNERS)} == set()
    assert {"pipeline/ffmpeg.py", "vodflow/process.py", "origin/seaweed.py"} <= found


def test_no_module_imports_another_modules_private_names():
    borrowed = []
    for imp in imports():
        node = imp.node
        if isinstance(node, ast.ImportFrom) and node.module and _first_party(node.module):
            for alias in node.names:
                if alias.name.startswith("_") and node.module != imp.module.name:
                    borrowed.append(f"{imp.module.name} imports {node.module}.{alias.name}")
    assert borrowed == []


# --- the docs name what exists -----------------------------------------------------------------------


GENERATED = ("samples/media", "e2e/node_modules")  # made by `vodflow samples` and `make e2e`, never committed


def _doc_paths(text: str) -> set[str]:
    """Repository paths named in backticks (``pipeline/encode.py``, ``edge/``, ``tests/flows/gate.py``)."""
    found = set()
    for span in re.findall(r"`([^`\s]+)`", text):
        path = span.split("::")[0].split("?")[0].rstrip(",.:")
        top = path.split("/")[0]
        if "/" in path and top in (*ROOMS, "bench", "tests", "e2e", "samples", ".ci") and "<" not in path:
            found.add(path)
    return found


def _doc_modules(text: str) -> set[str]:
    return set(re.findall(r"python -m ([A-Za-z_][\w.]*)", text))


@pytest.mark.parametrize("doc", ["README.md", "DESIGN.md"])
def test_docs_name_only_paths_and_modules_that_exist(doc):
    text = (REPO / doc).read_text()
    paths = _doc_paths(text)
    assert paths, f"{doc} names no path (the check would pass vacuously)"
    assert sorted(p for p in paths if not (REPO / p).exists() and not p.startswith(GENERATED)) == []
    missing = sorted(m for m in _doc_modules(text) if importlib.util.find_spec(m) is None)
    assert missing == []


def test_the_edge_and_the_player_start_without_the_scoring_stack():
    # They read packages through packager's public names; scoring (scikit-image, scipy) is the ingest's, and
    # cost the edge's start 1.1 s when packager's sidecar module imported it at the top.
    code = "import sys, edge.run, player.play; print(sorted(m for m in ('skimage', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
