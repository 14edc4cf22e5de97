"""Parsers for tool output.  Every byte here is untrusted.

``qubes-vm-update --just-print-progress`` prints snapshot lines
``<qube> <status> <info>`` on stderr (docs/qubes-tools.md, "qubes-vm-update: its
progress lines on stderr").  A
template's result is read only from a well-formed ``done`` line for a qube we
asked for; anything else (unknown names, malformed numbers, hostile bytes,
contradictions) is ignored or counted as failure, never as success.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from sdw_updater.events import UPDATED_STATES, TemplateState
from sdw_updater.logs import clean_line

MAX_PROGRESS_LINE = 512

# Qubes VM names: a letter first, then letters, digits, '_', '.', '-'; at most 31 chars.
_LINE = re.compile(rb"([A-Za-z][A-Za-z0-9_.-]{0,30}) (pending|updating|done) ([A-Za-z0-9_.]{1,32})")
_PERCENT = re.compile(rb"[0-9]{1,3}(?:\.[0-9]{1,17})?")

DONE_STATES = {
    b"success": TemplateState.DONE,
    b"no_updates": TemplateState.NO_UPDATES,
    b"error": TemplateState.FAILED,
    b"cancelled": TemplateState.FAILED,
}


@dataclass(frozen=True)
class ProgressLine:
    """One well-formed progress line."""

    name: str
    status: str  # pending | updating | done
    percent: float = 0.0
    final: TemplateState | None = None
    cancelled: bool = False  # ``done cancelled``: the tool was interrupted before its turn


def parse_progress_line(raw: bytes) -> ProgressLine | None:
    """Parse one stderr line strictly; ``None`` for anything malformed."""
    if len(raw) > MAX_PROGRESS_LINE:
        return None
    line = raw.rstrip(b"\r\n")
    match = _LINE.fullmatch(line)
    if match is None:
        return None
    name = match.group(1).decode("ascii")
    status = match.group(2)
    info = match.group(3)
    if status == b"pending":
        return ProgressLine(name, "pending") if info == b"None" else None
    if status == b"updating":
        if _PERCENT.fullmatch(info) is None:
            return None
        value = float(info)
        if not math.isfinite(value) or value < 0.0 or value > 100.0:
            return None
        return ProgressLine(name, "updating", percent=value)
    final = DONE_STATES.get(info)
    if final is None:
        return None
    return ProgressLine(name, "done", percent=100.0, final=final, cancelled=info == b"cancelled")


@dataclass
class TemplateTracker:
    """Keeps the latest state per expected template from a stream of lines.

    The first ``done`` line of a template is final.  A later ``done`` line
    that disagrees marks the template failed: a tool that contradicts itself
    cannot be trusted to have succeeded.
    """

    expected: tuple[str, ...]
    states: dict[str, TemplateState] = field(default_factory=dict)
    percents: dict[str, float] = field(default_factory=dict)
    ignored_lines: int = 0
    # The templates whose first done line said ``cancelled`` (their state says failed).
    cancelled: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for name in self.expected:
            self.states.setdefault(name, TemplateState.WAITING)
            self.percents.setdefault(name, 0.0)

    def feed(self, raw: bytes) -> ProgressLine | None:
        """Apply one line; return it when it changed something we track."""
        parsed = parse_progress_line(raw)
        if parsed is None or parsed.name not in self.states:
            if raw.strip():
                self.ignored_lines += 1
            return None
        current = self.states[parsed.name]
        if current in (TemplateState.DONE, TemplateState.NO_UPDATES, TemplateState.FAILED):
            if parsed.status == "done" and parsed.final is not current:
                self.states[parsed.name] = TemplateState.FAILED
                return parsed
            return None
        if parsed.status == "pending":
            return None
        if parsed.status == "updating":
            self.states[parsed.name] = TemplateState.UPDATING
            self.percents[parsed.name] = max(self.percents[parsed.name], parsed.percent)
            return parsed
        assert parsed.final is not None
        self.states[parsed.name] = parsed.final
        self.percents[parsed.name] = 100.0
        if parsed.cancelled:
            self.cancelled.add(parsed.name)
        return parsed

    def fraction(self) -> float:
        """Mean completion of all expected templates, 0..1."""
        if not self.expected:
            return 1.0
        return sum(self.percents[name] for name in self.expected) / (100.0 * len(self.expected))

    def finish(
        self, exit_code: int | None, stalled: Collection[str] = ()
    ) -> dict[str, TemplateState]:
        """Final per-template results, from the done lines and the exit code together.

        Each template's result is its own ``done`` line whenever there is
        one: a tool stopped at its timeout, or killed, fails only the
        templates still in flight, not those that already finished.  No
        ``done`` line means failed; ``stalled`` names the templates the
        stall watchdog stopped the tool for, and when the tool did not end
        by itself (stopped, timed out, killed), templates it never started
        were not reached.  With exit 64 (bad targets) or 2 (usage) nothing
        was updated at all, whatever was printed.
        """
        stopped = exit_code is None or exit_code < 0
        results: dict[str, TemplateState] = {}
        for name in self.expected:
            state = self.states[name]
            if state not in UPDATED_STATES:
                if name in stalled:
                    state = TemplateState.STALLED
                elif stopped and state is TemplateState.WAITING:
                    state = TemplateState.NOT_REACHED
                else:
                    state = TemplateState.FAILED
            if exit_code in (2, 64):
                state = TemplateState.FAILED
            results[name] = state
        return results


# ``<qube>:out: text`` and ``<qube>:err: text``: the agents' output with --show-output.
_OUTPUT_LINE = re.compile(rb"([A-Za-z][A-Za-z0-9_.-]{0,30}):(?:out|err):(.*)", re.DOTALL)
#: Output lines kept per template (for the stall report, the help and the diagnostics).
KEPT_LINES = 8
#: What one kept line may be, in characters (a VM may print anything).
KEPT_LINE_CHARS = 300


def parse_output_line(raw: bytes) -> tuple[str, str] | None:
    """``(qube, text)`` of one ``<qube>:out:`` or ``<qube>:err:`` line; None otherwise."""
    match = _OUTPUT_LINE.match(raw)
    if match is None:
        return None
    return match.group(1).decode("ascii"), clean_line(match.group(2)).strip()[:KEPT_LINE_CHARS]


@dataclass
class Activity:
    """When each template last showed life, and what it last said.

    Life is progress (a higher percent, a new state) or a line of its own
    output; a snapshot that repeats a template's old percent is not.  Times
    are whatever clock the caller passes (monotonic seconds), so the
    decisions here are pure and tested without waiting.
    """

    expected: tuple[str, ...]
    last: dict[str, float] = field(default_factory=dict)
    lines: dict[str, deque[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.expected:
            self.lines.setdefault(name, deque(maxlen=KEPT_LINES))

    def alive(self, name: str, now: float) -> None:
        """``name`` made progress now."""
        if name in self.lines:
            self.last[name] = now

    def output(self, raw: bytes, now: float) -> str | None:
        """Take one stdout line; the template it belongs to, if it is one of ours."""
        parsed = parse_output_line(raw)
        if parsed is None or parsed[0] not in self.lines:
            return None
        name, text = parsed
        self.last[name] = now
        if text:
            self.lines[name].append(text)
        return name

    def quiet(self, name: str, now: float) -> float:
        """Seconds since ``name`` last showed life (0 before it ever did)."""
        return max(0.0, now - self.last[name]) if name in self.last else 0.0

    def last_line(self, name: str) -> str:
        kept = self.lines.get(name)
        return kept[-1] if kept else ""

    def stalled(self, updating: Iterable[str], now: float, limit: float) -> list[str]:
        """The templates among ``updating`` quiet for ``limit`` seconds or more."""
        return [name for name in updating if name in self.last and self.quiet(name, now) >= limit]
