"""The switch, as installed: a dom0 with SecureDrop Workstation's launcher, then ours beside it.

The dom0 (tests/box/installed.py) gets, with rpm and its scriptlets, the
stand-in of securedrop-workstation-dom0-config (its paths; its sdw-login
runs sdw-updater through PATH; its %post enables sdw-notify.timer) and this
project's RPM; the journalist's icon and autostart entry are written as
SecureDrop Workstation's Salt run writes them (``salt_apply`` below). Then
``securedrop-updater-switch on`` / ``off``, ``rpm -e``, with the real
systemctl, and what a click on the icon and the login autostart start.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from helpers import needs
from helpers.rpmkit import STANDIN_SAYS, UPSTREAM_NAME, build_ours, build_standin

from sdw_updater import coexist

from .installed import SUDO_PATH, InstalledDom0

RPM = ["rpm", "--dbpath", "/var/lib/rpm"]
SWITCH = "securedrop-updater-switch"
OURS_SAYS = "sdw-updater 0."  # what ours prints for --version (the stand-in ignores it)
AUTOSTART_TEXT = (
    "[Desktop Entry]\nEncoding=UTF-8\nVersion=0.9.4\nType=Application\nName=SDWLogin\n"
    "Comment=Updates SecureDrop Workstation DispVMs at login\nExec={exec}\nOnlyShowIn=XFCE;\n"
    "StartupNotify=false\nTerminal=false\nHidden=false\n"
)
SALT_SOURCE = "/srv/salt/securedrop_salt/press.freedom.SecureDropUpdater.desktop"


@pytest.fixture(scope="module")
def rpms(box_ready: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    for tool in ("rpm", "rpmbuild", "systemctl"):
        needs.tool(tool)
    work = tmp_path_factory.mktemp("switch-rpms")
    return build_standin(work / "standin"), build_ours(work / "ours")


@pytest.fixture
def dom0(rpms: tuple[Path, Path], tmp_path: Path) -> InstalledDom0:
    """SecureDrop Workstation 1.7's launcher as its RPM and Salt leave it, and ours installed."""
    standin, ours = rpms
    dom0 = InstalledDom0(tmp_path / "dom0")
    dom0.ok([*RPM, "--initdb"])
    dom0.ok([*RPM, "--nodeps", "-i", str(standin)])  # its %post enables sdw-notify.timer
    salt_apply(dom0)
    dom0.ok([*RPM, "--nodeps", "-i", str(ours)])
    return dom0


def salt_apply(dom0: InstalledDom0, icon_exec: str | None = None) -> None:
    """What ``sdw-admin --apply`` does to the journalist's entries (sd-dom0-files.sls).

    The icon is a copy of the desktop entry SecureDrop Workstation ships in
    /srv/salt (``Exec=sdw-updater``), mode 0755; the autostart entry is its
    template with ``Exec=/usr/bin/sdw-login``. ``icon_exec`` plays a future
    Salt state that writes another Exec (an absolute /usr/bin/sdw-updater).
    """
    source = dom0.upper("/srv") / SALT_SOURCE.removeprefix("/srv/")
    text = source.read_text()
    if icon_exec is not None:
        text = text.replace("Exec=sdw-updater", f"Exec={icon_exec}")
    icon = dom0.home / coexist.ICON_ENTRY
    icon.parent.mkdir(parents=True, exist_ok=True)
    icon.write_text(text)
    icon.chmod(0o755)
    autostart = dom0.home / coexist.AUTOSTART_ENTRY
    autostart.parent.mkdir(parents=True, exist_ok=True)
    autostart.parent.chmod(0o700)
    autostart.write_text(AUTOSTART_TEXT.format(exec="/usr/bin/sdw-login"))
    autostart.chmod(0o664)


def click_icon(dom0: InstalledDom0) -> str:
    """What the icon's Exec starts (found through the session's PATH), asked for --version."""
    program = coexist.exec_program((dom0.home / coexist.ICON_ENTRY).read_text())
    assert program is not None
    return dom0.ok([program, "--version"]).strip()


def login_autostart(dom0: InstalledDom0) -> str:
    """What the autostart entry's program (upstream's sdw-login) ends up running."""
    program = coexist.exec_program((dom0.home / coexist.AUTOSTART_ENTRY).read_text())
    assert program == "/usr/bin/sdw-login"
    return dom0.ok([program, "--version"]).strip()


def launcher(dom0: InstalledDom0, program: str = "sdw-updater") -> dict[str, object]:
    """``--status``'s launcher key, as the journalist (or an admin in dom0's terminal) gets it."""
    return json.loads(dom0.ok([program, "--status"]))["launcher"]


def unit_state(dom0: InstalledDom0, unit: str) -> str:
    return dom0.run(["systemctl", "--global", "is-enabled", unit]).stdout.strip()


TREES = ("/etc/systemd/user", "/usr/local/bin", "/var/lib/securedrop-updater")

# Lists the trees named on its command line, and the journalist's entries.
LISTING = """
import hashlib, json, os, sys
found = {}
for top in sys.argv[1:]:
    for base, dirs, files in os.walk(top):
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            st = os.lstat(path)
            if os.path.islink(path):
                found[path] = "link " + os.readlink(path)
            elif os.path.isdir(path):
                found[path] = "dir %o" % st.st_mode
            else:
                digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
                found[path] = "file %o %s" % (st.st_mode, digest)
print(json.dumps(found, sort_keys=True))
"""


def tree(dom0: InstalledDom0) -> dict[str, str]:
    """What the switch may touch, and the journalist's entries (a user's view)."""
    listing = json.loads(dom0.ok(["python3", "-c", LISTING, *TREES]))
    for name in (coexist.ICON_ENTRY, coexist.AUTOSTART_ENTRY):
        data = (dom0.home / name).read_bytes()
        listing[f"~/{name}"] = hashlib.sha256(data).hexdigest()
    return listing


def test_the_dom0_runs_securedrop_workstations_launcher_until_switched(dom0: InstalledDom0) -> None:
    """Installing ours changed and enabled nothing of the launcher."""
    assert STANDIN_SAYS in click_icon(dom0)
    assert STANDIN_SAYS in login_autostart(dom0)
    assert unit_state(dom0, "sdw-notify.timer") == "enabled"
    assert unit_state(dom0, coexist.OUR_TIMER) == "disabled"
    found = launcher(dom0, "securedrop-updater")  # the admin's name for ours
    assert found["icon"] == found["autostart"] == coexist.UPSTREAM
    assert (found["switch"], found["undone"], found["local_bin_first"]) == ("off", False, True)
    proc = dom0.run([SWITCH, "status"], path_env=SUDO_PATH)
    assert proc.returncode == 0, proc.stderr
    assert "switch: off" in proc.stdout
    assert "journalist: the SecureDrop icon runs SecureDrop Workstation's own updater" in (
        proc.stdout
    )


def test_on_survives_salt_then_off_leaves_everything_as_it_was(dom0: InstalledDom0) -> None:
    before = tree(dom0)
    proc = dom0.run([SWITCH, "on"], path_env=SUDO_PATH)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "next login" in proc.stdout
    # The icon, the login autostart (upstream's sdw-login, through PATH) run ours.
    assert click_icon(dom0).startswith(OURS_SAYS)
    assert login_autostart(dom0).startswith(OURS_SAYS)
    assert unit_state(dom0, "sdw-notify.timer") == "masked"
    assert unit_state(dom0, coexist.OUR_TIMER) == "enabled"
    found = launcher(dom0)
    assert found["icon"] == found["autostart"] == coexist.OURS
    assert found["icon_runs"] == "/usr/libexec/securedrop-updater/sdw-updater"
    assert (found["switch"], found["upstream_timer_masked"], found["our_timer_enabled"]) == (
        "on",
        True,
        True,
    )
    assert found["undone"] is False
    # SecureDrop Workstation's Salt run rewrites both entries: still ours.
    salt_apply(dom0)
    assert click_icon(dom0).startswith(OURS_SAYS)
    assert launcher(dom0)["undone"] is False
    # An update of upstream's package applies its preset again (its %post ends in
    # "|| :"): systemctl refuses a masked unit, and the mask holds.
    preset = ["systemctl", "--no-reload", "--preset-mode=enable-only", "--global", "preset"]
    proc = dom0.run([*preset, "sdw-notify.timer"])
    assert "is masked" in proc.stderr
    assert unit_state(dom0, "sdw-notify.timer") == "masked"
    status = dom0.run([SWITCH, "status"], path_env=SUDO_PATH)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "journalist: the SecureDrop icon runs this updater" in status.stdout
    proc = dom0.run([SWITCH, "off"], path_env=SUDO_PATH)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert tree(dom0) == before
    assert STANDIN_SAYS in click_icon(dom0)
    assert STANDIN_SAYS in login_autostart(dom0)
    assert unit_state(dom0, "sdw-notify.timer") == "enabled"
    assert unit_state(dom0, coexist.OUR_TIMER) == "disabled"


def fresh_status(home: Path) -> None:
    """The journalist's workstation was updated a minute ago: a click takes the fast path."""
    state = home / ".securedrop_updater"
    state.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 60))
    (state / "sdw-update-status").write_text(
        json.dumps({"status": "0", "last_status_update": stamp})
    )
    (state / "sdw-last-updated").write_text(stamp)


def test_what_undoes_the_switch_is_seen_said_and_on_again_repairs(dom0: InstalledDom0) -> None:
    dom0.ok([SWITCH, "on"], path_env=SUDO_PATH)
    # A Salt run that wrote an absolute Exec: no PATH can help, the icon runs upstream's.
    salt_apply(dom0, icon_exec="/usr/bin/sdw-updater")
    assert STANDIN_SAYS in click_icon(dom0)
    found = launcher(dom0)
    assert (found["icon"], found["undone"], found["undone_parts"]) == (
        coexist.UPSTREAM,
        True,
        ["icon"],
    )
    status = dom0.run([SWITCH, "status"], path_env=SUDO_PATH)
    assert status.returncode == 1
    assert "undone: journalist: icon" in status.stdout
    # Our updater, started otherwise (the notifier, an admin), says so in its log.
    fresh_status(dom0.home)
    dom0.run(["sdw-updater"])  # no Qubes here: the app cannot start (exit 8), the log is written
    log = (dom0.home / ".securedrop_updater" / "logs" / "updater.log").read_text()
    assert "securedrop-updater-switch is on, but this is undone: the SecureDrop icon runs " in log
    assert "/usr/bin/sdw-updater (upstream)" in log
    # The next Salt run writes Exec=sdw-updater again: ours again, nothing more said.
    salt_apply(dom0)
    assert launcher(dom0)["undone"] is False
    # An admin removes a link and lifts the mask: undone; on again repairs.
    dom0.ok(["rm", "/usr/local/bin/sdw-updater"])
    dom0.ok(["systemctl", "--global", "unmask", "sdw-notify.timer"])
    found = launcher(dom0, "securedrop-updater")
    assert (found["icon"], found["undone_parts"]) == (
        coexist.UPSTREAM,
        ["icon", "autostart", "upstream_timer"],
    )
    proc = dom0.run([SWITCH, "on"], path_env=SUDO_PATH)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert launcher(dom0)["undone"] is False
    assert click_icon(dom0).startswith(OURS_SAYS)


def test_off_keeps_what_an_admin_had_set_and_what_is_no_longer_ours(dom0: InstalledDom0) -> None:
    dom0.ok(["systemctl", "--global", "mask", "sdw-notify.timer"])  # an admin's own choice
    before = tree(dom0)
    dom0.ok([SWITCH, "on"], path_env=SUDO_PATH)
    # Someone points one link elsewhere while the switch is on.
    dom0.ok(["ln", "-sfn", "/usr/bin/sdw-notify", "/usr/local/bin/sdw-notify"])
    proc = dom0.run([SWITCH, "off"], path_env=SUDO_PATH)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Left /usr/local/bin/sdw-notify alone" in proc.stdout
    assert unit_state(dom0, "sdw-notify.timer") == "masked"
    after = tree(dom0)
    assert after.pop("/usr/local/bin/sdw-notify") == "link /usr/bin/sdw-notify"
    assert after == before


def test_on_refuses_a_file_that_is_not_its_link(dom0: InstalledDom0) -> None:
    dom0.ok(["sh", "-c", "echo '#!/bin/sh' > /usr/local/bin/sdw-login"])
    before = tree(dom0)
    proc = dom0.run([SWITCH, "on"], path_env=SUDO_PATH)
    assert proc.returncode == 3
    assert "/usr/local/bin/sdw-login exists and is not this package's link" in proc.stderr
    assert tree(dom0) == before


def test_removing_the_package_switches_off_and_leaves_upstreams_launcher(
    dom0: InstalledDom0,
) -> None:
    """``dnf remove`` runs our %preun: the switch goes off, upstream's launcher works."""
    before = tree(dom0)
    dom0.ok([SWITCH, "on"], path_env=SUDO_PATH)
    proc = dom0.run([*RPM, "-e", "securedrop-updater"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert dom0.run([*RPM, "-q", "securedrop-updater"]).returncode != 0
    verify = dom0.run([*RPM, "-V", UPSTREAM_NAME])
    assert (verify.returncode, verify.stdout) == (0, ""), verify.stdout + verify.stderr
    assert tree(dom0) == before
    # The package's own directory (the switch's record) goes with it.
    assert dom0.run(["test", "-e", "/var/lib/securedrop-updater"]).returncode == 1
    assert STANDIN_SAYS in click_icon(dom0)
    assert STANDIN_SAYS in login_autostart(dom0)
    assert unit_state(dom0, "sdw-notify.timer") == "enabled"
