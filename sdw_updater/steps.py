"""The steps of an update run, each described once.

A step's name (its value is what logs, events, the history file and the
window's tests use), the label admins read in the logs and on the
terminal, its timeout, and how long it usually takes.  The progress bar
weighs each step by its expected duration (from this workstation's past
runs when there are some, else the default here), so a step that takes
most of the time takes most of the bar.

What a journalist reads about a step in the window (its words and, for
slow steps, a second line) is the window's to say: ``launcher/strings.py``
(``STEP_WORDS``, ``STEP_HINTS``), keyed by the values here.
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
    """Everything the engine knows about one step before it runs."""

    step: Step
    label: str  # for the logs and the terminal: what runs, in an admin's words
    timeout: float  # seconds before the tool is stopped (sized for slow Tor networks)
    expected: float  # seconds it usually takes on a real workstation


_SPECS = (
    StepSpec(
        step=Step.NETCHECK,
        label="Checking the network connection",
        timeout=90,
        expected=5,
    ),
    StepSpec(
        step=Step.TRUST,
        label="Checking the workstation's signing keys",
        timeout=120,
        expected=5,
    ),
    StepSpec(
        step=Step.DOM0_CHECK,
        label="Checking for system (dom0) updates",
        timeout=900,
        expected=60,
    ),
    StepSpec(
        step=Step.DOM0_UPDATE,
        label="Installing system (dom0) updates",
        timeout=3600,
        expected=420,
    ),
    StepSpec(
        step=Step.TRUST_INSTALLED,
        label="Checking the signatures of installed packages",
        timeout=120,
        expected=5,
    ),
    StepSpec(
        step=Step.DOM0_STATE,
        label="Applying the SecureDrop configuration",
        timeout=3600,
        expected=480,
    ),
    StepSpec(
        step=Step.MIGRATION,
        label="Applying the full SecureDrop configuration (migration)",
        timeout=5400,
        expected=1200,
    ),
    StepSpec(
        step=Step.TEMPLATE_SOURCES,
        label="Checking the templates' package sources",
        timeout=600,
        expected=30,
    ),
    StepSpec(
        step=Step.TEMPLATES,
        label="Updating the templates",
        timeout=3 * 3600,
        expected=900,
    ),
    StepSpec(
        step=Step.RESTART,
        label="Restarting the VMs that were updated",
        timeout=600,
        expected=60,
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
