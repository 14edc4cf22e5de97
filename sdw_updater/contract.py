"""The facts every part of the product shares, spelled once.

Names of VMs and tags, the app that is started, dom0 paths, the state files,
the locks, the status codes on disk and the process exit codes.  The engine,
the window, the notifier and the simulator all import them from here, so a
reader who wants to know "which app do we start?" or "what does exit 5
mean?" finds one answer.  Changing one of these changes a contract other
people rely on (docs/contract.md): the status codes and exit codes
are stable, the rest follows SecureDrop Workstation as it is today (1.7).
"""

from __future__ import annotations

import enum

# ----- the workstation's VMs ---------------------------------------------------------

#: The VM the SecureDrop app runs in, and the app's desktop id (``qubes.StartApp``).
#: SecureDrop Workstation starts SecureDrop Inbox since 1.6; 1.7.1 no longer
#: installs the old client (``press.freedom.SecureDropClient``).
CLIENT_VM = "sd-app"
CLIENT_APP_ID = "press.freedom.SecureDropApp"
#: Started together with the client VM: the app cannot reach the server without it.
PROXY_VM = "sd-proxy"
#: The Qubes tag on every VM of the workstation (what is updated is discovered from it).
WORKSTATION_TAG = "sd-workstation"
#: The tag an organisation puts on VMs whose templates it also wants updated.
EXTRAS_TAG = "sd-extras"
#: The qube that holds the USB controllers (the workstation's printers and export
#: devices reach sd-devices through it): its template is updated too.
USB_VM = "sys-usb"
#: The VM whose NetworkManager answers the connectivity check.
NET_VM = "sys-net"

# ----- dom0 paths --------------------------------------------------------------------

#: A pending migration: a non-empty directory (SecureDrop Workstation 1.7's RPM
#: ``%post``), or a non-empty regular file (older releases).
MIGRATION_DIR = "/tmp/sdw-migrations"
OS_RELEASE = "/etc/os-release"
QUBES_RELEASE = "/etc/qubes-release"
PROC_UPTIME = "/proc/uptime"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
#: What ``securedrop-updater-switch on`` changed (sdw_updater/coexist.py); its
#: absence means the switch is off, which the launcher learns from one lstat.
SWITCH_STATE_FILE = "/var/lib/securedrop-updater/switch.json"

# ----- state on disk (under ~/.securedrop_updater) -------------------------------------

STATE_DIR_NAME = ".securedrop_updater"
STATUS_FILE = "sdw-update-status"
LAST_UPDATED_FILE = "sdw-last-updated"
HISTORY_FILE = "sdw-run-history.json"
#: Extension: the summary of the last run that got past the network check (JSON).
LAST_RUN_FILE = "sdw-last-run.json"
#: Extension: an administrator's settings (extra templates, stall watchdog; JSON).
SETTINGS_FILE = "sdw-updater-settings.json"
LOG_DIR_NAME = "logs"
UPDATER_LOG = "updater.log"
DETAIL_LOG = "updater-detail.log"
NOTIFY_LOG = "sdw-notify.log"
#: The timestamp format of every state file (local time), as the existing updater writes it.
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

UPDATER_LOCK = "sdw-updater.lock"
NOTIFY_LOCK = "sdw-notify.lock"


class UpdateStatus(enum.Enum):
    """The status codes of ``sdw-update-status`` (string values on disk: docs/contract.md)."""

    OK = "0"
    UPDATES_REQUIRED = "1"
    REBOOT_REQUIRED = "2"
    FAILED = "3"
    IN_PROGRESS = "4"


class ExitCode(enum.IntEnum):
    """Exit codes of ``sdw-updater`` (the window's and ``--cli``'s alike: docs/contract.md)."""

    OK = 0  # up to date (fresh or updated now); the app was started
    FAILED = 1  # updates failed; the app was not started
    USAGE = 2  # bad command line or scenario
    REBOOT_REQUIRED = 3  # dom0 updated now, or a restart asked for earlier is still owed
    NETWORK = 4  # no network; nothing attempted, state files unchanged
    LOCKED = 5  # another updater is running
    TRUST = 6  # a key, signature or repository check failed; nothing applied after it
    DIST_UPGRADE = 7  # Qubes is being upgraded in place; nothing attempted
    CLIENT_FAILED = 8  # updates fine, but the app could not be started
