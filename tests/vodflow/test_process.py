import re
import signal
import subprocess
import sys

import pytest

from vodflow.errors import EncoderOptionError, ProcessError, ProcessTimeout
from vodflow.process import last_line, run, stop_pid

PY = sys.executable


def test_captures_output_and_streams_lines():
    seen = []
    res = run([PY, "-c", "import sys; print('a'); print('b'); print('warn', file=sys.stderr)"], on_stdout=seen.append)
    assert res.returncode == 0 and res.stdout == "a\nb" and res.stderr == "warn" and seen == ["a", "b"]


def test_failure_carries_command_and_stderr_tail():
    code = "import sys\nfor i in range(30): print('line', i, file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(ProcessError) as exc:
        run([PY, "-c", code], tail_lines=5)
    err = exc.value
    assert err.returncode == 3 and err.argv[0] == PY
    assert err.stderr_tail == [f"line {i}" for i in range(25, 30)]
    assert "exited with code 3: line 29" in str(err)


def test_timeout_stops_the_child():
    with pytest.raises(ProcessTimeout, match=r"ran past its 0\.5 s limit"):
        run([PY, "-c", "import select; select.select([], [], [])"], timeout=0.5)


def test_fatal_line_stops_the_child_at_once():
    code = (
        "import sys, select\n"
        "print('Option x has not been used', file=sys.stderr, flush=True)\n"
        "select.select([], [], [])"
    )
    with pytest.raises(EncoderOptionError, match="has not been used"):
        run([PY, "-c", code], fatal=[re.compile("has not been used")], fatal_error=EncoderOptionError, timeout=60)


def test_missing_binary_is_a_process_error(tmp_path):
    with pytest.raises(ProcessError, match="cannot start nothing-here"):
        run([tmp_path / "nothing-here"])


def test_last_line_of_a_log_names_what_is_there(tmp_path):
    log = tmp_path / "child.log"
    assert last_line(log) == "no log"
    log.write_text("\n  \n")
    assert last_line(log) == "no output"
    log.write_text("starting\nerror: port in use  \n\n")
    assert last_line(log) == "error: port in use"


def test_stop_pid_ends_a_process_it_did_not_start(tmp_path):
    # The child ignores SIGTERM, so stop_pid must go on to SIGKILL; it is polled, never waited for.
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout.readline()  # the handler is in place
    stop_pid(proc.pid, lambda pid: proc.poll() is None, grace=0.2)
    assert proc.poll() is not None and proc.returncode == -signal.SIGKILL
