"""The failures the Qubes Admin API raises, named once for the engine and the simulator.

In dom0 (and in the box tier, which runs the real client) these are
``qubesadmin.exc``'s own classes.  Where ``qubesadmin`` cannot be imported
(the demo, the development virtualenv) they are stand-ins defined here,
with the same names and the same bases.  The simulator's fake app raises
exactly these classes, so the engine catches one set of classes in every
world, as Qubes' own ``vmupdate`` catches ``QubesDaemonAccessError``, and
never ``Exception``.

:data:`ERRORS` is what a call through ``qubesadmin`` can fail with:

- ``QubesException``, the base of everything qubesd or the client reports
  (an access denied is ``QubesDaemonAccessError``; an unreachable or
  vanished qubesd ``QubesDaemonCommunicationError``; a property Qubes does
  not have ``QubesNoSuchPropertyError``);
- ``KeyError``: ``app.domains[name]`` for a qube the client does not list
  (qubesadmin raises a plain ``KeyError`` there, not its own class).

The classes are resolved on first use, not on import: the notifier and
the launcher's fast path import the engine's seam but need not pay for
importing ``qubesadmin`` until they really talk to Qubes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

#: The classes this module names; each exists in every qubesadmin the product
#: supports (qubes-core-admin-client 4.2 to 4.4).
NAMES = (
    "QubesException",
    "QubesVMNotFoundError",
    "QubesVMError",
    "QubesVMNotStartedError",
    "QubesVMNotRunningError",
    "QubesNoSuchPropertyError",
    "QubesFeatureNotFoundError",
    "QubesDaemonCommunicationError",
    "QubesDaemonAccessError",
)

if TYPE_CHECKING:  # what the names are, for the type checker (resolved below at run time)

    class QubesException(Exception): ...

    class QubesVMNotFoundError(QubesException, KeyError): ...

    class QubesVMError(QubesException): ...

    class QubesVMNotStartedError(QubesVMError): ...

    class QubesVMNotRunningError(QubesVMNotStartedError): ...

    class QubesNoSuchPropertyError(QubesException, AttributeError): ...

    class QubesFeatureNotFoundError(QubesException, KeyError): ...

    class QubesDaemonCommunicationError(QubesException): ...

    class QubesDaemonAccessError(QubesDaemonCommunicationError): ...

    ERRORS: tuple[type[Exception], ...]
    SOURCE: str


def _stand_ins() -> dict[str, type[Exception]]:
    """Same-named classes with qubesadmin's bases, for where qubesadmin is not installed."""

    class QubesException(Exception):
        """Base of every failure qubesd or the client reports."""

    class QubesVMNotFoundError(QubesException, KeyError):
        """No such qube."""

    class QubesVMError(QubesException):
        """Something is wrong with one qube."""

    class QubesVMNotStartedError(QubesVMError):
        """The qube is not running (e.g. shutting down a halted qube)."""

    class QubesVMNotRunningError(QubesVMNotStartedError):
        """The qube is not running (but maybe paused)."""

    class QubesNoSuchPropertyError(QubesException, AttributeError):
        """The qube has no such property."""

    class QubesFeatureNotFoundError(QubesException, KeyError):
        """The feature is not set."""

    class QubesDaemonCommunicationError(QubesException):
        """qubesd could not be reached or answered garbage."""

    class QubesDaemonAccessError(QubesDaemonCommunicationError):
        """qubesd gave the empty answer: access denied."""

    found = dict(locals())
    return {name: found[name] for name in NAMES}


def _resolve() -> dict[str, Any]:
    """qubesadmin.exc's classes when it can be imported, else the stand-ins."""
    try:
        from qubesadmin import exc
    except ImportError:
        classes, source = _stand_ins(), "stand-ins (qubesadmin is not installed)"
    else:
        classes, source = {name: getattr(exc, name) for name in NAMES}, "qubesadmin.exc"
    return {**classes, "ERRORS": (classes["QubesException"], KeyError), "SOURCE": source}


def __getattr__(name: str) -> Any:
    """The names above, resolved once, on first use (PEP 562)."""
    if name not in NAMES and name not in ("ERRORS", "SOURCE"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    resolved = _resolve()
    globals().update(resolved)
    return resolved[name]
