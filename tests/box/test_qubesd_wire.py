"""The simulated qubesd's wire protocol and the fake qrexec-client's parsing (no root needed).

Checked against docs/qubes-tools.md, "The Admin API on the wire": the request
header, the three kinds of answer, the event stream; and that anything
malformed gets the empty answer (what a denied call gets), never a crash.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sdw_sim
from sdw_sim import qrexec, qubesd
from sdw_sim.journal import read_journal
from sdw_updater.contract import CLIENT_VM


def make(tmp_path: Path, toml: str = "") -> qubesd.Qubesd:
    path = tmp_path / "scenario.toml"
    path.write_text(toml)
    env = sdw_sim.setup(path, tmp_path / "state")
    return qubesd.Qubesd(env.sim_dir)


def call(
    q: qubesd.Qubesd, method: str, dest: str = "dom0", arg: str = "", payload: bytes = b""
) -> bytes:
    return q.answer(qubesd.Request(method, arg, dest, payload))


def parse_error(reply: bytes) -> tuple[str, str]:
    """What qubesadmin does with an exception answer (split in five at NULs)."""
    assert reply.startswith(b"2\0")
    _, kind, traceback, message, rest = reply.split(b"\0", 4)
    assert traceback == b"" and rest == b""
    return kind.decode(), message.decode()


def test_header_parsing() -> None:
    assert qubesd.parse_header(b"admin.vm.List+ dom0 name dom0") == ("admin.vm.List", "", "dom0")
    assert qubesd.parse_header(b"admin.vm.feature.Get+os dom0 name sys-net") == (
        "admin.vm.feature.Get",
        "os",
        "sys-net",
    )
    for bad in (
        b"admin.vm.List dom0 name dom0",  # no "+"
        b"admin.vm.List+ sys-net name dom0",  # not from dom0
        b"admin.vm.List+ dom0 dom0",
        b"evil.Call+ dom0 name dom0",
        b"admin.vm.List+ dom0 name ",
        b"admin.vm.List+\x1b dom0 name dom0",
        b"admin.vm.List+ dom0 name d\xffom0",
    ):
        with pytest.raises(qubesd.Refused):
            qubesd.parse_header(bad)


@given(st.binary(max_size=300))
def test_any_header_is_parsed_or_refused(header: bytes) -> None:
    try:
        method, _arg, dest = qubesd.parse_header(header)
    except qubesd.Refused:
        return
    assert method.startswith("admin.") and dest


def test_answers(tmp_path: Path) -> None:
    q = make(tmp_path)
    listing = call(q, "admin.vm.List")
    assert listing.startswith(b"0\0")
    lines = listing[2:].decode().splitlines()
    assert [line.split()[0] for line in lines] == sorted(q.scenario.vms)
    assert any(line.startswith(f"{CLIENT_VM} class=AppVM state=Halted uuid=") for line in lines)
    template = q.scenario.vms[CLIENT_VM].template
    assert call(q, "admin.vm.property.Get", CLIENT_VM, "template") == (
        f"0\0default=False type=vm {template}".encode()
    )
    assert parse_error(call(q, "admin.vm.property.Get", str(template), "template"))[0] == (
        "QubesNoSuchPropertyError"
    )
    assert parse_error(call(q, "admin.vm.List", "no-such-vm"))[0] == "QubesVMNotFoundError"
    assert parse_error(call(q, "admin.vm.feature.Get", CLIENT_VM, "nope"))[0] == (
        "QubesFeatureNotFoundError"
    )
    assert call(q, "admin.vm.CurrentState", CLIENT_VM).endswith(b"power_state=Halted")
    assert call(q, "admin.no.such.Method", CLIENT_VM) == b""  # denied, as qubesd's policy does


def test_changes_are_journaled_like_the_fake_app(tmp_path: Path) -> None:
    q = make(tmp_path)
    assert call(q, "admin.vm.Start", CLIENT_VM) == b"0\0"
    assert call(q, "admin.vm.feature.Set", CLIENT_VM, "x", b"1") == b"0\0"
    assert call(q, "admin.vm.Shutdown", CLIENT_VM, "force+wait") == b"0\0"
    kind, message = parse_error(call(q, "admin.vm.Shutdown", CLIENT_VM))
    assert kind == "QubesVMNotStartedError" and CLIENT_VM in message
    assert parse_error(call(q, "admin.vm.Shutdown", CLIENT_VM, "now"))[0] == "QubesValueError"
    assert [(r["tool"], r["argv"], r["exit"]) for r in read_journal(q.app.journal_path)] == [
        ("qubesadmin", ["start", CLIENT_VM], 0),
        ("qubesadmin", ["feature-set", CLIENT_VM, "x", "1"], 0),
        ("qubesadmin", ["shutdown", CLIENT_VM, "force", "wait"], 0),
        ("qubesadmin", ["shutdown", CLIENT_VM], 1),
    ]


def test_faults(tmp_path: Path) -> None:
    q = make(
        tmp_path,
        f'[[qubesd.rule]]\nmethod = "admin.vm.tag.List"\nvm = "{CLIENT_VM}"\n'
        '[[qubesd.rule]]\nmethod = "admin.vm.List"\nanswer = "error"\nerror = "QubesException"\n'
        f'[qubesd.vms."{CLIENT_VM}"]\nappear_after = 3\n',
    )
    assert call(q, "admin.vm.tag.List", CLIENT_VM) == b""
    assert parse_error(call(q, "admin.vm.List"))[0] == "QubesException"
    assert parse_error(call(q, "admin.vm.CurrentState", CLIENT_VM))[0] == "QubesVMNotFoundError"
    assert call(q, "admin.vm.CurrentState", CLIENT_VM).startswith(b"0\0")  # the 4th call


@pytest.mark.parametrize(
    "toml",
    [
        '[[qubesd.rule]]\nmethod = "vm.List"\n',
        '[[qubesd.rule]]\nmethod = "admin.vm.List"\nvm = "nope"\n',
        '[[qubesd.rule]]\nmethod = "admin.vm.List"\ndelay = 1\n',
        '[[qubesd.rule]]\nmethod = "admin.vm.List"\nanswer = "error"\nerror = "a b"\n',
        '[qubesd.vms."nope"]\nappear_after = 1\n',
        '[qubesd.vms."dom0"]\nappear_after = 1\n',
        f'[qubesd.vms."{CLIENT_VM}"]\n',
        f'[qubesd.vms."{CLIENT_VM}"]\nappear_with = "bash"\n',
        "[qubesd]\nvanish_after = -1\n",
        "[qubesd]\ndelay = 99999\n",
        "[qubesd]\nbogus = 1\n",
        "[qrexec]\napp_exit_after = -1\n",
    ],
)
def test_bad_box_keys_are_scenario_errors(toml: str) -> None:
    with pytest.raises(sdw_sim.ScenarioError):
        sdw_sim.scenario.parse_scenario(__import__("tomllib").loads(toml))


def test_the_socket_and_the_event_stream(tmp_path: Path) -> None:
    q = make(tmp_path)
    path = str(tmp_path / "qubesd.sock")
    server, thread = qubesd.serve(q.app.sim_dir, path)
    try:
        events = socket.socket(socket.AF_UNIX)
        events.connect(path)
        events.sendall(b"admin.Events+ dom0 name dom0\0")
        events.shutdown(socket.SHUT_WR)
        received = bytearray()
        # The subscription is live once qubesd says so: a start before that is not
        # the stream's to report.
        while b"connection-established\0\0" not in received:
            chunk = events.recv(4096)
            assert chunk, bytes(received)
            received.extend(chunk)

        def read_events() -> None:
            while b"domain-start" not in received:
                chunk = events.recv(4096)
                if not chunk:
                    return
                received.extend(chunk)

        reader = threading.Thread(target=read_events)
        reader.start()
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)
        client.sendall(f"admin.vm.Start+ dom0 name {CLIENT_VM}\0".encode())
        client.shutdown(socket.SHUT_WR)
        assert client.makefile("rb").read() == b"0\0"
        reader.join(timeout=30)
        events.close()
    finally:
        qubesd.stop(server, thread)
    assert received.startswith(b"1\0\0connection-established\0\0")
    assert f"1\0{CLIENT_VM}\0domain-start\0".encode() in received


# ----- the fake qrexec-client -------------------------------------------------------------


def encode(args: list[str]) -> str:
    """VMExec's encoding (reference: qubes.VMExec): '-' doubled, other unsafe bytes -XX."""
    parts = []
    for arg in args:
        out = []
        for byte in arg.encode():
            char = chr(byte)
            if char.isascii() and (char.isalnum() or char in "_."):
                out.append(char)
            elif char == "-":
                out.append("--")
            else:
                out.append(f"-{byte:02X}")
        parts.append("".join(out))
    return "+".join(parts)


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5))
def test_vmexec_arguments_round_trip(args: list[str]) -> None:
    assert qrexec.decode_vmexec(encode(args)) == [
        a.encode().decode("utf-8", "surrogateescape") for a in args
    ]


def test_qrexec_client_command_lines() -> None:
    call_ = qrexec.parse_args(["-d", "sys-net", "-e", "user:QUBESRPC qubes.VMShell+ dom0"])
    assert (call_.vm, call_.user, call_.service, call_.no_wait) == (
        "sys-net",
        "user",
        "qubes.VMShell",
        True,
    )
    assert qrexec.parse_args(["-d", "x", "-p", "ls; exit\n", "root:QUBESRPC a+b dom0"]).prefix == (
        b"ls; exit\n"
    )
    for bad in (
        ["user:QUBESRPC qubes.VMShell dom0"],
        ["-d", "x", "user:qubes.VMShell"],
        ["-d", "x", "-l", "cat", "user:QUBESRPC a dom0"],
        ["-d", "x", "--weird", "user:QUBESRPC a dom0"],
        ["-d", "x", "user:QUBESRPC a sys-net"],
    ):
        with pytest.raises(qrexec.UsageError):
            qrexec.parse_args(bad)
