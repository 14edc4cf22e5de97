"""The steps of an update run, each described once.

A step's name (its value is what logs, events, the history file and the
window's tests use), the label admins read in the logs, the words and the
hint a journalist reads in the window, its timeout, and how long it
usually takes.  The progress bar weighs each step by its expected duration
(from this workstation's past runs when there are some, else the default
here), so a step that takes most of the time takes most of the bar.

The journalist's words are plain English here; the window translates them
(Qt's ``translate`` with the context ``Steps``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Step(enum.StrEnum):
    """The steps of a run, in the order they run."""

    NETCHECK = "netcheck"
    TRUST = "trust"
    DOM0_CHECK = "dom0_check"
    DOM0_UPDATE = "dom0_update"
    TRUST_INSTALLED = "trust_installed"
    DOM0_STATE = "dom0_state"
    MIGRATION = "migration"
    TEMPLATE_SOURCES = "template_sources"
    TEMPLATES = "templates"
    RESTART = "restart"


@dataclass(frozen=True)
class StepSpec:
    """Everything known about one step before it runs."""

    step: Step
    label: str  # for the logs and the terminal: what runs, in an admin's words
    words: str  # for the window: what happens, in a journalist's words
    hint: str  # a second line for slow steps, so a slow bar is not read as frozen
    timeout: float  # seconds before the tool is stopped (sized for slow Tor networks)
    expected: float  # seconds it usually takes on a real workstation


_SPECS = (
    StepSpec(
        Step.NETCHECK,
        "Checking the network connection",
        "Checking the internet connection",
        "",
        90,
        5,
    ),
    StepSpec(
        Step.TRUST,
        "Checking the workstation's signing keys",
        "Checking that the updates really come from SecureDrop",
        "",
        120,
        5,
    ),
    StepSpec(
        Step.DOM0_CHECK,
        "Checking for system (dom0) updates",
        "Looking for updates to the core system",
        "This can take a few minutes.",
        900,
        60,
    ),
    StepSpec(
        Step.DOM0_UPDATE,
        "Installing system (dom0) updates",
        "Installing updates to the core system",
        "This can take several minutes.",
        3600,
        420,
    ),
    StepSpec(
        Step.TRUST_INSTALLED,
        "Checking the signatures of installed packages",
        "Checking that the installed updates are genuine",
        "",
        120,
        5,
    ),
    StepSpec(
        Step.DOM0_STATE,
        "Applying the SecureDrop configuration",
        "Applying the SecureDrop settings",
        "This can take 10 minutes or more, and the progress bar moves slowly. That is normal.",
        3600,
        480,
    ),
    StepSpec(
        Step.MIGRATION,
        "Applying the full SecureDrop configuration (migration)",
        "Upgrading the SecureDrop setup",
        "This happens after a SecureDrop upgrade and can take 20 minutes or more. That is normal.",
        5400,
        1200,
    ),
    StepSpec(
        Step.TEMPLATE_SOURCES,
        "Checking the templates' package sources",
        "Checking where the updates come from",
        "",
        600,
        30,
    ),
    StepSpec(
        Step.TEMPLATES,
        "Updating the templates",
        "Updating the parts of the workstation",
        "This usually takes the longest. Each part is listed below.",
        3 * 3600,
        900,
    ),
    StepSpec(
        Step.RESTART,
        "Restarting the VMs that were updated",
        "Restarting the parts of the workstation that were updated",
        "SecureDrop windows that were open may close and reopen.",
        600,
        60,
    ),
)

STEPS: dict[Step, StepSpec] = {spec.step: spec for spec in _SPECS}

#: The steps a forced update on a healthy workstation usually runs (for a first estimate).
TYPICAL_RUN = (
    Step.NETCHECK,
    Step.TRUST,
    Step.DOM0_CHECK,
    Step.DOM0_UPDATE,
    Step.TRUST_INSTALLED,
    Step.DOM0_STATE,
    Step.TEMPLATE_SOURCES,
    Step.TEMPLATES,
    Step.RESTART,
)


def spec(step: Step | str) -> StepSpec:
    """The description of ``step`` (a Step or its value); KeyError for an unknown name."""
    return STEPS[Step(step)]
