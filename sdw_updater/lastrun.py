"""The summary of a run, kept on disk, and what a retry of it runs.

``summarize`` turns the runner's ``RunResult`` into a :class:`LastRun`:
each template with its result (updated, already up to date, failed,
stalled, not reached), its group, whether it was retried automatically or
kept from an earlier attempt, the VMs restarted and those that did not
come back, the steps with their results, the help for known failures and
the time taken.  The window, ``--cli`` and ``--status`` (``last_run``) all
show this one object.

It is written to ``sdw-last-run.json`` (an extension; atomic, like every
state file) at the end of every run that got past the network check (and
once before the templates are updated, as a failure that owes every VM
that ran before: what a run killed there leaves), and read back as
untrusted: anything malformed, oversized, of another format or from the
future means "no data" (None), never a guess.  Its ``not_restarted`` VMs
are owed: the next run starts them if they are halted.

``retry_plan`` is the pure decision behind "Try again" and
``--retry-failed``: after template failures only the templates that did
not update run again (the others keep their results); after a failure in
dom0's Salt state or the migration the run starts again at that step; any
other failure, or a run that did not fail, means a normal run.  A retry
never skips a check: the network check, every trust check and the
templates' source check run as in a full run.  Nothing a retry relies on
may be more than a day old (:func:`recent`): neither the failed run, nor a
kept result, which keeps the time of the attempt that produced it however
many retries kept it since (``templates.select`` applies that, and updates
every other template of the day's plan).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdw_updater.advice import Advice
from sdw_updater.contract import LAST_RUN_FILE, ExitCode, UpdateStatus
from sdw_updater.events import UPDATED_STATES, TemplateState
from sdw_updater.status import StatusRecord, atomic_write, format_time, parse_time, read_bounded
from sdw_updater.steps import Step

if TYPE_CHECKING:
    from sdw_updater.result import RunResult

log = logging.getLogger("sdw.lastrun")

FORMAT = 1
MAX_BYTES = 256 * 1024
MAX_TEMPLATES = 200
MAX_LINES = 8
MAX_TEXT = 1000
MAX_MESSAGE = 4000
#: A retry from disk is only for a recent failure: later, dom0 may have new updates.
RETRY_MAX_AGE = 24 * 3600.0
GROUPS = ("workstation", "extras")
STEP_RESULTS = ("ok", "failed", "skipped")
FINAL_STATES = (
    TemplateState.DONE,
    TemplateState.NO_UPDATES,
    TemplateState.FAILED,
    TemplateState.STALLED,
    TemplateState.NOT_REACHED,
)
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,30}")
#: dom0's work a retry need not do again when it succeeded in the failed run.
DOM0_WORK = (Step.DOM0_CHECK, Step.DOM0_UPDATE, Step.DOM0_STATE, Step.MIGRATION)


@dataclass(frozen=True)
class TemplateOutcome:
    """One template at the end of a run."""

    name: str
    result: TemplateState
    group: str = "workstation"  # or "extras": updated because an admin turned them on
    retried: bool = False  # updated once more automatically after a failure that looked transient
    kept: bool = False  # a result of an earlier attempt, kept by a retry
    last_lines: tuple[str, ...] = ()  # its last output lines, when it did not update
    # Why a retry updated it although the attempt it retried did not fail it ("": it did).
    added: str = ""
    # When the attempt that produced this result began (None: not known, e.g. a file of
    # an earlier version); a retry keeps a result only while that is recent.
    at: float | None = None

    @property
    def updated(self) -> bool:
        return self.result in UPDATED_STATES


@dataclass(frozen=True)
class LastRun:
    """A run's summary (see the module docstring)."""

    outcome: ExitCode
    started_at: float
    finished_at: float
    duration: float
    version: str = ""
    failed_step: Step | None = None
    steps: tuple[tuple[Step, str], ...] = ()
    templates: tuple[TemplateOutcome, ...] = ()
    restarted: tuple[str, ...] = ()
    not_restarted: tuple[str, ...] = ()
    running_before: tuple[str, ...] = ()
    dom0_updated: bool = False
    reboot_owed: bool = False
    attempt: int = 1
    advice: tuple[Advice, ...] = ()
    message: str = ""  # the engine's own words on the outcome (for administrators)

    @property
    def reached_templates(self) -> bool:
        """The run got to the templates step (its summary is worth showing)."""
        return any(step is Step.TEMPLATES and result != "skipped" for step, result in self.steps)

    def counts(self) -> dict[str, int]:
        """How many templates ended in each final state (by ``TemplateState`` value)."""
        counts = {state.value: 0 for state in FINAL_STATES}
        for template in self.templates:
            counts[template.result.value] = counts.get(template.result.value, 0) + 1
        return counts


def summarize(result: RunResult) -> LastRun:
    """The summary of a finished run (what every front end shows)."""
    templates = []
    for name, state in sorted(result.templates.items()):
        lines = () if state in UPDATED_STATES else tuple(result.template_lines.get(name, ()))
        templates.append(
            TemplateOutcome(
                name,
                state,
                result.groups.get(name, "workstation"),
                retried=name in result.retried,
                kept=name in result.kept,
                last_lines=lines[-MAX_LINES:],
                added=result.added.get(name, "")[:MAX_TEXT],
                at=result.results_at.get(name),
            )
        )
    steps = tuple((Step(step), outcome) for step, outcome in result.steps.items())
    return LastRun(
        outcome=result.outcome,
        started_at=result.started_at,
        finished_at=result.finished_at,
        duration=result.durations.get("total", 0.0),
        version=result.version,
        failed_step=result.failed_step,
        steps=steps,
        templates=tuple(templates),
        restarted=tuple(result.restarted),
        not_restarted=tuple(result.not_restarted),
        running_before=tuple(sorted(result.running_before)),
        dom0_updated=result.dom0_updated,
        reboot_owed=result.reboot_owed,
        attempt=result.attempt,
        advice=tuple(result.advice),
        message=result.message[:MAX_MESSAGE],
    )


# ----- the file ------------------------------------------------------------------


def to_json(last: LastRun) -> dict[str, Any]:
    """The JSON object of ``sdw-last-run.json`` and of ``--status``'s ``last_run``."""
    return {
        "format": FORMAT,
        "version": last.version,
        "outcome": int(last.outcome),
        "outcome_name": last.outcome.name,
        "started_at": format_time(last.started_at),
        "finished_at": format_time(last.finished_at),
        "duration_seconds": round(last.duration, 1),
        "failed_step": last.failed_step.value if last.failed_step else None,
        "steps": [{"step": step.value, "result": result} for step, result in last.steps],
        "templates": [
            {
                "name": t.name,
                "result": t.result.value,
                "group": t.group,
                "retried": t.retried,
                "kept": t.kept,
                "last_lines": list(t.last_lines),
                "added": t.added,
                "result_at": None if t.at is None else format_time(t.at),
            }
            for t in last.templates
        ],
        "counts": last.counts(),
        "restarted": list(last.restarted),
        "not_restarted": list(last.not_restarted),
        "running_before": list(last.running_before),
        "dom0_updated": last.dom0_updated,
        "reboot_owed": last.reboot_owed,
        "attempt": last.attempt,
        "message": last.message,
        "help": [
            {
                "kind": a.kind,
                "where": a.where,
                "cause": a.cause,
                "fix": a.fix,
                "evidence": a.evidence,
            }
            for a in last.advice
        ],
    }


class _Bad(ValueError):
    """Anything in the file that is not what we write."""


def _text(value: object, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _Bad("text")
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _Bad("name")
    return value


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_TEMPLATES:
        raise _Bad("names")
    return tuple(_name(item) for item in value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Bad("flag")
    return value


def _template(data: object, now: float) -> TemplateOutcome:
    if not isinstance(data, dict):
        raise _Bad("template")
    at = None
    if data.get("result_at") is not None:  # absent or null: not known
        at = parse_time(data["result_at"], now)
        if at is None:
            raise _Bad("result_at")
    state = TemplateState(_text(data.get("result"), 32))
    if state not in FINAL_STATES:
        raise _Bad("state")
    group = _text(data.get("group"), 32)
    if group not in GROUPS:
        raise _Bad("group")
    lines = data.get("last_lines")
    if not isinstance(lines, list) or len(lines) > MAX_LINES:
        raise _Bad("lines")
    return TemplateOutcome(
        _name(data.get("name")),
        state,
        group,
        _flag(data.get("retried")),
        _flag(data.get("kept")),
        tuple(_text(line) for line in lines),
        added=_text(data.get("added", "")),  # absent from files of earlier versions
        at=at,
    )


def _advice(data: object) -> Advice:
    if not isinstance(data, dict):
        raise _Bad("help")
    return Advice(
        _text(data.get("kind"), 32),
        _text(data.get("where"), 32),
        _text(data.get("cause")),
        _text(data.get("fix")),
        _text(data.get("evidence")),
    )


def parse(raw: bytes, now: float) -> LastRun | None:
    """The summary in ``raw``, or None at the least doubt."""
    if not raw or len(raw) > MAX_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        started = parse_time(data.get("started_at"), now)
        finished = parse_time(data.get("finished_at"), now)
        duration = data.get("duration_seconds")
        attempt = data.get("attempt")
        if (
            started is None
            or finished is None
            or finished < started
            or isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not 0 <= duration <= 7 * 86400
            or isinstance(attempt, bool)
            or not isinstance(attempt, int)
            or not 1 <= attempt <= 1000
        ):
            return None
        code = data.get("outcome")
        if isinstance(code, bool) or not isinstance(code, int):
            return None
        outcome = ExitCode(code)
        if data.get("outcome_name") != outcome.name:
            return None
        failed = data.get("failed_step")
        steps_data = data.get("steps")
        templates_data = data.get("templates")
        help_data = data.get("help")
        if (
            not isinstance(steps_data, list)
            or len(steps_data) > len(Step)
            or not isinstance(templates_data, list)
            or len(templates_data) > MAX_TEMPLATES
            or not isinstance(help_data, list)
            or len(help_data) > MAX_TEMPLATES + 1
        ):
            return None
        steps = []
        for item in steps_data:
            if not isinstance(item, dict) or item.get("result") not in STEP_RESULTS:
                return None
            steps.append((Step(str(item.get("step"))), str(item["result"])))
        templates = tuple(_template(item, now) for item in templates_data)
        if len({t.name for t in templates}) != len(templates):
            return None
        return LastRun(
            outcome=outcome,
            started_at=started,
            finished_at=finished,
            duration=float(duration),
            version=_text(data.get("version"), 64),
            failed_step=None if failed is None else Step(failed),
            steps=tuple(steps),
            templates=templates,
            restarted=_names(data.get("restarted")),
            not_restarted=_names(data.get("not_restarted")),
            running_before=_names(data.get("running_before")),
            dom0_updated=_flag(data.get("dom0_updated")),
            reboot_owed=_flag(data.get("reboot_owed")),
            attempt=attempt,
            advice=tuple(_advice(item) for item in help_data),
            message=_text(data.get("message"), MAX_MESSAGE),
        )
    except (UnicodeDecodeError, ValueError, RecursionError, KeyError, TypeError):
        return None


def path(state_directory: Path) -> Path:
    return state_directory / LAST_RUN_FILE


def read(state_directory: Path, now: float) -> LastRun | None:
    """The last run's summary, or None (no file, or one that cannot be trusted)."""
    raw = read_bounded(path(state_directory), MAX_BYTES)
    if raw is None:
        return None
    last = parse(raw, now)
    if last is None:
        log.warning("Cannot trust %s; it is ignored", path(state_directory))
    return last


def write(state_directory: Path, last: LastRun) -> bool:
    """Write the summary atomically; log and return False on failure (never raise)."""
    data = json.dumps(to_json(last), sort_keys=True, indent=1) + "\n"
    try:
        atomic_write(path(state_directory), data.encode())
    except OSError as exc:
        log.error("Could not write %s: %s", path(state_directory), exc)
        return False
    return True


# ----- retrying ----------------------------------------------------------------------


@dataclass(frozen=True)
class Retry:
    """What a retry runs.

    ``skip``: dom0's work that succeeded in the failed run and is not done
    again.  ``templates``: the templates to update again (None: all of
    them, as a full run does).  ``kept``: the results of the other
    templates, kept while recent (``kept_at``, :func:`recent`).
    ``restart``: the VMs that ran before the failed run (and those it still
    owed); the retry starts those that are halted, as it starts the VMs it
    stops.
    """

    skip: frozenset[Step] = frozenset()
    templates: tuple[str, ...] | None = None
    kept: dict[str, TemplateState] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    restart: tuple[str, ...] = ()
    attempt: int = 2
    from_step: Step | None = None
    # When the attempt that produced each kept result began, and when the failed
    # run ended: a result, or a retry, older than RETRY_MAX_AGE is not trusted.
    kept_at: dict[str, float] = field(default_factory=dict)
    failed_at: float | None = None

    def describe(self) -> str:
        if self.templates is not None:
            names = ", ".join(self.templates) or "no template"
            return f"retrying only what failed: {names} (the checks run again)"
        where = self.from_step.value if self.from_step else "the start"
        return f"retrying from the failed step ({where}; the checks run again)"


def recent(at: float | None, now: float) -> bool:
    """Whether something done at ``at`` (None: unknown) is recent enough for a retry to trust."""
    return at is not None and 0 <= now - at <= RETRY_MAX_AGE


def retry_plan(last: LastRun) -> Retry | None:
    """What "Try again" runs after ``last``; None means a normal run (see the module doc)."""
    if last.outcome is not ExitCode.FAILED or last.failed_step is None:
        return None
    step = last.failed_step
    done = {s for s, result in last.steps if result == "ok"}
    attempt = last.attempt + 1
    # Every VM that ran before the failed run: the retry starts those that are halted.
    restart = tuple(sorted(set(last.not_restarted) | set(last.running_before)))
    ended = last.finished_at
    if step in (Step.TEMPLATES, Step.RESTART):
        skip = frozenset(s for s in DOM0_WORK if s in done or s is Step.MIGRATION)
        kept = {t.name: t.result for t in last.templates if t.updated}
        kept_at = {t.name: t.at for t in last.templates if t.updated and t.at is not None}
        groups = {t.name: t.group for t in last.templates}
        again = tuple(t.name for t in last.templates if not t.updated)
        if step is Step.TEMPLATES and not again:
            # the tool failed although each template said it was done
            return Retry(skip, None, {}, groups, restart, attempt, step, failed_at=ended)
        return Retry(skip, again, kept, groups, restart, attempt, step, kept_at, ended)
    if step is Step.DOM0_STATE and Step.DOM0_CHECK in done:
        skip = frozenset({Step.DOM0_CHECK, Step.DOM0_UPDATE})
        return Retry(skip, None, {}, {}, restart, attempt, step, failed_at=ended)
    if step is Step.MIGRATION and Step.DOM0_STATE in done:
        skip = frozenset({Step.DOM0_CHECK, Step.DOM0_UPDATE, Step.DOM0_STATE})
        return Retry(skip, None, {}, {}, restart, attempt, step, failed_at=ended)
    return None


def retry_from_disk(
    last: LastRun | None, record: StatusRecord | None, now: float
) -> tuple[Retry | None, str]:
    """``--retry-failed``: the retry of the last recorded run, and why (or why not).

    Only when the status file still records that run's failure (same
    time), and it is less than a day old: otherwise dom0 may have changed
    since, and a normal run is the safe answer.
    """
    if last is None:
        return None, "no earlier run is recorded: a normal run"
    if (
        record is None
        or record.status is not UpdateStatus.FAILED
        or format_time(record.timestamp) != format_time(last.finished_at)
    ):
        return None, "the last run did not fail (or another run came after it): a normal run"
    if not recent(last.finished_at, now):
        return None, "the failed run is more than a day old: a normal run"
    plan = retry_plan(last)
    if plan is None:
        return None, "the failure was in a step that is only retried by a full run"
    return plan, plan.describe()
