"""Hostile input: every file the updater reads, every tool output it parses.

The parsers have their own example tests (test_status.py, test_progress.py);
this module attacks them where the updater actually uses them:

* dom0 files through the real ``Host.read_file`` on a temporary root
  (os-release, /proc/uptime, the migration flag, /proc/<pid>/comm), including
  files that are not regular files at all;
* the state files through the ``StatusStore`` and on into the freshness and
  notifier decisions, judged by an independent oracle: only a file that
  really says ok, recently, may skip the updater or the reminder;
* tool output through the real ``Runner`` (a scripted host feeds every tool's
  stdout/stderr and exit code from hypothesis): no exception escapes, and
  the run ends ok only when every tool said so in the contract's terms;
* the line splitter and line cleaner every output line goes through;
* end to end: mangled state files under ``$HOME``, then ``sdw-updater
  --status``, ``--cli`` and ``sdw-notify --dry-run`` as a user runs them.

The trust checks' pure parsers (config.json, repository files, rpm's key
and signature listings, the templates' apt sources) are attacked the same
way: no exception but the documented ones, and garbage never passes.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from helpers import BIN, read_journal, run_updater, stamp, tools
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sdw_notify import decision as notify_rules
from sdw_updater import freshness
from sdw_updater.contract import ExitCode
from sdw_updater.host import Boot, VMInfo
from sdw_updater.logs import MAX_LINE, clean_line
from sdw_updater.plan import CHECK_ERROR, Runner, TrustReport
from sdw_updater.process import LineSplitter, ToolResult, Watch
from sdw_updater.progress import MAX_PROGRESS_LINE
from sdw_updater.qubes import QubesHost
from sdw_updater.status import CLOCK_SKEW, DATE_FORMAT, StatusStore
from sdw_updater.trust import anchors, apt, rpmdb
from sdw_updater.trust import dnf as trust_dnf
from sdw_updater.trust.gpg import KeyInfo

NOW = time.time()
TRUNCATED = " [line truncated]"
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


# ----- dom0 files through Host.read_file ---------------------------------------------

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


SPECIAL = ("fifo", "directory", "dev-zero", "dangling", "loop", "oversized")


def make_special(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "dangling":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "loop":
        path.symlink_to(path)
    else:
        path.write_bytes(b"4.2 " * (1024 * 1024))


READERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "os-release": ("etc/os-release", lambda r: QubesHost(root=r, bin_dirs=()).dom0_release()),
    "uptime": ("proc/uptime", lambda r: QubesHost(root=r, bin_dirs=()).uptime()),
    "migration": (
        "tmp/sdw-migrations",
        lambda r: QubesHost(root=r, bin_dirs=()).migration_pending(),
    ),
    "status": ("sdw-update-status", lambda r: StatusStore(r).read_status(NOW)),
    "last-updated": ("sdw-last-updated", lambda r: StatusStore(r).read_last_updated(NOW)),
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


# ----- state files through the store and the decisions ---------------------------------


def oracle_time(value: object) -> float | None:
    """An independent reading of an on-disk timestamp (datetime, not time.strptime)."""
    if not isinstance(value, str) or len(value) != 19:
        return None
    try:
        epoch = datetime.strptime(value, DATE_FORMAT).timestamp()
    except (ValueError, OverflowError):
        return None
    return None if epoch > NOW + CLOCK_SKEW else epoch


_STAMPS = st.one_of(
    st.floats(min_value=-400 * 86400, max_value=2 * 86400).map(lambda d: stamp(NOW + d)),
    st.sampled_from(
        ["", "2026-02-30 10:00:00", "9999-12-31 23:59:59", "0000-01-01 00:00:00", "now"]
    ),
    st.text(max_size=25),
    st.integers(),
    st.none(),
)
_CODES = st.one_of(
    st.sampled_from(["0", "1", "2", "3", "4", "5", "", " 0", "0 ", "00", "０"]),
    st.integers(0, 5),
    st.none(),
    st.lists(st.just("0"), max_size=2),
)
_STATUS_OBJECTS = st.fixed_dictionaries(
    {},
    optional={
        "status": _CODES,
        "last_status_update": _STAMPS,
        "reboot_requested_at": _STAMPS,
        "extra": st.recursive(st.none() | st.integers() | st.text(max_size=5), st.lists),
    },
)
_STATUS_FILES = st.one_of(
    st.tuples(
        st.sampled_from([b"", b"\xef\xbb\xbf", b" ", b"\n"]),
        _STATUS_OBJECTS,
        st.sampled_from([b"", b"\n", b"}", b"garbage", b"\x00"]),
    ).map(lambda t: t[0] + json.dumps(t[1]).encode() + t[2]),
    st.binary(max_size=200),
)


@given(_STATUS_FILES, st.floats(min_value=0, max_value=30 * 86400), st.integers(0, 10**6))
@settings(max_examples=300)
def test_only_a_true_recent_ok_skips_the_updater(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes, uptime: float, skip_delta: int
) -> None:
    directory = tmp_path_factory.mktemp("state")
    (directory / "sdw-update-status").write_bytes(raw)
    record = StatusStore(directory).read_status(NOW)
    boot = NOW - uptime
    decision = freshness.decide(record, NOW, Boot(None, boot), skip_delta)
    if decision.action is freshness.Action.RUN_UPDATER:
        return
    # Anything but "run the updater" must rest on a file that says so plainly.
    data = json.loads(raw.decode("utf-8"))
    assert isinstance(data, dict)
    written = oracle_time(data["last_status_update"])
    assert written is not None
    if decision.action is freshness.Action.START_CLIENT:
        assert data["status"] in ("0", "2")
        assert NOW - written < skip_delta
        if data["status"] == "2" or "reboot_requested_at" in data:
            assert boot >= (oracle_time(data.get("reboot_requested_at")) or written)
    else:  # REBOOT_PENDING: a reboot was asked for and dom0 has not booted since
        assert data["status"] in ("0", "1", "2", "3", "4")
        assert data["status"] == "2" or "reboot_requested_at" in data


@given(_STATUS_FILES)
def test_a_pending_reboot_is_never_lost(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    """Status "2" with a sound timestamp and no boot since: always "reboot pending"."""
    directory = tmp_path_factory.mktemp("state")
    (directory / "sdw-update-status").write_bytes(raw)
    record = StatusStore(directory).read_status(NOW)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return
    if not (isinstance(data, dict) and data.get("status") == "2"):
        return
    written = oracle_time(data.get("last_status_update"))
    if written is None:
        return
    requested = oracle_time(data.get("reboot_requested_at")) or written
    boot = min(written, requested) - 60  # dom0 booted before the reboot was asked for
    decision = freshness.decide(record, NOW, Boot(None, boot), 0)
    assert decision.action is freshness.Action.REBOOT_PENDING


@given(
    st.one_of(
        st.binary(max_size=100),
        _STAMPS.map(lambda s: str(s).encode()),
        _STAMPS.map(lambda s: (str(s) + "\n").encode()),
    )
)
def test_only_a_true_recent_last_updated_silences_the_reminder(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    directory = tmp_path_factory.mktemp("state")
    (directory / "sdw-last-updated").write_bytes(raw)
    last = StatusStore(directory).read_last_updated(NOW)
    decision = notify_rules.decide(last, NOW, uptime=7200.0)
    if not decision.warn:
        written = oracle_time(raw.decode("ascii").strip())
        assert written is not None
        assert NOW - written <= notify_rules.WARNING_THRESHOLD


# ----- output: the splitter and the cleaner ---------------------------------------


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


_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@given(
    st.one_of(
        st.binary(max_size=600),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(
            st.sampled_from(
                [b"\x1b[31m", b"\x1b]0;title\x07", b"\x1b]8;;http://x\x1b\\", b"\xc2\x9b31m",
                 b"\x9b", b"\x07", b"\r", b"ok", b"\xe2\x80\xae", b"\x1bc", b"\x00"]
            ),
            max_size=40,
        ).map(b"".join),
    ),
    st.integers(1, 300),
)  # fmt: skip
def test_clean_line_leaves_no_terminal_controls(raw: bytes, limit: int) -> None:
    """Log and screen text has no C0 or C1 control (ESC, CSI, BEL, CR...) except TAB."""
    text = clean_line(raw, limit)
    assert not _CONTROLS.search(text), repr(text)
    assert len(text) <= limit + len(TRUNCATED)


def test_clean_line_drops_every_invisible_and_line_breaking_character() -> None:
    """Hardening #14: U+2028/U+2029, bidi controls and zero-width characters cannot survive.

    Otherwise a VM's line could start a new line in the details pane and forge a step
    header, or reorder what an admin reads in the log.
    """
    import sys
    import unicodedata

    hidden = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cf", "Zl", "Zp")
    ]
    forged = "ok\u2028Installing system (dom0) updates\u2029\u202edone\u200b"
    assert clean_line(forged.encode()) == "okInstalling system (dom0) updatesdone"
    text = clean_line("".join(hidden).encode(), limit=10 * len(hidden))
    assert text == "", [hex(ord(c)) for c in text]


def test_clean_line_keeps_ordinary_text() -> None:
    assert clean_line(b"Get:1 https://deb.debian.org \xc3\xa9t\xc3\xa9\tok") == (
        "Get:1 https://deb.debian.org été\tok"
    )
    assert clean_line(b"\x1b[1;31mred\x1b[0m") == "red"
    assert len(clean_line(b"x" * (3 * MAX_LINE))) == MAX_LINE + len(TRUNCATED)


# ----- tool output through the real Runner ---------------------------------------------

TEMPLATES = ("fedora-40-xfce", "sd-small-bookworm-template")


def _vm(name: str, klass: str, template: str | None, tags: tuple[str, ...] = ()) -> VMInfo:
    return VMInfo(name, klass, template, frozenset(tags), "Running", "4.2")


INVENTORY = {
    "fedora-40-xfce": _vm("fedora-40-xfce", "TemplateVM", None),
    "sd-small-bookworm-template": _vm(
        "sd-small-bookworm-template", "TemplateVM", None, ("sd-workstation",)
    ),
    "sys-net": _vm("sys-net", "AppVM", "fedora-40-xfce"),
    "sd-app": _vm("sd-app", "AppVM", "sd-small-bookworm-template", ("sd-workstation",)),
}


@dataclass(frozen=True)
class Said:
    """What one tool prints and how it ends."""

    exit: int | None
    stdout: tuple[bytes, ...] = ()
    stderr: tuple[bytes, ...] = ()


HEALTHY = {
    "netcheck": Said(0, (b"full",)),
    "dom0-check": Said(0),
    "dom0-update": Said(0),
    "qubesctl": Said(0),
    "sdw-admin": Said(0),
    "rm": Said(0),
    "qubes-vm-update": Said(0, (), tuple(f"{t} done success".encode() for t in TEMPLATES)),
    "qvm-start": Said(0),
}


class ScriptedHost(QubesHost):
    """A host whose tools print what hypothesis chose; Qubes itself behaves."""

    def __init__(self, said: dict[str, Said], migration: bool) -> None:
        super().__init__(root=Path("/nonexistent"), bin_dirs=())
        self.said = {**HEALTHY, **said}
        self.migration = migration
        self.calls: list[str] = []

    def vms(self, refresh: bool = False) -> dict[str, VMInfo]:
        return dict(INVENTORY)

    def updatevm(self) -> str | None:
        return "sys-net"  # dom0's UpdateVM: its template is updated too

    def dom0_release(self) -> str | None:
        return "4.2"

    def migration_pending(self) -> bool:
        return self.migration

    def power_state(self, name: str) -> str:
        return "Running"

    def feature(self, vm: str, name: str) -> str | None:
        return None

    def rpmdb_stamp(self) -> tuple[int, ...] | None:
        return (1, 2)  # unchanged: a failed dom0 update installed nothing

    def boot(self) -> Boot:
        return Boot("8a3c4d2e-1f0b-4c5d-9e6f-7a8b9c0d1e2f", NOW - 7200)

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        watch: Watch | None = None,
        **_options: object,
    ) -> ToolResult:
        args = [str(a) for a in argv]
        key = args[0]
        if key == "qvm-run":
            key = "netcheck"
        elif key == "qubes-dom0-update":
            key = "dom0-check" if "--check-only" in args else "dom0-update"
        self.calls.append(key)
        said = self.said[key]
        watch = watch or Watch()
        for line in said.stdout:
            if watch.on_stdout:
                watch.on_stdout(line)
        for line in said.stderr:
            if watch.on_stderr:
                watch.on_stderr(line)
        if watch.on_tick:
            watch.on_tick()
        if key == "rm" and said.exit == 0:
            self.migration = False
        head = b"".join(line + b"\n" for line in said.stdout)[:4096]
        tail = [clean_line(line) for line in (*said.stdout, *said.stderr)]
        return ToolResult(args, said.exit, stdout_head=head, tail=tail)


class NoObjections:
    """Trust checks that pass: this property is about the tools' output, not the keys."""

    def before(self, host: object) -> TrustReport:
        return TrustReport()

    def after_dom0(self, host: object) -> TrustReport:
        return TrustReport()

    def templates(self, host: object, templates: list[str]) -> TrustReport:
        return TrustReport()


NO_OBJECTIONS = NoObjections()


_PROGRESS_LINES = st.tuples(
    st.sampled_from([*TEMPLATES, "sys-net", "dom0", "fedora-40-xfc", ""]),
    st.sampled_from(["done", "updating", "pending", "DONE", "done "]),
    st.sampled_from(
        ["success", "no_updates", "error", "cancelled", "None", "50.0", "nan", "success\r",
         "success\x00", "100.0", "-1"]
    ),
    st.sampled_from([b"", b"\n", b"\r\n", b"\r" * 600, b" "]),
).map(lambda t: f"{t[0]} {t[1]} {t[2]}".encode() + t[3])  # fmt: skip
_LINES = st.lists(st.one_of(st.binary(max_size=60), _PROGRESS_LINES), max_size=8).map(tuple)
_EXITS = st.sampled_from([0, 0, 0, 1, 2, 64, 100, 130, 255, -9, -15, None])
_SAID = st.builds(Said, _EXITS, _LINES, _LINES)
_SCRIPTS = st.dictionaries(st.sampled_from(sorted(HEALTHY)), _SAID, max_size=4)


def template_oracle(stderr: tuple[bytes, ...]) -> bool:
    """Did every template say, in a well-formed line, that it ended well, without a retraction?"""
    for template in TEMPLATES:
        finals = []
        for raw in stderr:
            if len(raw) > MAX_PROGRESS_LINE:
                continue
            line = raw.rstrip(b"\r\n")
            for word in (b"success", b"no_updates", b"error", b"cancelled"):
                if line == template.encode() + b" done " + word:
                    finals.append(word)
        if not finals or finals[0] not in (b"success", b"no_updates"):
            return False
        if any(word != finals[0] for word in finals):
            return False
    return True


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private lock directory for the in-process runs."""
    path = tmp_path_factory.mktemp("runtime")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_RUNTIME_DIR", str(path))
        yield path


@given(_SCRIPTS, st.booleans(), st.booleans())
@settings(max_examples=250)
def test_runner_ends_ok_only_when_every_tool_said_so(
    runtime: Path,
    tmp_path_factory: pytest.TempPathFactory,
    said: dict[str, Said],
    migration: bool,
    dom0_updates: bool,
) -> None:
    said = {"dom0-check": Said(100 if dom0_updates else 0), **said}
    host = ScriptedHost(said, migration)
    store = StatusStore(tmp_path_factory.mktemp("state"))
    result = Runner(host, store, trust=NO_OBJECTIONS).run()
    event(result.outcome.name)
    assert not result.message.startswith("Unexpected error"), result.message
    recorded = store.read_status(time.time())
    if result.outcome is ExitCode.NETWORK:
        assert recorded is None  # nothing attempted, nothing written
        return
    if result.outcome is ExitCode.FAILED:
        assert recorded is not None and recorded.status.value == "3"
        return
    assert result.outcome in (ExitCode.OK, ExitCode.REBOOT_REQUIRED), result.outcome

    def s(key: str) -> Said:
        return host.said[key]

    net = s("netcheck")
    head = b"".join(line + b"\n" for line in net.stdout)[:4096]
    assert net.exit == 0 and head.strip(b"\n") == b"full"
    assert s("dom0-check").exit in (0, 100)
    if s("dom0-check").exit == 0:  # a 0 beside an error message is no proof of "no updates"
        said_lines = (*s("dom0-check").stdout, *s("dom0-check").stderr)
        assert not [ln for ln in said_lines if CHECK_ERROR.search(clean_line(ln))]
    assert (result.outcome is ExitCode.REBOOT_REQUIRED) == (s("dom0-check").exit == 100)
    if s("dom0-check").exit == 100:
        assert s("dom0-update").exit == 0
    assert s("qubesctl").exit == 0
    if migration:
        assert s("sdw-admin").exit == 0 and s("rm").exit == 0
    assert s("qubes-vm-update").exit == 0
    assert template_oracle(s("qubes-vm-update").stderr)


# ----- end to end: mangled state files under $HOME ---------------------------------

OLD = stamp(NOW - 3600)
FUTURE = stamp(NOW + 86400)
UNTRUSTED_STATUS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \n\t",
    "truncated": f'{{"last_status_update": "{OLD}", "sta'.encode(),
    "future": f'{{"last_status_update": "{FUTURE}", "status": "0"}}'.encode(),
    "int-code": f'{{"last_status_update": "{OLD}", "status": 0}}'.encode(),
    "padded-code": f'{{"last_status_update": "{OLD}", "status": " 0"}}'.encode(),
    "unknown-code": f'{{"last_status_update": "{OLD}", "status": "9"}}'.encode(),
    "no-date": b'{"status": "0"}',
    "bad-date": b'{"last_status_update": "2026-02-30 10:00:00", "status": "0"}',
    "short-date": f'{{"last_status_update": "{OLD[:16]}", "status": "0"}}'.encode(),
    "list": b'["0"]',
    "utf16": f'{{"last_status_update": "{OLD}", "status": "0"}}'.encode("utf-16"),
    "binary": bytes(range(256)),
    "deep": b"[" * 30000 + b"]" * 30000,
    "huge": f'{{"last_status_update": "{OLD}", "status": "0", "x": "{"y" * 70000}"}}'.encode(),
}
UNTRUSTED_KINDS = ("fifo", "directory", "dev-zero", "dangling")
NO_NETWORK = '[sim]\ntime_scale = 0.0\n[network]\nconnectivity = "none"\n'


def plant_status(home: Path, shape: str) -> Path:
    path = home / ".securedrop_updater" / "sdw-update-status"
    path.parent.mkdir(parents=True, exist_ok=True)
    if shape in UNTRUSTED_STATUS:
        path.write_bytes(UNTRUSTED_STATUS[shape])
    else:
        make_special(path, shape)
    return path


def snapshot(path: Path) -> tuple[str, bytes | None]:
    """What a state path is now (type and, for a regular file, content)."""
    if path.is_symlink():
        return "link", os.readlink(path).encode()
    if path.is_dir():
        return "dir", None
    if path.exists() and path.is_file():
        return "file", path.read_bytes()
    return "other", None


@pytest.mark.parametrize("shape", [*UNTRUSTED_STATUS, *UNTRUSTED_KINDS])
def test_mangled_status_means_update_end_to_end(home: Path, shape: str) -> None:
    path = plant_status(home, shape)
    before = snapshot(path)
    report = run_updater(home, "--status", scenario=NO_NETWORK, timeout=30)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["status"] is None and data["due"] is True and data["reboot_pending"] is False
    assert snapshot(path) == before
    assert read_journal(home) == []
    launched = run_updater(home, "--cli", scenario=NO_NETWORK, timeout=30)
    assert launched.returncode == 4, launched.stdout + launched.stderr  # went for the updater
    assert tools(read_journal(home)) == ["qvm-run"]  # ... and started nothing
    assert snapshot(path) == before


def test_mangled_reboot_time_keeps_the_reboot_pending(home: Path) -> None:
    path = home / ".securedrop_updater" / "sdw-update-status"
    path.parent.mkdir()
    path.write_text(
        json.dumps({"status": "3", "last_status_update": OLD, "reboot_requested_at": "garbage"})
    )
    result = run_updater(home, "--cli", scenario="[sim]\ntime_scale = 0.0\nuptime = 86400\n")
    assert result.returncode == 3, result.stdout
    assert read_journal(home) == []


@pytest.mark.parametrize(
    "raw",
    [b"", b"yesterday", FUTURE.encode(), OLD.encode() + b"x", b"\x00" * 19, OLD[:10].encode()],
    ids=["empty", "words", "future", "trailing", "nuls", "date-only"],
)
def test_mangled_last_updated_means_remind(home: Path, raw: bytes) -> None:
    directory = home / ".securedrop_updater"
    directory.mkdir()
    (directory / "sdw-last-updated").write_bytes(raw)
    scenario = home / "scenario.toml"
    scenario.write_text("[sim]\nuptime = 7200\n")
    result = subprocess.run(
        [str(BIN / "sdw-notify"), "--dry-run", "--simulate", str(scenario)],
        env=dict(os.environ, HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["warn"] is True and data["code"] == "unknown_last_update"
    assert (directory / "sdw-last-updated").read_bytes() == raw


# ----- trust: config.json, repository files, rpm output, apt sources -----------------

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_CONFIGS = st.one_of(
    st.binary(max_size=300),
    st.fixed_dictionaries(
        {}, optional={"environment": st.sampled_from(["prod", "staging", "dev", "Prod", ""])}
    ).map(lambda d: json.dumps(d).encode()),
    _JSON_VALUES.map(lambda v: json.dumps({"environment": v}).encode()),
    st.integers(1, 60000).map(lambda n: b"[" * n + b"]" * n),
)


@given(_CONFIGS)
def test_config_json_fails_closed_to_production(raw: bytes) -> None:
    """Any config.json that does not plainly name an environment means the strictest pins."""
    env, problem = anchors.read_environment(raw)
    assert env in anchors.ENVIRONMENTS
    if problem is not None:
        assert env == anchors.PROD
    else:
        assert json.loads(raw)["environment"] == env


_INI_LINES = st.one_of(
    st.sampled_from(
        [
            "[securedrop-workstation-dom0]",
            "[qubes-dom0-current]",
            "gpgcheck=1",
            "gpgcheck=0",
            "gpgcheck = no",
            "enabled=1",
            "enabled=0",
            "baseurl=https://yum.securedrop.org.evil.example/workstation/dom0/f37",
            "baseurl=http://evil.example/",
            "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-securedrop-workstation",
            "repo_gpgcheck=0",
            "metalink=https://evil.example/",
            "  continued",
            "",
            "# comment",
        ]
    ),
    st.text(max_size=40),
)
_INI_FILES = st.one_of(
    st.binary(max_size=400),
    st.lists(_INI_LINES, max_size=12).map(lambda lines: "\n".join(lines).encode()),
)


@settings(max_examples=40)  # each example runs the real dnf in a process of its own
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "/etc/yum.repos.d/securedrop-workstation-dom0.repo",
                "/etc/yum.repos.d/qubes-dom0.repo",
                "/etc/yum.real.repos.d/qubes-cached.repo",
                "/etc/dnf/libdnf5.conf.d/90-x.conf",
            ]
        ),
        _INI_FILES,
        max_size=3,
    ),
    st.one_of(st.none(), _INI_FILES),
    st.sampled_from(anchors.ENVIRONMENTS),
)
def test_mangled_repository_files_never_pass(
    files: dict[str, bytes], dnf_conf: bytes | None, env: str
) -> None:
    """No generated file has the SecureDrop repository's real URL, so the check must fail,
    whatever dnf (the real one) makes of the files."""
    with tempfile.TemporaryDirectory() as root:
        if dnf_conf is not None:
            files = {**files, "/etc/dnf/dnf.conf": dnf_conf}
        for path, data in files.items():
            target = Path(root) / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        config, report = trust_dnf.read_dnf_config(QubesHost(root=Path(root)))
    if config is not None:
        report = trust_dnf.check_repos(config, env).report
    assert report.failures


@given(
    st.one_of(
        st.binary(max_size=300),
        _JSON_VALUES.map(lambda v: json.dumps({"views": v, "overrides": [], "problems": []})),
        _JSON_VALUES.map(json.dumps),
    ).map(lambda v: v if isinstance(v, bytes) else v.encode())
)
def test_dnf_probe_output_raises_only_value_error(stdout: bytes) -> None:
    try:
        trust_dnf.parse_probe(stdout)
    except ValueError:
        return


@given(st.lists(st.binary(max_size=80), max_size=20))
def test_rpm_key_listing_raises_only_value_error(lines: list[bytes]) -> None:
    try:
        entries = rpmdb.parse_rpmdb_keys(lines)
    except ValueError:
        return
    assert all(isinstance(name, str) and isinstance(body, bytes) for name, body in entries)


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.tuples(
                st.sampled_from([p.name for p in rpmdb.PACKAGES] + ["other", ""]),
                st.sampled_from(
                    ["(none)", "RSA/SHA256, Mon 01 Jan 2024, Key ID 188edd3b7b22e6a3", "x"]
                ),
                st.sampled_from(["(none)", "DSA/SHA1, Key ID 0123456789abcdef", ""]),
            ).map(lambda t: "|".join(t).encode()),
        ),
        max_size=10,
    )
)
def test_rpm_signer_listing_names_only_asked_packages(lines: list[bytes]) -> None:
    names = [p.name for p in rpmdb.PACKAGES]
    signatures, missing, problems = rpmdb.parse_signers(lines, names)
    assert {s.package for s in signatures} <= set(names)
    assert missing <= set(names)
    assert all(isinstance(p, str) for p in problems)


class NoKeys:
    """A key scanner that finds nothing (gpg is not needed to reject garbage)."""

    def scan(self, data: bytes) -> list[KeyInfo]:
        return []


_SOURCE_LINES = st.one_of(
    st.sampled_from(
        [
            "Types: deb",
            "URIs: https://apt.freedom.press",
            "Suites: bookworm",
            "Components: main",
            "Signed-By: /usr/share/keyrings/securedrop-keyring.gpg",
            "Signed-By:",
            " .",
            " -----BEGIN PGP PUBLIC KEY BLOCK-----",
            "Trusted: yes",
            "Allow-Insecure: yes",
            "Enabled: no",
            "",
            "#x",
        ]
    ),
    st.text(max_size=40),
)


@given(
    st.one_of(
        st.none(),
        st.binary(max_size=400),
        st.lists(_SOURCE_LINES, max_size=12).map(lambda lines: "\n".join(lines).encode()),
    ),
    st.sampled_from(anchors.ENVIRONMENTS),
)
def test_mangled_apt_sources_never_pass(data: bytes | None, env: str) -> None:
    """A template's source that resolves to no pinned key fails, whatever it holds."""
    report = apt.check_apt_source(
        "sd-small-bookworm-template", data, env, NoKeys(), read_key=lambda _: None, now=NOW
    )
    assert report.failures


@given(st.text(max_size=300))
def test_deb822_parser_raises_only_value_error(text: str) -> None:
    try:
        stanzas = apt.parse_deb822(text)
    except ValueError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for s in stanzas for k, v in s.items())
