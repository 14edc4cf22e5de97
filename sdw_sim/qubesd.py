"""A simulated qubesd: the simulator's workstation served over the Admin API socket.

The box tier (docs/simulator.md, "The box") runs the product in its real mode
with the real ``qubesadmin`` client and the real ``qvm-*`` tools and
``qubes-vm-update``.  They talk to qubesd over ``/run/qubesd.sock``; this
module answers them in qubesd's wire protocol (docs/qubes-tools.md, "The Admin
API on the wire")
from the very state the built-in simulator keeps (``StateStore``,
``Scenario``), through the built-in simulator's own ``FakeApp``, so both tiers
see one world and journal changing actions alike (tool ``qubesadmin``).

Wire protocol, per connection: the client sends ``method+arg dom0 name
dest`` and a NUL, then an optional payload, then closes its write side.  The
answer is ``0`` NUL + data, or ``2`` NUL + exception type NUL + traceback
(empty) NUL + message NUL, or nothing at all (access denied).
``admin.Events`` keeps the connection and streams ``1`` NUL + subject NUL +
event NUL + (key NUL value NUL)* NUL.

Faults come from the scenario's ``[qubesd]`` table: refuse, slow down or
fail given calls, vanish after N calls, hide a VM until (or from) a moment.
Everything a client sends is untrusted: bounded, strictly parsed; anything
that does not parse gets the empty answer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sdw_sim import app as fake
from sdw_sim.journal import read_journal
from sdw_sim.scenario import QubesdRule, Scenario, VMSpec, parse_scenario
from sdw_sim.state import SCENARIO_FILE

SOCKET_PATH = "/run/qubesd.sock"
MAX_HEADER = 1024
MAX_PAYLOAD = 64 * 1024 * 1024
EVENT_POLL = 0.1  # seconds between looks at power states changed by other processes

OK = b"0\0"
EVENT = b"1\0"
DENIED = b""

LABELS = {
    "red": "0xcc0000",
    "orange": "0xf57900",
    "yellow": "0xedd400",
    "green": "0x73d216",
    "gray": "0x555753",
    "blue": "0x3465a4",
    "purple": "0x75507b",
    "black": "0x000000",
}


class ApiError(Exception):
    """An exception qubesd sends back: its class name and ``str(exc)``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Refused(Exception):
    """The call gets the empty answer (what qubesd's policy does to a denied call)."""


@dataclass(frozen=True)
class Request:
    """One parsed call."""

    method: str
    arg: str
    dest: str
    payload: bytes

    def __str__(self) -> str:
        return f"{self.method}+{self.arg} {self.dest}"


def parse_header(header: bytes) -> tuple[str, str, str]:
    """``method+arg dom0 name dest`` -> (method, arg, dest); Refused when malformed."""
    try:
        text = header.decode("ascii")
    except UnicodeDecodeError as exc:
        raise Refused from exc
    parts = text.split(" ")
    if len(parts) != 4 or parts[1] != "dom0" or parts[2] != "name":
        raise Refused
    method, plus, arg = parts[0].partition("+")
    if not plus or not method.startswith("admin.") or not parts[3]:
        raise Refused
    if not all(c.isprintable() for c in text):
        raise Refused
    return method, arg, parts[3]


def ok(data: bytes | str = b"") -> bytes:
    return OK + (data.encode() if isinstance(data, str) else data)


def error_reply(kind: str, message: str) -> bytes:
    """An exception answer: type, an empty traceback (qubesd not in debug mode), message."""
    return b"2\0" + kind.encode("ascii") + b"\0\0" + message.encode("utf-8", "replace") + b"\0"


def event_bytes(subject: str, event: str, **kwargs: str) -> bytes:
    data = EVENT + subject.encode() + b"\0" + event.encode() + b"\0"
    for key, value in kwargs.items():
        data += key.encode() + b"\0" + value.encode() + b"\0"
    return data + b"\0"


def _escape(value: str) -> str:
    """property.GetAll escapes backslashes and newlines (one property a line)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


# ----- what Qubes knows about a VM ------------------------------------------------

Prop = tuple[bool, str, str]  # (is default, type, value as text)


class Qubesd:
    """The Admin API of the simulated workstation (no sockets here: see ``serve``)."""

    def __init__(
        self, sim_dir: Path, scenario: Scenario | None = None, log: Callable[[str], None] = print
    ) -> None:
        if scenario is None:
            stored = json.loads((sim_dir / SCENARIO_FILE).read_bytes())
            scenario = parse_scenario(stored["raw"], stored.get("source", ""))
        self.scenario = scenario
        self.settings = scenario.qubesd
        self.app = fake.FakeApp(scenario, sim_dir)
        self.log = log
        self.started = 0
        self.calls = 0  # answered so far: what the [qubesd] counts refer to
        self._lock = threading.Lock()
        self.changed = threading.Condition()
        self.vanished = threading.Event()
        self._journal_size = -1
        self._tools_ok: set[str] = set()
        others = sorted(name for name in scenario.vms if name != "dom0")
        self.qids = {"dom0": 0, **{name: index for index, name in enumerate(others, 1)}}

    # ----- faults -------------------------------------------------------------

    def _count(self) -> int:
        """The number of the call that starts now (1, 2, ...)."""
        with self._lock:
            self.started += 1
            return self.started

    def _answered(self) -> None:
        with self._lock:
            self.calls += 1

    def _tool_succeeded(self, tool: str) -> bool:
        """Has this simulated tool run and exited 0 (per the journal)?"""
        path = self.app.journal_path
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        if size != self._journal_size:
            self._journal_size = size
            self._tools_ok = {str(r.get("tool")) for r in read_journal(path) if r.get("exit") == 0}
        return tool in self._tools_ok

    def exists(self, name: str, answered: int | None = None) -> bool:
        """Is this VM there now (``[qubesd.vms]`` hide some for part of the run)?"""
        if name not in self.scenario.vms:
            return False
        spec = self.settings.vms.get(name)
        if spec is None:
            return True
        answered = self.calls if answered is None else answered
        present = True
        if spec.appear_after is not None and answered < spec.appear_after:
            present = False
        if spec.appear_with is not None and not self._tool_succeeded(spec.appear_with):
            present = False
        if spec.disappear_after is not None and answered >= spec.disappear_after:
            present = False
        if spec.disappear_with is not None and self._tool_succeeded(spec.disappear_with):
            present = False
        return present

    def visible(self) -> list[str]:
        return [name for name in sorted(self.scenario.vms) if self.exists(name)]

    def _rule(self, request: Request) -> QubesdRule | None:
        for rule in self.settings.rules:
            if rule.matches(request.method, request.dest, request.arg):
                return rule
        return None

    # ----- the call ----------------------------------------------------------

    def answer(self, request: Request) -> bytes:
        """The bytes qubesd sends back for one (non-event) call."""
        number = self._count()
        rule = self._rule(request)
        delay = self.settings.delay + (rule.delay if rule is not None else 0.0)
        if delay > 0:
            time.sleep(delay)
        try:
            if rule is not None and rule.answer == "refuse":
                raise Refused
            if rule is not None and rule.answer == "error":
                raise ApiError(rule.error, f"simulated {rule.error} for {request.method}")
            handler = HANDLERS.get(request.method) or _device_handler(request.method)
            if handler is None:
                self.log(f"qubesd: no such method {request.method} (call {number})")
                raise Refused
            data = handler(self, request)
            reply = ok(data)
            kind = "ok"
        except Refused:
            reply, kind = DENIED, "refused"
        except ApiError as exc:
            reply, kind = error_reply(exc.kind, exc.message), exc.kind
        except fake.QubesException as exc:
            reply, kind = error_reply(type(exc).__name__, str(exc)), type(exc).__name__
        self.log(f"qubesd: {number} {request} -> {kind}")
        self._answered()
        return reply

    def vm(self, name: str) -> fake.FakeVM:
        if not self.exists(name):
            raise ApiError("QubesVMNotFoundError", f"No such domain: {name!r}")
        return self.app.domains[name]

    def spec(self, name: str) -> VMSpec:
        return self.vm(name).spec

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    # ----- properties ----------------------------------------------------------

    def properties(self, name: str) -> dict[str, Prop]:
        """The properties this VM has, as qubesd would report them."""
        vm = self.vm(name)
        spec = vm.spec
        qid = self.qids.get(name, 0)
        ident = (
            "00000000-0000-0000-0000-000000000000"
            if spec.klass == "AdminVM"
            else str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.sdw-sim.invalid"))
        )
        props: dict[str, Prop] = {
            "name": (False, "str", name),
            "klass": (True, "str", spec.klass),
            "qid": (False, "int", str(qid)),
            "uuid": (False, "str", ident),
            "label": (False, "label", _label(spec)),
        }
        if spec.klass == "AdminVM":
            props.update(
                {
                    "updateable": (True, "bool", "True"),
                    "default_dispvm": (True, "vm", self._global_vm("default_dispvm")),
                    "include_in_backups": (True, "bool", "True"),
                    "keyboard_layout": (True, "str", "us++"),
                    "icon": (True, "str", "adminvm-black"),
                }
            )
            return props
        running = vm.is_running()
        props.update(
            {
                "updateable": (True, "bool", str(spec.template is None)),
                "netvm": self._netvm(spec),
                "provides_network": (True, "bool", str(self._provides_network(name))),
                "autostart": (True, "bool", "False"),
                "debug": (True, "bool", "False"),
                "default_user": (True, "str", "user"),
                "default_dispvm": (True, "vm", self._global_vm("default_dispvm")),
                "management_dispvm": (True, "vm", ""),
                "guivm": (True, "vm", "dom0"),
                "audiovm": (True, "vm", "dom0"),
                "include_in_backups": (True, "bool", "True"),
                "installed_by_rpm": (True, "bool", str(spec.klass == "TemplateVM")),
                "kernel": (True, "str", "6.12.59-1.fc41"),
                "kernelopts": (True, "str", ""),
                "keyboard_layout": (True, "str", "us++"),
                "memory": (True, "int", "400"),
                "maxmem": (True, "int", "4000"),
                "vcpus": (True, "int", "2"),
                "virt_mode": (True, "str", "pvh"),
                "qrexec_timeout": (True, "int", "60"),
                "shutdown_timeout": (True, "int", "60"),
                "start_time": (True, "str", vm.start_time if running else ""),
                "xid": (True, "int", str(qid) if running else "-1"),
                "stubdom_xid": (True, "int", "-1"),
                "mac": (True, "str", f"00:16:3e:5e:6c:{qid % 256:02x}"),
                "ip": (True, "str", ""),
                "visible_ip": (True, "str", ""),
                "visible_gateway": (True, "str", ""),
                "visible_netmask": (True, "str", ""),
                "dns": (True, "str", ""),
                "gateway": (True, "str", ""),
            }
        )
        if spec.template is not None:
            props["template"] = (False, "vm", spec.template)
        if spec.klass in ("AppVM", "DispVM"):
            dispvm_template = bool(spec.features.get("template_for_dispvms"))
            props["template_for_dispvms"] = (not dispvm_template, "bool", str(dispvm_template))
        if spec.klass == "DispVM":
            props["auto_cleanup"] = (True, "bool", "False")
        return props

    def _netvm(self, spec: VMSpec) -> Prop:
        """``[vms."NAME"].netvm``: set explicitly, or none (a template's default)."""
        name = spec.netvm if spec.netvm is not None and self.exists(spec.netvm) else ""
        return (spec.netvm is None, "vm", name)

    def _provides_network(self, name: str) -> bool:
        return any(spec.netvm == name for spec in self.scenario.vms.values())

    def _global_vm(self, name: str) -> str:
        wanted = GLOBAL_VMS.get(name, "")
        if name == "updatevm":  # the scenario's [sim].updatevm ("" for none)
            wanted = self.scenario.sim.updatevm or ""
        return wanted if wanted and self.exists(wanted) else ""

    def global_properties(self) -> dict[str, Prop]:
        props: dict[str, Prop] = {name: (True, "vm", self._global_vm(name)) for name in GLOBAL_VMS}
        props.update(
            {
                "default_kernel": (True, "str", "6.12.59-1.fc41"),
                "default_pool": (True, "str", "vm-pool"),
                "stats_interval": (True, "int", "3"),
                "check_updates_vm": (True, "bool", "True"),
                "default_qrexec_timeout": (True, "int", "60"),
                "default_shutdown_timeout": (True, "int", "60"),
            }
        )
        return props


GLOBAL_VMS = {
    "default_template": "",
    "default_netvm": "sys-firewall",
    "updatevm": "sys-firewall",  # [sim].updatevm
    "clockvm": "sys-net",
    "default_dispvm": "",
    "management_dispvm": "",
    "default_guivm": "dom0",
    "default_audiovm": "dom0",
}


def _label(spec: VMSpec) -> str:
    if spec.klass in ("AdminVM", "TemplateVM"):
        return "black"
    if spec.name.startswith("sys-"):
        return "red"
    return "purple" if "sd-workstation" in spec.tags else "gray"


def _prop_line(prop: Prop) -> str:
    is_default, kind, value = prop
    return f"default={is_default} type={kind} {value}"


# ----- handlers --------------------------------------------------------------------

Handler = Callable[[Qubesd, Request], bytes | str]


def _vm_list(q: Qubesd, r: Request) -> str:
    names = q.visible() if r.dest == "dom0" else [q.vm(r.dest).name]
    lines = []
    for name in names:
        vm = q.app.domains[name]
        uid = q.properties(name)["uuid"][2]
        lines.append(f"{name} class={vm.klass} state={vm.get_power_state()} uuid={uid}\n")
    return "".join(lines)


def _no_such_property(r: Request) -> ApiError:
    return ApiError("QubesNoSuchPropertyError", f"Invalid property {r.arg!r} of {r.dest}")


def _props_for(q: Qubesd, r: Request) -> dict[str, Prop]:
    if r.method.startswith("admin.vm."):
        return q.properties(r.dest)
    return q.global_properties()


def _property_list(q: Qubesd, r: Request) -> str:
    return "".join(f"{name}\n" for name in sorted(_props_for(q, r)))


def _property_get(q: Qubesd, r: Request) -> str:
    props = _props_for(q, r)
    if r.arg not in props:
        raise _no_such_property(r)
    return _prop_line(props[r.arg])


def _property_get_all(q: Qubesd, r: Request) -> str:
    props = _props_for(q, r)
    return "".join(f"{name} {_escape(_prop_line(p))}\n" for name, p in sorted(props.items()))


def _property_get_default(q: Qubesd, r: Request) -> str:
    props = _props_for(q, r)
    if r.arg not in props:
        raise _no_such_property(r)
    is_default, kind, value = props[r.arg]
    return f"type={kind} {value}" if is_default else ""


def _property_set(q: Qubesd, r: Request) -> str:
    _props_for(q, r)
    raise ApiError("QubesException", f"setting {r.arg!r} is not simulated")


def _property_help(q: Qubesd, r: Request) -> str:
    if r.arg not in _props_for(q, r):
        raise _no_such_property(r)
    return f"{r.arg} (simulated)"


def _tag_list(q: Qubesd, r: Request) -> str:
    return "".join(f"{tag}\n" for tag in sorted(q.spec(r.dest).tags))


def _tag_get(q: Qubesd, r: Request) -> str:
    return "1" if r.arg in q.spec(r.dest).tags else "0"


def _not_simulated(q: Qubesd, r: Request) -> str:
    q.vm(r.dest)
    raise ApiError("QubesException", f"{r.method} is not simulated")


def _features(q: Qubesd, name: str) -> dict[str, str]:
    q.vm(name)
    return dict(q.app.domains[name].features.items())


def _feature_not_found(r: Request) -> ApiError:
    return ApiError("QubesFeatureNotFoundError", f"{r.dest}: feature {r.arg!r} not set")


def _feature_list(q: Qubesd, r: Request) -> str:
    return "".join(f"{name}\n" for name in sorted(_features(q, r.dest)))


def _feature_get(q: Qubesd, r: Request) -> str:
    features = _features(q, r.dest)
    if r.arg not in features:
        raise _feature_not_found(r)
    return features[r.arg]


def _feature_check_with_template(q: Qubesd, r: Request) -> str:
    name: str | None = r.dest
    seen: set[str] = set()
    while name is not None and name not in seen:
        seen.add(name)
        features = _features(q, name)
        if r.arg in features:
            return features[r.arg]
        name = q.spec(name).template
    raise _feature_not_found(r)


def _feature_set(q: Qubesd, r: Request) -> str:
    try:
        value = r.payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError("QubesValueError", "feature values must be UTF-8") from exc
    q.vm(r.dest).features[r.arg] = value
    return ""


def _feature_remove(q: Qubesd, r: Request) -> str:
    try:
        del q.vm(r.dest).features[r.arg]
    except KeyError as exc:
        raise _feature_not_found(r) from exc
    return ""


def _start(q: Qubesd, r: Request) -> str:
    q.vm(r.dest).start()
    q.notify()
    return ""


def _shutdown(q: Qubesd, r: Request) -> str:
    options = [o for o in r.arg.split("+") if o]
    if any(o not in ("force", "wait") for o in options):
        raise ApiError("QubesValueError", f"Invalid shutdown option {r.arg!r}")
    q.vm(r.dest).shutdown(force="force" in options, wait="wait" in options)
    q.notify()
    return ""


def _kill(q: Qubesd, r: Request) -> str:
    q.vm(r.dest).kill()
    q.notify()
    return ""


def _current_state(q: Qubesd, r: Request) -> str:
    vm = q.vm(r.dest)
    power = vm.get_power_state()
    mem = "400000" if power not in ("Halted", "NA") else "0"
    return f"mem={mem} mem_static_max=4096000 cputime=0 power_state={power}"


VOLUMES = ("private", "root", "volatile", "kernel")


def _volume_list(q: Qubesd, r: Request) -> str:
    spec = q.spec(r.dest)
    return "" if spec.klass == "AdminVM" else "".join(f"{v}\n" for v in VOLUMES)


def _volume_info(q: Qubesd, r: Request) -> str:
    spec = q.spec(r.dest)
    if spec.klass == "AdminVM" or r.arg not in VOLUMES:
        raise ApiError("QubesValueError", f"Invalid volume {r.arg!r}")
    own = r.arg == "private" or (r.arg == "root" and spec.template is None)
    source = "" if own or r.arg != "root" else f"qubes_dom0/vm-{spec.template}-root"
    fields = {
        "pool": "vm-pool",
        "vid": f"qubes_dom0/vm-{spec.name}-{r.arg}",
        "size": str(20 * 1024**3 if r.arg == "root" else 2 * 1024**3),
        "usage": str(1024**3),
        "rw": "True",
        "source": source,
        "path": "",
        "save_on_stop": str(own),
        "snap_on_start": str(r.arg == "root" and not own),
        "revisions_to_keep": "2",
        "ephemeral": "False",
        "is_outdated": "False",
    }
    return "".join(f"{k}={v}\n" for k, v in fields.items())


def _label_list(q: Qubesd, r: Request) -> str:
    return "".join(f"{name}\n" for name in LABELS)


def _label_get(q: Qubesd, r: Request) -> str:
    if r.arg not in LABELS:
        raise ApiError("QubesLabelNotFoundError", f"Label does not exist: {r.arg}")
    return LABELS[r.arg]


def _label_index(q: Qubesd, r: Request) -> str:
    if r.arg not in LABELS:
        raise ApiError("QubesLabelNotFoundError", f"Label does not exist: {r.arg}")
    return str(list(LABELS).index(r.arg) + 1)


def _device_handler(method: str) -> Handler | None:
    """``admin.vm.device.<class>.<Assigned|Attached|Available>``: no devices."""
    parts = method.split(".")
    if len(parts) == 5 and parts[:3] == ["admin", "vm", "device"]:
        if parts[4] in ("Assigned", "Attached", "Available", "List"):
            return lambda q, r: (q.vm(r.dest), "")[1]
    return None


HANDLERS: dict[str, Handler] = {
    "admin.vm.List": _vm_list,
    "admin.vm.property.List": _property_list,
    "admin.vm.property.Get": _property_get,
    "admin.vm.property.GetAll": _property_get_all,
    "admin.vm.property.GetDefault": _property_get_default,
    "admin.vm.property.Help": _property_help,
    "admin.vm.property.Set": _property_set,
    "admin.vm.property.Reset": _property_set,
    "admin.property.List": _property_list,
    "admin.property.Get": _property_get,
    "admin.property.GetAll": _property_get_all,
    "admin.property.GetDefault": _property_get_default,
    "admin.property.Help": _property_help,
    "admin.vm.tag.List": _tag_list,
    "admin.vm.tag.Get": _tag_get,
    "admin.vm.tag.Set": _not_simulated,
    "admin.vm.tag.Remove": _not_simulated,
    "admin.vm.feature.List": _feature_list,
    "admin.vm.feature.Get": _feature_get,
    "admin.vm.feature.CheckWithTemplate": _feature_check_with_template,
    "admin.vm.feature.Set": _feature_set,
    "admin.vm.feature.Remove": _feature_remove,
    "admin.vm.Start": _start,
    "admin.vm.Shutdown": _shutdown,
    "admin.vm.Kill": _kill,
    "admin.vm.Pause": _not_simulated,
    "admin.vm.Unpause": _not_simulated,
    "admin.vm.Suspend": _not_simulated,
    "admin.vm.Resume": _not_simulated,
    "admin.vm.CurrentState": _current_state,
    "admin.vm.volume.List": _volume_list,
    "admin.vm.volume.Info": _volume_info,
    "admin.label.List": _label_list,
    "admin.label.Get": _label_get,
    "admin.label.Index": _label_index,
}


# ----- events ----------------------------------------------------------------------


def events(q: Qubesd, stop: threading.Event) -> Iterator[bytes]:
    """``admin.Events``: connection-established, then power and inventory changes.

    Power states change in other processes too (the fake tools), so they are
    polled; changes made here wake the stream at once.
    """

    def snapshot() -> dict[str, str]:
        return {name: q.app.domains[name].get_power_state() for name in q.visible()}

    # Taken before the subscriber hears "connection-established": every change
    # after that word is reported, as qubesd registers the handler first.
    before = snapshot()
    yield event_bytes("", "connection-established")
    while not stop.is_set() and not q.vanished.is_set():
        with q.changed:
            q.changed.wait(EVENT_POLL)
        now = snapshot()
        for name in sorted(set(before) | set(now)):
            old, new = before.get(name), now.get(name)
            if old is None:
                yield event_bytes("", "domain-add", vm=name)
            if new is None:
                yield event_bytes("", "domain-delete", vm=name)
                continue
            was_up = old not in (None, "Halted", "NA")
            is_up = new not in ("Halted", "NA")
            if is_up and not was_up:
                yield event_bytes(name, "domain-start", start_guid="False")
            elif was_up and not is_up:
                yield event_bytes(name, "domain-shutdown")
        before = now


# ----- the socket --------------------------------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        q = self.server.qubesd
        conn: socket.socket = self.request
        conn.settimeout(60)
        try:
            header, payload = _read_request(conn)
            method, arg, dest = parse_header(header)
        except (Refused, OSError):
            return  # nothing sent: the client sees an empty answer
        request = Request(method, arg, dest, payload)
        if method == "admin.Events":
            number = q._count()
            q.log(f"qubesd: {number} {request} -> events")
            q._answered()
            conn.settimeout(None)
            with contextlib.suppress(OSError):
                for chunk in events(q, self.server.stopping):
                    conn.sendall(chunk)
            return
        reply = q.answer(request)
        with contextlib.suppress(OSError):
            conn.sendall(reply)
        if q.settings.vanish_after and q.calls >= q.settings.vanish_after:
            self.server.vanish()


def _read_request(conn: socket.socket) -> tuple[bytes, bytes]:
    data = bytearray()
    while b"\0" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise Refused
        data += chunk
        if len(data) > MAX_HEADER + 4096 and data.find(b"\0", 0, MAX_HEADER) < 0:
            raise Refused
    end = data.index(b"\0")
    if end > MAX_HEADER:
        raise Refused
    header, payload = bytes(data[:end]), bytearray(data[end + 1 :])
    # A subscriber to admin.Events closes its write side at once; so does every
    # other client after its payload: read to EOF.
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        payload += chunk
        if len(payload) > MAX_PAYLOAD:
            raise Refused
    return header, bytes(payload)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, qubesd: Qubesd) -> None:
        self.qubesd = qubesd
        self.path = path
        self.stopping = threading.Event()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        super().__init__(path, _Handler)
        os.chmod(path, 0o660)  # as qubesd: owner and group (qubes)

    def vanish(self) -> None:
        """qubesd is gone: the socket disappears and open streams end."""
        if self.qubesd.vanished.is_set():
            return
        self.qubesd.vanished.set()
        self.qubesd.log(f"qubesd: vanished after {self.qubesd.calls} calls")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        threading.Thread(target=self.shutdown, daemon=True).start()


def serve(
    sim_dir: Path, path: str = SOCKET_PATH, log: Callable[[str], None] | None = None
) -> tuple[_Server, threading.Thread]:
    """Start answering on ``path`` in a thread; ``server.shutdown()`` stops it."""
    qubesd = Qubesd(sim_dir, log=log or (lambda line: None))
    server = _Server(path, qubesd)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    return server, thread


def stop(server: _Server, thread: threading.Thread) -> None:
    server.stopping.set()
    server.qubesd.notify()
    if not server.qubesd.vanished.is_set():
        server.shutdown()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(server.path)
    server.server_close()
    thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    """``python -m sdw_sim.qubesd --sim-dir DIR [--socket PATH] [--log FILE]``: serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="sdw_sim.qubesd")
    parser.add_argument("--sim-dir", required=True, type=Path)
    parser.add_argument("--socket", default=SOCKET_PATH)
    parser.add_argument("--log", type=Path)
    args = parser.parse_args(argv)
    sink: Any = open(args.log, "a", buffering=1) if args.log else sys.stderr
    server, thread = serve(args.sim_dir, args.socket, lambda line: print(line, file=sink))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"qubesd: listening on {args.socket}", file=sink)
    while not done.wait(0.5):
        pass
    stop(server, thread)
    return 0


if __name__ == "__main__":
    sys.exit(main())
