"""``sdw-login`` (``sdw_notify/login.py``): a bounded wait for the desktop session, then ``sdw-updater``.

The session is ready when its display (Wayland socket, X's abstract socket)
and session bus accept a connection; the wait is bounded and returns as soon
as they do.  Started through a link, it runs the updater of its own install.
The console script at a login: tests/e2e/test_login.py.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from sdw_notify import login


def test_nothing_set_is_not_ready():
    assert login.session_ready({}) is False


def test_wayland_socket_absolute_and_relative(tmp_path, listening):
    path = listening(str(tmp_path / "wayland-7"))
    assert login.wayland_ready({"WAYLAND_DISPLAY": path})
    assert login.wayland_ready({"WAYLAND_DISPLAY": "wayland-7", "XDG_RUNTIME_DIR": str(tmp_path)})
    assert not login.wayland_ready({"WAYLAND_DISPLAY": "wayland-7"})  # no runtime dir
    assert not login.wayland_ready({"WAYLAND_DISPLAY": str(tmp_path / "wayland-8")})


def test_a_socket_file_nobody_listens_on_is_not_ready(tmp_path):
    stale = tmp_path / "stale"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(stale))
    sock.close()  # the file stays, nothing accepts
    assert stale.exists()
    assert not login.wayland_ready({"WAYLAND_DISPLAY": str(stale)})


def test_x_display_on_its_abstract_socket(listening):
    number = 9000 + os.getpid() % 1000
    listening(f"\0/tmp/.X11-unix/X{number}")
    assert login.x11_ready({"DISPLAY": f":{number}"})
    assert login.x11_ready({"DISPLAY": f":{number}.0"})
    assert login.x11_ready({"DISPLAY": f"unix:{number}"})
    assert not login.x11_ready({"DISPLAY": f":{number + 1}"})


@pytest.mark.parametrize("value", ["", "garbage", ":", ":x", "host:1:2"])
def test_malformed_display_is_not_ready(value):
    assert not login.x11_ready({"DISPLAY": value})


def test_session_bus(tmp_path, listening):
    bus = listening(str(tmp_path / "bus"))
    assert login.bus_ready({})  # no bus configured: nothing to wait for
    assert login.bus_ready({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}"})
    assert login.bus_ready({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus},guid=0123abcd"})
    assert not login.bus_ready({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/nobus"})
    # the second address of a list may be the live one
    address = f"unix:path={tmp_path}/nobus;unix:path={bus}"
    assert login.bus_ready({"DBUS_SESSION_BUS_ADDRESS": address})
    name = f"sdw-test-bus-{os.getpid()}"
    listening("\0" + name)
    assert login.bus_ready({"DBUS_SESSION_BUS_ADDRESS": f"unix:abstract={name}"})
    assert login.bus_ready({"DBUS_SESSION_BUS_ADDRESS": "tcp:host=localhost,port=1"})


def test_percent_escaped_bus_path(tmp_path, listening):
    bus = listening(str(tmp_path / "my bus"))
    escaped = bus.replace(" ", "%20")
    assert login.bus_ready({"DBUS_SESSION_BUS_ADDRESS": f"unix:path={escaped}"})


def test_display_ready_but_bus_not_yet(tmp_path, listening):
    display = listening(str(tmp_path / "wayland-0"))
    env = {"WAYLAND_DISPLAY": display, "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/bus"}
    assert not login.session_ready(env)
    listening(str(tmp_path / "bus"))
    assert login.session_ready(env)


def test_wait_is_bounded():
    started = time.monotonic()
    assert login.wait_for_session(0.6, {}) is False
    elapsed = time.monotonic() - started
    assert 0.55 <= elapsed < 2.0


def test_wait_returns_as_soon_as_the_session_is_up(tmp_path, listening):
    path = str(tmp_path / "wayland-1")
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:
            listening(path)  # the compositor comes up during the wait

    assert login.wait_for_session(60, {"WAYLAND_DISPLAY": path}, sleep=sleep) is True
    assert len(polls) == 3
    assert all(0 < s <= login.POLL for s in polls)


@pytest.mark.parametrize("bad", ["-1", "601", "soon", "nan"])
def test_bad_durations_are_usage_errors(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        login.build_parser().parse_args(["--wait", bad])
    assert exc.value.code == 2


def test_finds_the_updater_beside_itself(tmp_path):
    fake = tmp_path / "sdw-updater"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert login.find_updater(str(tmp_path / "sdw-login")) == str(fake)


def test_started_through_a_link_it_runs_the_updater_of_its_own_install(tmp_path):
    """As installed: /usr/bin/securedrop-updater-login links to libexec's sdw-login.

    Beside the link is SecureDrop Workstation's own /usr/bin/sdw-updater; the
    updater of this install is beside the link's target, and that one must run.
    """
    bindir = tmp_path / "usr" / "bin"
    libexec = tmp_path / "usr" / "libexec" / "securedrop-updater"
    bindir.mkdir(parents=True)
    libexec.mkdir(parents=True)
    for program in (bindir / "sdw-updater", libexec / "sdw-updater", libexec / "sdw-login"):
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    (bindir / "securedrop-updater-login").symlink_to("../libexec/securedrop-updater/sdw-login")
    found = login.find_updater(str(bindir / "securedrop-updater-login"))
    assert found == str(libexec / "sdw-updater")
