"""The Qubes seam (``sdw_updater/qubes.py``): tools run, the app started, dom0's files read.

The tool runner against real processes (whole lines kept, overflow told, a
missing executable reported); a power state that a dropped qubesd
connection hides is "NA", never an exception; the app's start, which never sleeps or polls
and still ends a ``qrexec-client`` that hangs; and dom0's files read
through ``Host.read_file`` on a temporary root (os-release, /proc/uptime,
the migration flag, /proc/<pid>/comm), hostile or not files at all: nothing
raises, nothing is invented.  Where dom0's tools need help (a halted
UpdateVM) is end to end (tests/e2e/test_updatevm.py), but for the bound of
the dom0 check: the check run again after the UpdateVM's start gets only
what is left of the step's time.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import client_started, needs, read_journal
from helpers.hostile import SPECIAL, make_special
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater.context import open_context
from sdw_updater.process import Watch
from sdw_updater.qubes import QubesHost

# ----- running a tool ----------------------------------------------------------------


def test_stdout_is_kept_in_whole_lines_and_overflow_is_told() -> None:
    host = QubesHost(bin_dirs=[Path(needs.tool("seq")).parent])
    small = host.run(["seq", "1", "3"], 10)
    assert small.ok
    assert small.stdout_lines == [b"1", b"2", b"3"]
    assert small.stdout_head == b"1\n2\n3\n"
    assert small.stdout_overflow is False

    big = host.run(["seq", "1", "100000"], 30, stdout_limit=20)
    assert big.ok
    assert big.stdout_overflow is True
    assert big.stdout_lines == [
        str(n).encode() for n in range(1, 10)
    ]  # 18 bytes; "10\n" would pass 20
    assert len(big.stdout_head) <= 20


def test_missing_executable_is_reported_not_raised(tmp_path: Path) -> None:
    result = QubesHost(bin_dirs=[tmp_path]).run(["qubes-dom0-update", "--check-only"], 10)
    assert result.exit is None and result.missing
    assert result.describe() == "qubes-dom0-update was not found"


# ----- the Admin API ------------------------------------------------------------------


class _DroppedVM:
    """A qube read through a qubesd that drops the connection mid-call.

    qubesadmin turns a failed connect into its own exception, but a
    connection reset while it sends or reads the answer reaches the
    caller as a plain OSError.
    """

    def get_power_state(self) -> str:
        raise ConnectionResetError(104, "Connection reset by peer")


class _DroppingApp:
    def __init__(self) -> None:
        self.domains = {"sd-log": _DroppedVM()}


def test_a_dropped_qubesd_connection_is_an_unknown_power_state() -> None:
    host = QubesHost(app_factory=_DroppingApp)
    assert host.power_state("sd-log") == "NA"


# ----- starting the app ---------------------------------------------------------------

HEALTHY = "[sim]\ntime_scale = 0.0\n"


def sleeps_during(action: Any) -> tuple[Any, list[str]]:
    """Run ``action()``; also list every ``time.sleep`` any thread called meanwhile."""
    slept: list[str] = []

    def watch(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and arg is time.sleep:
            slept.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")

    threading.setprofile(watch)
    sys.setprofile(watch)
    try:
        result = action()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return result, slept


def test_starting_the_app_never_sleeps(home: Path) -> None:
    """Both VMs start at once here: the start must end when they do, not at a poll.

    Before: ``Popen.wait(timeout=...)`` on qrexec-client slept 1, 2, 4 ... 50 ms
    between looks (subprocess.py), up to 50 ms added to every click.
    """
    scenario = home / "s.toml"
    scenario.write_text(HEALTHY)
    ctx = open_context(True, str(scenario), home=home)
    started, slept = sleeps_during(ctx.host.start_client)
    assert started.ok, started.message
    assert slept == []
    assert client_started(read_journal(home))


def test_app_start_that_never_returns_is_cut_at_its_timeout(home: Path) -> None:
    """The pidfd wait still ends a qrexec-client that hangs (timeout floor 1 s)."""
    from sdw_updater import qubes

    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert qubes._wait_exit(proc, 0.05) is None
    finally:
        proc.kill()
        proc.wait()
    done = subprocess.Popen(["true"])
    assert qubes._wait_exit(done, 30) == 0
    failed = subprocess.Popen(["false"])
    assert qubes._wait_exit(failed, 30) == 1


# ----- the dom0 check and a halted UpdateVM ------------------------------------------


def test_the_check_run_again_after_the_updatevm_started_gets_only_what_is_left(
    home: Path,
) -> None:
    """The step has 9 s here; the start takes 2 of them, the second check would take 7.6.

    The first check is refused at once (the UpdateVM is halted), so the
    second one has about 6.5 s left: it is stopped there, and the step
    ends within its own bound instead of taking up to twice it.
    """
    scenario = home / "s.toml"
    scenario.write_text(
        "[sim]\ntime_scale = 0.01\ntimeout_scale = 0.01\n"
        "[dom0]\nupdates = false\ncheck_duration = 760\n"
        '[vms."sys-firewall"]\npower = "Halted"\nstart_duration = 200\n'
    )
    host = open_context(True, str(scenario), home=home).host
    began = time.monotonic()
    result = host.dom0_check(Watch())
    took = time.monotonic() - began
    journal = read_journal(home)
    checks = [r["exit"] for r in journal if r["tool"] == "qubes-dom0-update"]
    starts = [(r["argv"], r["exit"]) for r in journal if r["tool"] == "qvm-start"]
    assert result.timed_out and not result.ok, result.describe()
    assert checks[0] == 1 and checks[1] != 0, checks
    assert took < 9 + 3, f"the step took {took:.1f} s of its 9"  # slack for a loaded machine
    assert starts == [(["--skip-if-running", "sys-firewall"], 0)], journal


# ----- dom0 files through Host.read_file ---------------------------------------------


_RELEASE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dom0 root for Host.read_file (shared: hypothesis reruns a test many times)."""
    path = tmp_path_factory.mktemp("dom0-root")
    for directory in ("etc", "proc", "tmp"):
        (path / directory).mkdir()
    return path


def plant(root: Path, absolute: str, data: bytes) -> None:
    path = root / absolute.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_bytes(data)


_OS_RELEASE_LINE = st.tuples(
    st.sampled_from(["NAME", "VERSION_ID", "VERSION", "ID", "PRETTY_NAME", "", "1X", "NAME "]),
    st.sampled_from(["=", "", "==", " = "]),
    st.one_of(
        st.sampled_from(['"Qubes"', "Qubes OS", "qubes", "Fedora", '"4.2"', "R4.2.3", "4", "4.x"]),
        st.text(max_size=40),
    ),
).map(lambda t: f"{t[0]}{t[1]}{t[2]}")


@given(st.one_of(st.binary(max_size=3000), st.lists(_OS_RELEASE_LINE, max_size=12).map(
    lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))))  # fmt: skip
def test_os_release_never_raises_and_names_only_a_qubes_release(root: Path, raw: bytes) -> None:
    plant(root, "/etc/os-release", raw)
    release = QubesHost(root=root, bin_dirs=()).dom0_release()
    if release is not None:
        assert _RELEASE.fullmatch(release)
        names = [
            line.partition("=")[2]
            for line in raw.decode("utf-8", "replace").splitlines()
            if line.startswith("NAME=")
        ]
        assert any("qubes" in name.lower() for name in names)


_UPTIME = st.one_of(
    st.binary(max_size=300),
    st.tuples(
        st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12)),
        st.floats(min_value=0, max_value=1e9),
    ).map(lambda t: f"{t[0]} {t[1]}\n".encode()),
)


@given(_UPTIME)
def test_uptime_is_a_plausible_number_or_unknown(root: Path, raw: bytes) -> None:
    plant(root, "/proc/uptime", raw)
    host = QubesHost(root=root, bin_dirs=())
    uptime = host.uptime()
    if uptime is None:
        assert host.boot().booted_at is None
        return
    assert math.isfinite(uptime) and 0 <= uptime <= 10 * 365 * 86400
    assert float(raw.decode("ascii").split()[0]) == uptime  # exactly the file's first field


@given(st.binary(max_size=5000))
def test_migration_flag_is_a_plain_bool(root: Path, raw: bytes) -> None:
    plant(root, "/tmp/sdw-migrations", raw)
    assert QubesHost(root=root, bin_dirs=()).migration_pending() is bool(raw.strip())


@given(st.lists(st.binary(max_size=80), max_size=8))
def test_process_names_are_what_comm_says(
    tmp_path_factory: pytest.TempPathFactory, comms: list[bytes]
) -> None:
    base = tmp_path_factory.mktemp("proc-root")
    for number, raw in enumerate(comms):
        plant(base, f"/proc/{number + 100}/comm", raw)
    plant(base, "/proc/self-not-a-pid/comm", b"qubesctl")  # only numeric entries are processes
    names = QubesHost(root=base, bin_dirs=()).running_processes()
    planted = {raw.decode("utf-8", "replace").strip() for raw in comms if raw}
    assert names <= planted  # nothing invented, in particular no "qubesctl"


READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "os-release": ("etc/os-release", lambda r: QubesHost(root=r, bin_dirs=()).dom0_release()),
    "uptime": ("proc/uptime", lambda r: QubesHost(root=r, bin_dirs=()).uptime()),
    "migration": (
        "tmp/sdw-migrations",
        lambda r: QubesHost(root=r, bin_dirs=()).migration_pending(),
    ),
}


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("reader", READERS)
def test_files_that_are_not_files(tmp_path: Path, reader: str, kind: str) -> None:
    """A FIFO, device, directory, bad link or huge file reads as "unknown", at once."""
    relative, read = READERS[reader]
    make_special(tmp_path / relative, kind)
    began = time.monotonic()
    assert read(tmp_path) in (None, False)
    assert time.monotonic() - began < 1.0
