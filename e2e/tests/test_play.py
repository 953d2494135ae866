"""Real players in Debian's Chromium play packages that vodflow made, and fail on broken ones.

Every case of the matrix runs in one browser (several pages at a time, e2e/run.mjs); the verdicts here
read what each page recorded (see ``browser_harness.problems`` for what counts as playing).
"""

from __future__ import annotations

import pytest
from browser_harness import problems
from conftest import BROKEN, MATRIX


def _report(case, r) -> str:
    keep = ("doneReason", "version", "codec", "firstFrameMs", "playedSeconds", "totalVideoFrames", "frameSizes")
    seen = {k: r.get(k) for k in keep}
    return (
        f"{case.id}: {seen}; switches {r.get('switches')}; errors {r.get('errors')}; console {r.get('consoleErrors')}"
    )


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: c.id)
def test_plays(case, played):
    r = played[case.id]
    found = problems(case, r)
    assert found == [], f"{_report(case, r)}\n" + "\n".join(found)


@pytest.mark.parametrize("broken", BROKEN, ids=lambda b: b.case.id)
def test_broken_package_fails(broken, played, server):
    """A wrong key, a corrupted segment and a missing segment: the same verdict that passes the matrix
    must call each of these broken, for the reason the break implies."""
    r = played[broken.case.id]
    found = problems(broken.case, r)
    assert found, f"a broken package played as if whole: {_report(broken.case, r)}"
    text = "\n".join(found)
    if broken.fault == "missing segment":
        gone = [p for p, status in server.requests if status == 404 and p.startswith(f"/pkg/{broken.case.package}/")]
        assert gone, "the player never asked for the missing segment"
        assert "fatal player error" in text or "playback stalled" in text, text
    else:
        assert "fatal player error" in text or "video element error" in text, text
