import io
import logging

from vodflow.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_terminal_bar_redraws_in_place_and_ends_the_line():
    out = FakeTTY()
    with Progress("encode x", 10.0, stream=out) as p:
        p.update(5.0, "fps=30")
    text = out.getvalue()
    assert "\r" in text and "50.0% 5.0/10.0s fps=30" in text and text.endswith("\n")
    assert "[############............]" in text


def test_logs_periodically_when_not_a_terminal(caplog):
    caplog.set_level(logging.INFO, logger="vodflow.progress")
    with Progress("qa y", 4.0, stream=io.StringIO(), log_every=0.0) as p:
        p.update(1.0)
        p.update(2.0)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0].startswith("qa y:  25.0% 1.0/4.0s") and len(msgs) == 3


def test_short_or_failed_work_logs_nothing_at_the_end(caplog):
    caplog.set_level(logging.INFO, logger="vodflow.progress")
    with Progress("quick", 4.0, stream=io.StringIO(), log_every=60.0) as p:
        p.update(4.0)
    try:
        with Progress("broken", 4.0, stream=io.StringIO(), log_every=0.0):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert caplog.records == []
