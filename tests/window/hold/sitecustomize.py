"""Test-only: a launch that stops itself just before it builds the updater's window.

The window tier puts this directory on ``PYTHONPATH`` for one launch of the
installed ``sdw-updater`` (Python imports ``sitecustomize`` at start-up): the
process then sends itself SIGSTOP as the window's construction begins, and
the test sends SIGCONT when it is done looking.  Nothing of the product is
replaced; the launch is only held at that moment, as a busy machine may
hold it, so what another launch meets then can be tested.
"""

import os
import signal

from launcher import wizard

_build = wizard.Wizard.__init__


def _held(self: wizard.Wizard, *args: object, **kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGSTOP)
    _build(self, *args, **kwargs)  # type: ignore[arg-type]


wizard.Wizard.__init__ = _held  # type: ignore[method-assign]
