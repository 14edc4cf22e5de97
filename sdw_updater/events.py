"""Events the update runner emits, and the listener protocol.

The runner knows nothing of terminals or windows: it calls ``listener(event)``
for each of these plain data objects.  The CLI prints them; the wizard
forwards them across threads with a Qt signal.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class TemplateState(enum.Enum):
    """The state of one template in the template-update step."""

    WAITING = "waiting"
    UPDATING = "updating"
    DONE = "done"
    NO_UPDATES = "no_updates"
    FAILED = "failed"
    # Final states a run can end a template in besides the three above: stopped
    # by the stall watchdog (no progress and no output for too long), and never
    # started because the tool was stopped or killed before its turn.
    STALLED = "stalled"
    NOT_REACHED = "not_reached"


#: States a template ends a run in that count as updated (nothing left to retry).
UPDATED_STATES = frozenset({TemplateState.DONE, TemplateState.NO_UPDATES})


@dataclass(frozen=True)
class StepStarted:
    step: str  # a Step value, e.g. "dom0_update"
    label: str  # what runs, in an admin's words (steps.StepSpec.label)
    expected: float = 0.0  # seconds it usually takes here (past runs, else the default)


@dataclass(frozen=True)
class StepFinished:
    step: str
    ok: bool
    detail: str = ""
    skipped: bool = False


@dataclass(frozen=True)
class OverallProgress:
    percent: float  # 0..100, never decreases within a run


@dataclass(frozen=True)
class TemplateProgress:
    name: str
    state: TemplateState
    percent: float = 0.0


@dataclass(frozen=True)
class LogLine:
    text: str
    level: str = "info"  # info | warning | error | output (tool output)


@dataclass(frozen=True)
class TemplatesPlanned:
    names: tuple[str, ...]
    # The templates among ``names`` that are updated only because an admin
    # turned on extra templates (VMs tagged ``sd-extras``): shown as their own group.
    extras: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateActivity:
    """How long a template being updated has been quiet, for the stall display.

    While ``qubes-vm-update`` runs, the runner sends this at most once a
    second for each template that is updating: ``quiet`` is the seconds
    since its last progress or output line (0 right after one), ``limit``
    the seconds of quiet after which the stall watchdog stops the update,
    and ``last_line`` its last output line (untrusted text, cleaned and
    bounded).  Front ends decide how to show it; they never have to time
    anything themselves.
    """

    name: str
    quiet: float
    limit: float
    last_line: str = ""


@dataclass(frozen=True)
class Notice:
    """A problem that does not stop the run but must be told (e.g. a key expiring).

    ``days_left`` is set for a signing key about to expire: front ends tell
    journalists only when it is close, administrators always (logs, the
    window's "For your administrator" section, ``--status``).
    """

    text: str
    days_left: int | None = None


Event = (
    StepStarted
    | StepFinished
    | OverallProgress
    | TemplateProgress
    | LogLine
    | TemplatesPlanned
    | TemplateActivity
    | Notice
)
Listener = Callable[[Event], None]


def null_listener(_event: Event) -> None:
    """A listener that ignores everything."""
