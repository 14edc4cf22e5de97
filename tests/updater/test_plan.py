"""The runner (``sdw_updater/plan.py``), in-process: the steps in order, and what is recorded when.

On the simulated workstation through the host seam: a retry (the window's
Try again) never loses the restart a dom0 update owes, VMs whose start
breaks stay owed, and a status that
cannot be written mid-run stops the run at once.  Against a scripted host
whose tools print what hypothesis chooses: the run ends ok only when every
tool said so in the contract's terms, and no exception escapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import INSTANT, client_started, read_journal, read_status, template, tools
from helpers.hostile import NOW
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sdw_sim import setup
from sdw_updater import events as ev
from sdw_updater import lastrun
from sdw_updater.contract import ExitCode
from sdw_updater.host import Boot, VMInfo
from sdw_updater.logs import clean_line
from sdw_updater.plan import CHECK_ERROR, Runner, TrustReport
from sdw_updater.process import ToolResult, Watch
from sdw_updater.progress import MAX_PROGRESS_LINE
from sdw_updater.qubes import QubesHost
from sdw_updater.status import StatusStore

VIEWER = "sd-viewer-debian-13"


def test_a_retry_never_loses_the_owed_restart(home: Path) -> None:
    """In-process, as the window's Try again does: dom0 updated, a template failed, retried."""
    directory = home / ".securedrop_updater"
    scenario_path = home / "s.toml"
    scenario_path.write_text(INSTANT + template(VIEWER, fail_first=1))
    env = setup(scenario_path, directory)
    host = QubesHost(
        root=env.root, bin_dirs=[env.bin_dir], app_factory=lambda: env.app, clock=env.now
    )
    from sdw_updater.trust.checks import checks_for

    store = StatusStore(directory)
    first = Runner(host, store, trust=checks_for(host)).run()
    assert first.outcome is ExitCode.FAILED and first.dom0_updated
    plan = lastrun.retry_plan(lastrun.summarize(first))
    assert plan is not None and plan.templates == (VIEWER,)
    second = Runner(host, store, trust=checks_for(host), retry=plan).run()
    assert second.outcome is ExitCode.REBOOT_REQUIRED, second.message
    assert second.reboot_owed and not second.dom0_updated
    assert read_status(home)["status"] == "2"
    assert "reboot_requested_at" in read_status(home)


def test_a_status_that_cannot_be_written_mid_run_stops_the_run(home: Path) -> None:
    """The disk fills (the status cannot be replaced) right after dom0 was updated.

    The run must stop there, say so, and never go on to report success on a
    workstation whose owed restart could not be recorded.
    """
    from sdw_updater.context import open_context
    from sdw_updater.plan import Runner

    scenario = home / "s.toml"
    scenario.write_text(INSTANT)
    ctx = open_context(True, str(scenario), home=home)
    status = ctx.store.status_path

    def listener(event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted) and event.step == "dom0_update":
            # dom0 starts updating: from now on the status cannot be written
            status.unlink()
            status.mkdir()

    result = Runner(ctx.host, ctx.store, listener, trust=ctx.make_trust()).run()
    assert int(result.outcome) == 1
    assert "could not record its state" in result.message
    journal = read_journal(home)
    assert [r for r in journal if r["tool"] == "qubes-dom0-update" and "-y" in r["argv"]]
    assert "qubesctl" not in tools(journal)  # stopped right after the dom0 update
    assert not client_started(journal)


TEMPLATES = ("fedora-40-xfce", "sd-small-bookworm-template")


class BreaksWhileRestarting(QubesHost):
    """The simulated workstation, where starting the VMs again breaks (a bug, a lost qubesd)."""

    def start_vms(self, names: Sequence[str]) -> ToolResult:
        raise RuntimeError("broke while starting the VMs again")


def test_vms_stay_owed_when_starting_them_again_breaks(home: Path) -> None:
    """qubes-vm-update -R shut sd-log down; starting it again raises: it stays owed.

    The summary on disk is what the next run starts again, so it must still
    name every VM that ran before, not an empty list set before the start.
    """
    directory = home / ".securedrop_updater"
    scenario_path = home / "s.toml"
    scenario_path.write_text(INSTANT + "[dom0]\nupdates = false\n")
    env = setup(scenario_path, directory)
    host = BreaksWhileRestarting(
        root=env.root, bin_dirs=[env.bin_dir], app_factory=lambda: env.app, clock=env.now
    )
    from sdw_updater.trust.checks import checks_for

    result = Runner(host, StatusStore(directory), trust=checks_for(host)).run()
    assert result.outcome is ExitCode.FAILED, result.message
    assert read_status(home)["status"] != "0"
    owed = lastrun.read(directory, env.now())
    assert owed is not None and "sd-log" in owed.not_restarted


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
    for name in TEMPLATES:
        finals = []
        for raw in stderr:
            if len(raw) > MAX_PROGRESS_LINE:
                continue
            line = raw.rstrip(b"\r\n")
            for word in (b"success", b"no_updates", b"error", b"cancelled"):
                if line == name.encode() + b" done " + word:
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
