"""Running one tool (``sdw_updater/process.py``) with real processes, no stand-ins.

A tool whose child keeps the pipes open cannot hold the wait; the clean stop
of a tool that has one (SIGINT to the tool alone, as ``qubes-vm-update``
wants) and the kill at the timeout of one that does not; every output line
split at a bound, exactly.  Small Python programs play the tools.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater import process
from sdw_updater.process import Interrupt, LineSplitter, Watch


def test_the_tool_exit_ends_the_wait_even_when_a_child_keeps_the_pipes(tmp_path: Path) -> None:
    """A daemon started by the tool holds stdout: its real exit code counts, no timeout."""
    started = tmp_path / "started"
    script = f"sleep 120 & echo $! > {started}; echo done; exit 3"
    result = process.run(["/bin/sh", "-c", script], timeout=90)
    assert result.exit == 3 and not result.timed_out
    assert result.pipes_abandoned
    assert result.stdout_lines == [b"done"]
    os.kill(int(started.read_text()), signal.SIGKILL)  # the daemon, by its own pid


# A tool whose worker (a child in its process group) must finish its work: on SIGINT
# the tool starts nothing new, waits for the worker, says how it ended, exits 130.
CLEAN_STOPPER = """
import signal, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
stopping = []
signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
print("started", flush=True)
print(f"worker ended {child.wait()}", flush=True)
sys.exit(130 if stopping else 0)
"""


# A tool that takes no notice of SIGINT and never ends.
DEAF = """
import signal, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
print("started", flush=True)
while True:
    time.sleep(3600)
"""


def tool(program: str) -> list[str]:
    return [sys.executable, "-c", program]


def test_sigint_goes_to_the_tool_alone_and_its_own_end_counts() -> None:
    """The caller's stop: SIGINT to the tool, not its group; its worker finishes its work."""
    seen: list[bytes] = []
    watch = Watch(
        on_stdout=seen.append,
        stop=lambda: b"started" in seen,
        interrupt=Interrupt(grace=10.0),
    )
    result = process.run(tool(CLEAN_STOPPER), timeout=60, watch=watch)
    assert result.exit == 130 and result.stopped and result.interrupted
    assert b"worker ended 0" in seen  # a SIGINT to the group would have ended it (-2)
    assert result.duration < 10


def test_a_tool_deaf_to_sigint_is_killed_at_its_timeout_not_later() -> None:
    """At the timeout: SIGINT ``grace`` seconds before it, the kill at it."""
    began = time.monotonic()
    result = process.run(tool(DEAF), timeout=3, watch=Watch(interrupt=Interrupt(grace=1.0)))
    took = time.monotonic() - began
    assert result.exit is None and result.timed_out and result.interrupted
    assert 2.5 <= took < 3 + process.KILL_GRACE, took


def test_once_settled_the_wait_ends() -> None:
    """After the caller's stop the wait may last to the timeout, unless nothing more can come."""
    seen: list[bytes] = []
    asked = time.monotonic() + 0.5
    watch = Watch(
        on_stdout=seen.append,
        stop=lambda: b"started" in seen,
        interrupt=Interrupt(grace=60.0, settled=lambda: time.monotonic() >= asked),
    )
    began = time.monotonic()
    result = process.run(tool(DEAF), timeout=60, watch=watch)
    assert result.exit is None and result.stopped and result.interrupted
    assert time.monotonic() - began < 10


# A tool that closes both its pipes and runs on, until SIGINT ends it cleanly.
PIPES_CLOSED = """
import os, signal, time
stopping = []
signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
os.close(1)
os.close(2)
while not stopping:
    time.sleep(0.05)
os._exit(130)
"""


@pytest.mark.parametrize("why", ["stopped", "timeout"])
def test_a_tool_that_closed_its_pipes_is_still_stopped_when_it_must_be(why: str) -> None:
    """No output to wait for any more: the caller's stop and the timeout's SIGINT still come."""
    began = time.monotonic()
    watch = Watch(
        stop=(lambda: time.monotonic() - began > 0.5) if why == "stopped" else None,
        interrupt=Interrupt(grace=2.0),
    )
    result = process.run(tool(PIPES_CLOSED), timeout=20 if why == "stopped" else 6, watch=watch)
    assert result.exit == 130 and result.interrupted, result  # it ended by itself, asked
    assert result.stopped is (why == "stopped") and result.timed_out is (why == "timeout")
    assert time.monotonic() - began < 6


# ----- the line splitter -------------------------------------------------------------


@given(st.lists(st.binary(max_size=3000), max_size=12), st.integers(1, 600))
def test_line_splitter_is_bounded_and_exact(chunks: list[bytes], limit: int) -> None:
    lines: list[bytes] = []
    splitter = LineSplitter(lines.append, limit=limit)
    for chunk in chunks:
        splitter.feed(chunk)
    splitter.close()
    stream = b"".join(chunks)
    pieces = stream.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()  # a final newline ends the last line; it does not start another
    expected = [
        piece[:limit] + (b" [line truncated]" if len(piece) > limit else b"") for piece in pieces
    ]
    assert lines == expected
