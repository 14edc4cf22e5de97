"""The files installed into dom0 are valid, with the names the RPM spec installs.

Every name is our own (SecureDrop Workstation's securedrop-workstation-dom0-config
owns sdw-notify.timer, press.freedom.SecureDropUpdater.desktop and the rest:
docs/dom0-install.md), and nothing enables itself: no autostart entry, no preset.

The validators come from Debian's ``desktop-file-utils`` and ``systemd``
packages (``make test`` installs both); without one, the test that needs it
fails naming the package (``tests/helpers/needs.py``).
"""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import ROOT
from helpers.needs import tool as _tool

FILES = ROOT / "files"
DESKTOP_ENTRY = FILES / "securedrop-updater.desktop"
SERVICE = FILES / "securedrop-updater-notify.service"
TIMER = FILES / "securedrop-updater-notify.timer"
NOTIFIER = "/usr/libexec/securedrop-updater/sdw-notify"
SVG = FILES / "icons" / "securedrop-updater.svg"
SIZES = (16, 32, 48, 64, 128, 256)
TIMEOUT = 60


def _ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


# ----- desktop entries ----------------------------------------------------------


def test_desktop_file_validates_cleanly():
    tool = _tool("desktop-file-validate")
    result = subprocess.run(
        [tool, str(DESKTOP_ENTRY)], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Not even hints or warnings.
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_our_desktop_entry_runs_our_updater_and_stays_out_of_the_menu():
    """Installing adds no second "SecureDrop" to the menu; its id is not upstream's."""
    entry = _ini(DESKTOP_ENTRY)["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Exec"] == "securedrop-updater"
    assert entry["Icon"] == "securedrop-updater"
    assert entry["Terminal"] == "false"
    assert entry["NoDisplay"] == "true"


def test_nothing_enables_itself():
    """No autostart entry (a second updater at login) and no preset (a second reminder)."""
    names = sorted(p.name for p in FILES.iterdir() if p.is_file())
    assert not [n for n in names if n.endswith(".preset")]
    assert names == [
        "securedrop-updater-notify.service",
        "securedrop-updater-notify.timer",
        "securedrop-updater.desktop",
    ]


# ----- systemd user units -------------------------------------------------------


def test_unit_contents():
    service = _ini(SERVICE)
    assert service["Service"]["Type"] == "oneshot"
    assert service["Service"]["ExecStart"] == NOTIFIER
    timer = _ini(TIMER)
    assert timer["Timer"]["OnStartupSec"] == "2h"
    assert timer["Timer"]["OnUnitActiveSec"] == "2h"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_units_verify(tmp_path):
    """``systemd-analyze verify --user`` with nothing to say, on a faithful copy.

    ``/usr/libexec/securedrop-updater/sdw-notify`` exists only once the RPM is installed, and verify
    checks that ExecStart is executable, so the copy points at this
    checkout's console script; that one line is the only difference.
    """
    tool = _tool("systemd-analyze")
    script = Path(sys.executable).parent / "sdw-notify"
    if not script.is_file():
        found = shutil.which("sdw-notify")
        assert found, "the sdw-notify console script is not installed"
        script = Path(found)
    units = tmp_path / "units"
    units.mkdir()
    original = SERVICE.read_text()
    copy = original.replace(f"ExecStart={NOTIFIER}", f"ExecStart={script}")
    assert copy.count(str(script)) == 1 and copy != original
    (units / SERVICE.name).write_text(copy)
    shutil.copy(TIMER, units / TIMER.name)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "SYSTEMD_LOG_COLOR": "0",
    }
    result = subprocess.run(
        [tool, "verify", "--user", "--man=no", str(units / TIMER.name), str(units / SERVICE.name)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        cwd=units,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # verify exits 0 even for unknown keys or bad time spans: demand silence.
    assert result.stderr.strip() == "", result.stderr


def test_verify_would_catch_a_mistake(tmp_path):
    """The check above is not vacuous: a typo in the timer is reported."""
    tool = _tool("systemd-analyze")
    bad = tmp_path / TIMER.name
    bad.write_text(TIMER.read_text().replace("OnUnitActiveSec=2h", "OnUnitActiveSec=2 hourz"))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    result = subprocess.run(
        [tool, "verify", "--user", "--man=no", str(bad)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        check=False,
    )
    assert "OnUnitActiveSec" in result.stderr or "2 hourz" in result.stderr


def test_the_timer_can_be_enabled_for_every_user(tmp_path):
    """What the switch runs, on a root laid out as the RPM installs it; and where it links."""
    tool = _tool("systemctl")
    user_units = tmp_path / "usr/lib/systemd/user"
    user_units.mkdir(parents=True)
    shutil.copy(SERVICE, user_units)
    shutil.copy(TIMER, user_units)
    result = subprocess.run(
        [tool, f"--root={tmp_path}", "--global", "enable", TIMER.name],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    link = tmp_path / "etc/systemd/user/timers.target.wants" / TIMER.name
    assert link.is_symlink()
    # Where sdw_updater.coexist looks to tell the timer is enabled, without systemctl.
    from sdw_updater import coexist

    assert coexist.OUR_TIMER == TIMER.name
    wants = f"{coexist.GLOBAL_USER_UNITS}/{coexist.OUR_TIMER_WANTED_BY}.wants/{TIMER.name}"
    assert "/" + str(link.relative_to(tmp_path)) == wants


# ----- icons --------------------------------------------------------------------


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("size", SIZES)
def test_png_icon_sizes(size):
    path = FILES / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "securedrop-updater.png"
    assert path.is_file()
    assert _png_size(path) == (size, size)


def test_svg_icon_is_square_xml():
    root = ET.fromstring(SVG.read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")
    _, _, width, height = root.attrib["viewBox"].split()
    assert width == height


def test_render_script_reproduces_the_pngs(tmp_path, qapp):
    """``files/icons/render.py`` still works and draws something at every size."""
    from launcher.qt import QImage

    sys.path.insert(0, str(FILES / "icons"))
    try:
        import render
    finally:
        sys.path.pop(0)
    written = render.render(SVG, tmp_path)
    assert [_png_size(p) for p in written] == [(s, s) for s in SIZES]
    image = QImage(str(written[-1]))
    centre = image.pixelColor(128, 128)
    corner = image.pixelColor(0, 0)
    assert centre.alpha() == 255  # the shield
    assert corner.alpha() == 0  # transparent background
