"""``qubes-vm-update``, simulated as R4.2/R4.3 behave (docs/qubes-tools.md, "qubes-vm-update").

Targets are chosen as the real tool chooses them, updated in parallel
batches (templates and standalones first, then the rest) by a discrete
event loop on simulated time: no threads, one process, killable as a group.
Progress goes to stderr as whole-batch snapshots, agent output to stdout as
``<vm>:out: ...``, and with ``-r``/``-R`` the VMs derived from successfully
updated templates are shut down or restarted (docs/qubes-tools.md: the sections
"qubes-vm-update: its progress lines on stderr", "qubes-vm-update: its output on
stdout" and "qubes-vm-update: restarting the qubes of updated templates").

How each template behaves comes from ``[templates."NAME"]``; a template
whose updates were installed by an earlier successful run reports
``no_updates`` afterwards, as a real one would, and ``fail_first`` makes
its first attempts (counted across runs) end in error.

Exit codes as measured on the real tool (docs/qubes-tools.md, "qubes-vm-update
exit codes, measured"): a failing agent's
code (21-25, anything else 26: ``[templates."NAME"].exit_code``) is kept,
the tool exits with the largest over all qubes (and propagation's 11-13),
64 for unknown or duplicated targets, 130 when interrupted (SIGINT), and 0
when every qube ended ``no_updates`` unless ``--signal-no-updates`` (100).

SIGINT, as the real tool takes it (docs/simulator.md, "Real-tool
behaviour"): nothing new starts; a qube whose agent runs goes on to its own
``done``; a qube still waiting for its turn, or whose agent was still being
copied into it (before the first event of its update), ends ``done
cancelled``; ``-R`` then applies the templates that succeeded.  A SIGINT
during that propagation ends the tool at once, as an uncaught
``KeyboardInterrupt`` ends the real one: VMs it shut down stay halted.
"""

from __future__ import annotations

import heapq
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from sdw_sim import journal
from sdw_sim.scenario import SERVICE_VMS
from sdw_sim.state import set_power
from sdw_sim.toolcall import Parser, ToolCall, err, out

STEPS = 12  # progress reports per successful update: 8.33, 16.67, 25.0, ...
NON_TEMPLATE_DURATION = 60.0
_FLOOD_CHUNK = 64 * 1024
SIGINT_EXIT = 130

#: What an agent prints on stderr when it fails with each code (our own wording).
AGENT_ERRORS = {
    21: "ERROR: the update agent failed (simulated)",
    22: "E: Could not get lock /var/lib/dpkg/lock-frontend (simulated)",
    23: "E: Failed to fetch https://deb.debian.org/debian/dists/trixie/InRelease  "
    "Temporary failure resolving 'deb.debian.org' (simulated)",
    24: "E: Sub-process /usr/bin/dpkg returned an error code (1) (simulated)",
    25: "ERROR: cleaning up the package cache failed (simulated)",
    26: "qrexec: the connection to the update agent was lost (simulated)",
}


#: What a failing agent prints for each known failure, apt (Debian) then dnf (Fedora)
#: flavour; the lines are modelled on the package managers' own messages.
_FAILURE_LINES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "disk_full": (
        (
            "Get:1 https://deb.debian.org/debian-security trixie-security/main amd64 "
            "libssl3t64 amd64 3.5.4-1~deb13u1 [2345 kB]",
            "E: You don't have enough free space in /var/cache/apt/archives/.",
        ),
        (
            "Error: Transaction test error:",
            "  installing package openssl-libs-1:3.5.1-3.fc43.x86_64 needs 52MB more space "
            "on the / filesystem",
        ),
    ),
    "dpkg_interrupted": (
        (
            "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem.",
        ),
        (
            "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem.",
        ),
    ),
    "network": (
        (
            "Err:1 https://deb.debian.org/debian trixie InRelease",
            "  Temporary failure resolving 'deb.debian.org'",
            "E: Failed to fetch https://deb.debian.org/debian/dists/trixie/InRelease  "
            "Temporary failure resolving 'deb.debian.org'",
        ),
        (
            "Curl error (6): Couldn't resolve host name for "
            "https://mirrors.fedoraproject.org/metalink?repo=updates-released-f43&arch=x86_64 "
            "[Could not resolve host: mirrors.fedoraproject.org]",
            "Error: Failed to download metadata for repo 'updates': Cannot download repomd.xml",
        ),
    ),
    "lock": (
        (
            "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 "
            "(unattended-upgr)",
            "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is "
            "another process using it?",
        ),
        (
            "Error: Failed to obtain rpm transaction lock. Another transaction is in progress "
            "(pid 4242).",
        ),
    ),
    "key_expired": (
        (
            "W: GPG error: https://apt.freedom.press trixie InRelease: The following "
            "signatures were invalid: EXPKEYSIG 0123456789ABCDEF SecureDrop Release Signing "
            "Key (simulated)",
            "E: The repository 'https://apt.freedom.press trixie InRelease' is not signed.",
        ),
        (
            "Error: Failed to download metadata for repo 'updates': repomd.xml GPG signature "
            "verification error: key 0x0123456789ABCDEF has expired (simulated)",
        ),
    ),
}


def failure_lines(failure: str, debian: bool) -> tuple[str, ...]:
    """The lines a failing package manager prints for ``failure`` (see ``_FAILURE_LINES``)."""
    apt, dnf = _FAILURE_LINES[failure]
    return apt if debian else dnf


def _garbage_lines(name: str) -> list[str]:
    """Malformed progress lines: none may read as a valid status for ``name``."""
    return [
        f"{name} updating 12,5",
        f"{name} updating nan",
        f"{name} updating -7.0",
        f"{name} updating 250.0",
        f"{name}  updating 50.0",
        f"{name} updating",
        f"{name}\tdone\tsuccess",
        f"{name} done SUCCESS",
        f"{name} done success extra",
        f"{name}:done:success",
        f"{name} unknown None",
        f"{name} done succ\u00e8s",
        f"\x1b[2K{name} done success",
        f"{name} done success\x00",
        f"{name} updating " + "9" * 600,
    ]


@dataclass
class Job:
    """One qube being updated."""

    name: str
    result: str
    duration: float
    flood_bytes: int
    debian: bool
    flood_line_bytes: int = 0  # one line of this many bytes, newline only at its end
    exit_code: int = 0  # the agent's exit code when it ends in error
    failure: str | None = None  # a known failure: what the agent prints when it ends in error
    status: str = "pending"  # pending | updating | done | garbled
    percent: float = 0.0
    final: str | None = None
    started: bool = False
    finished: bool = False
    # The agent runs in the qube: until its first event the tool is still copying it
    # there, and a SIGINT then ends the qube "cancelled" (see Batch._apply).
    agent_running: bool = False
    autostarted: bool = False
    garbage_count: int = 0
    flood_counter: int = 0
    start_time: float = 0.0
    timeline: list[tuple[float, str, object]] = field(default_factory=list)

    def line(self) -> str:
        if self.result == "garbage" and self.status != "pending":
            lines = _garbage_lines(self.name)
            self.garbage_count += 1
            return lines[self.garbage_count % len(lines)]
        if self.status == "pending":
            return f"{self.name} pending None"
        if self.status == "updating":
            return f"{self.name} updating {self.percent}"
        return f"{self.name} done {self.final}"

    def plan(self) -> None:
        """The events of this update, as (simulated seconds after start, kind, value)."""
        d = self.duration
        progress = [(d * i / (STEPS + 1), round(100.0 * i / STEPS, 2)) for i in range(1, STEPS + 1)]
        events: list[tuple[float, str, object]] = []
        if self.result in ("success", "garbage"):
            events = [(t, "progress", p) for t, p in progress]
            events.append((d, "done", "success" if self.result == "success" else None))
        elif self.result == "no_updates":
            events = [(d * i / 4, "progress", round(100.0 * i / 3, 2)) for i in range(1, 4)]
            events.append((d, "done", "no_updates"))
        elif self.result == "error":
            events = [(t, "progress", p) for t, p in progress[:5]]
            events.append((d * 0.6, "error_output", None))
            events.append((d, "done", "error"))
        elif self.result == "cancelled":
            events = [(d, "done", "cancelled")]
        elif self.result == "hang":
            events = [(t, "progress", p) for t, p in progress[: STEPS // 2]]
        elif self.result in ("crash", "crash_main"):
            events = [(t, "progress", p) for t, p in progress[: STEPS // 2]]
            events.append((d / 2, "crash", None))
        self.timeline = events


class Batch:
    """Qubes updated together; any change reprints every line (a snapshot)."""

    def __init__(
        self,
        ctx: ToolCall,
        jobs: list[Job],
        concurrency: int,
        show_output: bool,
        progress: bool,
        *,
        interrupted: list[bool],
    ) -> None:
        self.ctx = ctx
        self.interrupted = interrupted  # non-empty once SIGINT arrived
        self.jobs = {job.name: job for job in jobs}
        # Set order, as the real tool prints: arbitrary, not the --targets order.
        self.order = list({job.name for job in jobs})
        self.concurrency = max(1, concurrency)
        self.show_output = show_output
        self.progress = progress
        self.clock = 0.0
        self.queue: list[tuple[float, int, str, int]] = []
        self.sequence = 0

    def snapshot(self) -> None:
        if self.progress:
            err("".join(self.jobs[name].line() + "\n" for name in self.order))

    def agent_out(self, job: Job, text: str, stream: str = "out") -> None:
        if self.show_output:
            out("".join(f"{job.name}:{stream}: {line}\n" for line in text.splitlines()))

    def flood(self, job: Job, nbytes: int) -> None:
        """Stream ``nbytes`` of extra agent output in chunks (never all in memory)."""
        if not self.show_output or nbytes <= 0:
            return
        written = 0
        while written < nbytes:
            parts: list[str] = []
            size = 0
            while size < _FLOOD_CHUNK and written + size < nbytes:
                k = job.flood_counter
                job.flood_counter += 1
                line = (
                    f"{job.name}:out: Get:{k} https://deb.debian.org/debian bookworm/main amd64 "
                    f"libsim-flood{k % 997} amd64 1.{k}-1 [{100 + k % 900} kB]\n"
                )
                parts.append(line)
                size += len(line)
            data = "".join(parts).encode()
            sys.stdout.buffer.write(data)
            written += len(data)
        sys.stdout.buffer.flush()

    def flood_line(self, job: Job) -> None:
        """Stream one ``<vm>:out:`` line of ``flood_line_bytes`` bytes (once per job)."""
        nbytes, job.flood_line_bytes = job.flood_line_bytes, 0
        if not self.show_output or nbytes <= 0:
            return
        sys.stdout.buffer.write(f"{job.name}:out: ".encode())
        chunk = (b"\x1b[1mline-flood\x1b[0m \t" * (_FLOOD_CHUNK // 24 + 1))[:_FLOOD_CHUNK]
        written = 0
        while written < nbytes:
            piece = chunk[: nbytes - written]
            sys.stdout.buffer.write(piece)
            written += len(piece)
        sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()

    def _schedule(self, job: Job, index: int, start: float) -> None:
        if index < len(job.timeline):
            at = start + job.timeline[index][0]
            self.sequence += 1
            heapq.heappush(self.queue, (at, self.sequence, job.name, index))

    def _start(self, job: Job) -> None:
        job.started = True
        job.plan()
        if not self.ctx.is_running(job.name):
            job.autostarted = True
            self.ctx.set_power(job.name, "Running")
        self.agent_out(job, f"Updating {job.name}")
        job.start_time = self.clock
        self._schedule(job, 0, self.clock)
        if not job.timeline:
            self._finish(job)

    def _start_more(self) -> None:
        if self.interrupted:
            self._cancel_waiting()
            return
        active = sum(1 for j in self.jobs.values() if j.started and not j.finished)
        for name in sorted(self.jobs):
            job = self.jobs[name]
            if active >= self.concurrency:
                break
            if not job.started:
                self._start(job)
                active += 1

    def _cancel_waiting(self) -> None:
        """After SIGINT no qube starts: those still waiting end ``cancelled``.

        As the real tool reports them: ``done cancelled``, and the output of
        a qube that never got its turn (``Canceled`` on out, as it spells it).
        """
        waiting = [job for job in self.jobs.values() if not job.started]
        for job in waiting:
            job.started = job.finished = True
            job.status, job.final = "done", "cancelled"
        if waiting:
            self.snapshot()
        for job in waiting:
            if self.show_output:
                out(f"{job.name}:out: Canceled\n{job.name}:err: \n")

    def _cancel_before_agent(self, job: Job) -> None:
        """SIGINT while the agent was being copied into the qube: it never runs.

        The real tool checks its termination flag between copying the agent
        and starting it: such a qube ends ``done cancelled`` too, with
        ``Cancelled`` on err, and is shut down again if the tool started it.
        """
        job.status, job.final = "done", "cancelled"
        self.snapshot()
        if self.show_output:
            out(f"{job.name}:out: \n{job.name}:err: Cancelled\n")
        self._finish(job)

    def _finish(self, job: Job) -> None:
        job.finished = True
        if job.autostarted:
            self.ctx.set_power(job.name, "Halted")
        self._start_more()

    def _apply(self, job: Job, kind: str, value: object) -> None:
        if not job.agent_running:
            if self.interrupted:
                self._cancel_before_agent(job)
                return
            job.agent_running = True
        if kind == "progress":
            assert isinstance(value, float)
            self._progress(job, value)
        elif kind == "error_output":
            if job.failure is not None:
                self.agent_out(job, "\n".join(failure_lines(job.failure, job.debian)), "err")
            else:
                self.agent_out(job, AGENT_ERRORS.get(job.exit_code, AGENT_ERRORS[26]), "err")
        elif kind == "crash":
            if job.result == "crash_main":
                self._workers_live_on(job)
            self.ctx.die(signal.SIGKILL)
        elif kind == "done":
            self._done(job, value)

    def _workers_live_on(self, crashed: Job) -> None:
        """``crash_main``: only the tool's main process dies; a forked child plays its workers.

        As when the OOM killer picks the real tool's main process: its pool
        workers, orphaned, carry on with the updates under way.  Nobody
        prints their progress any more (the main process did), but they keep
        the tool's output pipes open until they end; each shuts down the
        template it started when its update ends (the crashed one's at once),
        and a successful update is recorded.  Nothing new starts.  The
        workers ignore SIGINT, as the real pool's do; SIGTERM or SIGKILL to
        the process group ends them.
        """
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() != 0:
            return  # the main process, about to die
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            self._end_quietly(crashed, None)
            while self.queue:
                job, index, kind, value = self._next_event()
                if kind in ("done", "crash"):
                    self._end_quietly(job, value)
                else:
                    self._schedule(job, index + 1, job.start_time)
            while any(job.started and not job.finished for job in self.jobs.values()):
                time.sleep(3600)  # a hung update: its worker never ends
        finally:
            os._exit(0)

    def _end_quietly(self, job: Job, final: object) -> None:
        """A worker of a dead tool ends its update: its result recorded, its template shut down."""
        job.finished = True
        if final is not None:
            job.status, job.final = "done", str(final)
            self.record_result(job)
        if job.autostarted:
            self.ctx.set_power(job.name, "Halted")

    def _progress(self, job: Job, value: float) -> None:
        floods = sum(1 for _, k, _ in job.timeline if k == "progress") or 1
        out_lines = agent_lines(job)
        self.agent_out(job, out_lines[int(value) % len(out_lines)])
        self.flood(job, job.flood_bytes // floods)
        self.flood_line(job)
        if job.status == "pending":
            job.status = "updating"
        self.snapshot()  # status change, old percent
        job.percent = value
        self.snapshot()  # new percent

    def _done(self, job: Job, value: object) -> None:
        if not any(k == "progress" for _, k, _ in job.timeline):
            self.flood(job, job.flood_bytes)
            self.flood_line(job)
        if value is None:  # garbage: it ends without a done line
            job.status = "garbled"
        else:
            job.status = "done"
            job.final = str(value)
        self.snapshot()
        if self.show_output:
            out(f"{job.name}:out: \n{job.name}:err: \n")
        self.record_result(job)
        self._finish(job)

    def record_result(self, job: Job) -> None:
        if job.final not in ("success", "no_updates"):
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with self.ctx.store.locked() as state:
            features = state.setdefault("features", {}).setdefault(job.name, {})
            features["updates-available"] = ""
            features["last-updates-check"] = stamp
            if job.final == "success":
                features["last-update"] = stamp
                state.setdefault("template_updates_pending", {})[job.name] = False

    def _next_event(self) -> tuple[Job, int, str, object]:
        """The next event of the batch, once its (scaled) time has come."""
        at, _, name, index = heapq.heappop(self.queue)
        if at > self.clock:
            scale = self.ctx.scenario.sim.time_scale
            if scale > 0:
                time.sleep((at - self.clock) * scale)
            self.clock = at
        job = self.jobs[name]
        _, kind, value = job.timeline[index]
        return job, index, kind, value

    def run(self) -> None:
        """Run the batch to its end (forever when a qube hangs: the caller's timeout ends it)."""
        self.snapshot()
        self._start_more()
        while self.queue:
            if self.interrupted:
                self._cancel_waiting()
            job, index, kind, value = self._next_event()
            self._apply(job, kind, value)
            if not job.finished:
                self._schedule(job, index + 1, job.start_time)
        if self.interrupted:
            self._cancel_waiting()
        if any(not job.finished for job in self.jobs.values()):
            while True:  # a hung update: nothing more ever happens
                time.sleep(3600)


def agent_lines(job: Job) -> list[str]:
    if job.debian:
        suite = "bookworm" if "bookworm" in job.name else "trixie"
        return [
            f"Hit:1 https://deb.debian.org/debian {suite} InRelease",
            f"Get:2 https://deb.debian.org/debian-security {suite}-security InRelease [48.0 kB]",
            "Reading package lists...",
            "Calculating upgrade...",
            "Unpacking libssl3t64:amd64 (3.5.4-1~deb13u1) over (3.5.1-1) ...",
            "Setting up libssl3t64:amd64 (3.5.4-1~deb13u1) ...",
        ]
    release = "40" if "fedora-40" in job.name else "43"
    return [
        f"Fedora {release} - x86_64 - Updates                    1.2 MB/s |  12 MB     00:09",
        "Dependencies resolved.",
        f"  Upgrading        : openssl-libs-1:3.5.1-3.fc{release}.x86_64",
        f"  Cleanup          : openssl-libs-1:3.5.1-2.fc{release}.x86_64",
        f"  Verifying        : openssl-libs-1:3.5.1-3.fc{release}.x86_64",
        "Complete!",
    ]


def _parser() -> Parser:
    parser = Parser(prog="qubes-vm-update")
    parser.add_argument("--max-concurrency", "-x", type=int)
    parser.add_argument("--signal-no-updates", action="store_true")
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--log", default="WARNING")
    parser.add_argument("--no-refresh", action="store_true")
    parser.add_argument("--force-upgrade", "-f", action="store_true")
    parser.add_argument("--no-cleanup", action="store_true")
    parser.add_argument("--leave-obsolete", action="store_true")
    parser.add_argument("--download-only", action="store_true")
    parser.add_argument("--targets")
    parser.add_argument("--skip")
    parser.add_argument("--templates", "-T", action="store_true")
    parser.add_argument("--standalones", "-S", action="store_true")
    parser.add_argument("--apps", "-A", action="store_true")
    parser.add_argument("--all", action="store_true")
    selection = parser.add_mutually_exclusive_group()
    selection.add_argument("--force-update", action="store_true")
    selection.add_argument("--update-if-available", action="store_true")
    selection.add_argument("--update-if-stale", type=int)
    apply = parser.add_mutually_exclusive_group()
    apply.add_argument(
        "--apply-to-sys", "--restart", "-r", dest="apply", action="store_const", const="sys"
    )
    apply.add_argument("--apply-to-all", "-R", dest="apply", action="store_const", const="all")
    apply.add_argument("--no-apply", dest="apply", action="store_const", const=None)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--show-output", "--verbose", "-v", action="store_true")
    output.add_argument("--quiet", "-q", action="store_true")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--just-print-progress", action="store_true")
    progress.add_argument("--no-progress", action="store_true")
    return parser


def _stale(features: dict[str, str], days: int, now: float) -> bool:
    if not features.get("qrexec") or features.get("os") != "Linux":
        return False
    checked = features.get("last-updates-check")
    try:
        when = time.mktime(time.strptime(checked, "%Y-%m-%d %H:%M:%S")) if checked else 0.0
    except ValueError:
        when = 0.0
    return (now - when) // 86400 > days


def run(ctx: ToolCall, argv: list[str]) -> int:  # noqa: PLR0912, PLR0915 - the tool's main, in the real one's order
    """The whole tool: targets, batches, propagation, exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.max_concurrency is not None and args.max_concurrency < 1:
        parser.error("argument --max-concurrency/-x: must be at least 1")
    vms = ctx.vms
    state = ctx.store.read()
    power = state.get("power", {})
    all_features = state.get("features", {})

    def running(name: str) -> bool:
        return name == "dom0" or power.get(name, "Halted") not in ("Halted", "NA")

    targets: list[str] = []
    if args.targets is not None:
        targets = args.targets.split(",")
        unknown = [name for name in targets if name not in vms]
        if unknown:
            noun = "name" if len(unknown) == 1 else "names"
            err(f"Unknown qube {noun}: {', '.join(unknown)}\n")
            return 64
        if len(set(targets)) != len(targets):
            duplicated = sorted({n for n in targets if targets.count(n) > 1})
            err(f"Duplicated qube name(s) in --targets: {', '.join(duplicated)}\n")
            return 64
    chosen = set(targets)
    by_class = args.templates or args.standalones or args.apps
    if args.all or (args.targets is None and not by_class):
        # every updateable qube (no template); AppVMs and DispVMs never are
        chosen |= {n for n, s in vms.items() if s.template is None}
    if args.templates:
        chosen |= {n for n, s in vms.items() if s.klass == "TemplateVM"}
    if args.standalones:
        chosen |= {n for n, s in vms.items() if s.klass == "StandaloneVM"}
    if args.apps:
        chosen |= {n for n, s in vms.items() if s.klass == "AppVM" and running(n)}
    if args.skip:
        chosen -= set(args.skip.split(","))
    if "dom0" in chosen:
        chosen.discard("dom0")
        if not args.quiet:
            out("Skipping dom0. To update AdminVM use `qubes-dom0-update`\n")

    now = ctx.now()
    if args.force_update:
        selected = sorted(chosen)
    else:
        stale_days = args.update_if_stale
        if stale_days is None:
            try:
                stale_days = int(
                    all_features.get("dom0", {}).get("qubes-vm-update-update-if-stale", 7)
                )
            except ValueError:
                stale_days = 7
        selected = []
        for name in sorted(chosen):
            features = all_features.get(name, {})
            if features.get("updates-available") or (
                not args.update_if_available and _stale(features, stale_days, now)
            ):
                selected.append(name)
    if not selected:
        if not args.quiet:
            out("No qube selected for update\n")
        return 100 if args.signal_no_updates else 0

    if args.dry_run:
        templates = [n for n in selected if vms[n].klass == "TemplateVM"]
        out(f"Following templates will be shutdown: {','.join(templates)}\n")
        return 0

    jobs = _jobs(ctx, selected)

    concurrency = args.max_concurrency or ctx.scenario.sim.cpus
    progress = args.just_print_progress and not args.quiet
    first = [j for j in jobs if vms[j.name].klass in ("TemplateVM", "StandaloneVM")]
    second = [j for j in jobs if j not in first]
    interrupted: list[bool] = []

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        # As the real tool: updates under way go on, qubes not started yet
        # end "cancelled", and the exit code says 130.
        interrupted.append(True)

    signal.signal(signal.SIGINT, on_interrupt)
    for batch_jobs in (first, second):
        if batch_jobs:
            Batch(
                ctx, batch_jobs, concurrency, args.show_output, progress, interrupted=interrupted
            ).run()
    # As the real tool: its handler goes with the batches, and a SIGINT during the
    # propagation below ends it there (an uncaught KeyboardInterrupt: killed by SIGINT).
    signal.signal(signal.SIGINT, lambda signum, frame: ctx.die(signal.SIGINT))

    code = 0
    for job in jobs:
        if job.final == "error":
            code = max(code, job.exit_code)
        elif job.final == "cancelled":
            code = max(code, SIGINT_EXIT)
    if args.apply is not None:
        code = max(code, _propagate(ctx, jobs, args.apply))
    if code == 0 and args.signal_no_updates and all(j.final == "no_updates" for j in jobs):
        return 100
    return code


def _jobs(ctx: ToolCall, selected: list[str]) -> list[Job]:
    """One job per selected qube, with the result its scenario (and history) gives."""
    state = ctx.store.read()
    pending = state.get("template_updates_pending", {})
    vms = ctx.vms
    updateable = [n for n in selected if vms[n].klass in ("TemplateVM", "StandaloneVM")]
    attempts: dict[str, int] = {}
    if updateable:
        with ctx.store.locked() as changed:
            counts = changed.setdefault("update_attempts", {})
            for name in updateable:
                counts[name] = int(counts.get(name, 0)) + 1
                attempts[name] = counts[name]
    jobs: list[Job] = []
    for name in selected:
        spec = vms[name]
        exit_code = 0
        failure = None
        if name in attempts:
            settings = ctx.scenario.template_settings(name)
            result = settings.result
            if attempts[name] <= settings.fail_first:
                result = "error"
            elif result == "success" and not pending.get(name, True):
                result = "no_updates"
            duration, flood = settings.duration, int(settings.flood_mb * 1024 * 1024)
            flood_line = int(settings.flood_line_mb * 1024 * 1024)
            exit_code = settings.exit_code
            failure = settings.failure if result == "error" else None
        else:
            result, duration, flood, flood_line = "no_updates", NON_TEMPLATE_DURATION, 0, 0
        debian = "fedora" not in (name + str(spec.template))
        jobs.append(
            Job(name, result, duration, flood, debian, flood_line, exit_code, failure=failure)
        )
    return jobs


def _propagate(ctx: ToolCall, jobs: list[Job], mode: str) -> int:
    """Apply successful template updates to the qubes running from them.

    In the real tool's order: the updated templates that run are shut
    down; then each running derived qube that was not itself updated
    (disposables excluded) is, when it is a service VM, shut down and
    started again; and last, with ``-R`` only, the other such qubes are
    shut down.  Not reported on any stream; each shutdown and start is
    journaled as the real tool's are in the box (tool ``qubesadmin``,
    through qubesd), so a test can tell when ``-R`` shut VMs down.
    """
    vms = ctx.vms
    updated = {job.name for job in jobs if job.final == "success"}
    templates = [name for name in sorted(updated) if vms[name].klass == "TemplateVM"]
    state = ctx.store.read()
    power = state.get("power", {})
    features = state.get("features", {})

    def running(name: str) -> bool:
        return power.get(name, "Halted") not in ("Halted", "NA")

    def chain(name: str) -> list[str]:
        found: list[str] = []
        current = vms[name].template
        while current is not None and current not in found:
            found.append(current)
            current = vms[current].template
        return found

    restart: list[str] = []
    others: list[str] = []
    for template in templates:
        for name, spec in vms.items():
            if (
                template not in chain(name)
                or not running(name)
                or name in updated
                or spec.klass == "DispVM"
                or name in restart + others
            ):
                continue
            (restart if features.get(name, {}).get("servicevm") else others).append(name)
    order = {name: index for index, name in enumerate(SERVICE_VMS)}
    _shut_down(ctx, [t for t in templates if running(t)])
    restart.sort(key=lambda n: (order.get(n, len(order)), n))
    _shut_down(ctx, restart)
    code = 0
    for name in restart:
        record = journal.start(ctx.journal_path, "qubesadmin", ["start", name])
        started = ctx.start_vm(name)
        record.finish(0 if started else 1)
        if not started:
            code = 13
    if mode == "all":
        _shut_down(ctx, others)
    return code


def _shut_down(ctx: ToolCall, names: list[str]) -> None:
    """Shut ``names`` down at once (forced, as the real tool does), then wait for them."""
    if not names:
        return
    with ctx.store.locked() as changed:
        for name in names:
            set_power(changed, name, "Halted")
    for name in names:
        journal.record(ctx.journal_path, "qubesadmin", ["shutdown", name, "force"], 0)
    ctx.sleep(ctx.scenario.sim.vm_shutdown_duration)
