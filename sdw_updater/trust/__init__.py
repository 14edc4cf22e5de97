"""Trust checks: pinned keys, enforced signatures, verified signers.

Qubes and dnf already verify RPM signatures, but any key in dom0's rpm
database is trusted for every dom0 package, nothing stops a repository file
from turning ``gpgcheck`` off, and nothing warns before the SecureDrop
release key expires.  The updater is the last program that runs before the
journalist opens sources' documents, so it refuses to go on when the
workstation's trust anchors are not what they must be (docs/trust.md,
docs/keys.md "Checks the updater adds").  One concern a module:

- ``report``: findings with typed codes, and the one report type;
- ``anchors``: the compiled pins, key names, environments, revocation list
  and SecureDrop's dom0 paths;
- ``gpg``: reading keys with python-gnupg in a throwaway keyring;
- ``keyfile``: C1, the SecureDrop key file holds exactly the pin;
- ``rpmdb``: C1, the keys of dom0's rpm database, and C5, the signers of
  the installed SecureDrop packages;
- ``dnf`` (with ``dnfprobe``, run by the system Python): C2, the
  repositories as dnf itself reads them;
- ``apt``: the templates' SecureDrop apt sources;
- ``checks``: the three check points the runner calls.

This package's ``__init__`` imports nothing, so that ``report`` can always
be imported: the runner needs it to fail the run when the checks themselves
cannot be loaded (a missing dependency is never a reason to skip them).
Nothing here runs on the launcher's fast path.
"""
