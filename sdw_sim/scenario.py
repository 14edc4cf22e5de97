"""Scenarios: what the simulated workstation looks like and how its tools behave.

A scenario is a TOML file (docs/simulator.md).  Every key is
optional; a missing key takes the healthy default, so the empty scenario is
the built-in one ``--simulate`` uses without a file.  Anything the parser
does not know is an error, not silently ignored: a typo in a fault matrix
would otherwise test the healthy case and pass for the wrong reason.

The parsed form is the frozen ``Scenario`` dataclass.  Its ``vms`` field is
the final inventory (defaults, then ``[vms."NAME"]`` overrides, minus absent
VMs) and ``templates`` has one entry per TemplateVM/StandaloneVM of it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

TOOLS = (
    "qvm-run",
    "qvm-start",
    "qvm-shutdown",
    "qvm-kill",
    "qubes-dom0-update",
    "qubesctl",
    "sdw-admin",
    "qubes-vm-update",
    "rm",
    "reboot",
    "sudo",
    "rpm",
    "qrexec-client",
)

RESULTS = ("success", "no_updates", "error", "cancelled", "hang", "crash", "garbage")
FAULT_MODES = ("exit", "hang", "crash", "garbage", "missing")
KLASSES = ("AdminVM", "TemplateVM", "AppVM", "DispVM", "StandaloneVM")
POWER_STATES = ("Running", "Halted")
MIGRATION_FORMS = ("directory", "file")
#: Exit codes a failing update agent leaves with qubes-vm-update (docs/qubes-tools.md,
#: "qubes-vm-update exit codes, measured"):
#: 21-25 are the agent's own (general, prerequisites, refresh, install, cleanup),
#: 26 stands for any other failure inside the qube.
AGENT_ERROR_CODES = (21, 22, 23, 24, 25, 26)
#: Known failures a template's update can end in (``[templates."NAME"].failure``), each
#: with the agent's exit code it gives unless ``exit_code`` says otherwise.
TEMPLATE_FAILURES = {
    "disk_full": 24,
    "dpkg_interrupted": 22,
    "network": 23,
    "lock": 22,
    "key_expired": 23,
}
#: Known failures of dom0's update and check (``[dom0].failure``).
DOM0_FAILURES = ("disk_full", "network", "key_expired")
DOM0_KEYS = ("release", "test", "rogue", "expired", "missing", "two_keys", "garbage", "huge")
ENVIRONMENTS = ("prod", "staging", "dev")
PACKAGE_SIGNERS = ("pinned", "rogue", "qubes", "unsigned", "third_party")
#: dom0's dnf configuration: as Qubes writes it, or with one of the traps a
#: hand-written reader misses (docs/simulator.md, [trust]).
DNF_CONFIGS = (
    "qubes",
    "repo_in_dnf_conf",
    "reposdir_elsewhere",
    "duplicate_repo",
    "dnf5_dropin",
    "dnf5_override",
)
TEMPLATE_SOURCES = ("pinned", "extra_key", "trusted_yes")
NO_AGENT = "none"
COMM_MAX = 15  # the kernel truncates /proc/<pid>/comm to 15 bytes
#: What one VM-side answer may grow to (connectivity x repeat): enough for a flood test.
MAX_ANSWER_BYTES = 1024 * 1024 * 1024
MAX_TEXT = 1024 * 1024  # one string of a scenario (the file itself is at most 1 MiB)

_VM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,30}")
_RELEASE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")
_TAG = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FEATURE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says what and where."""


@dataclass(frozen=True)
class SimSettings:
    """``[sim]``: time, dom0's release, uptime and processes."""

    time_scale: float = 0.0
    timeout_scale: float = 1.0
    uptime: float = 7200.0
    qubes_release: str = "4.3"
    processes: tuple[str, ...] = ()
    cpus: int = 4
    vm_start_duration: float = 5.0  # default of [vms."NAME"].start_duration
    vm_shutdown_duration: float = 3.0
    clock_jump: float = 0.0  # wall clock this far ahead from the second launch on


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]``: what sys-net's NetworkManager says (any text: sys-net may be hostile)."""

    connectivity: str = "full"
    connectivity_repeat: int = 1  # the text printed this many times (megabytes of answer)
    check_duration: float = 1.0


@dataclass(frozen=True)
class Dom0Settings:
    """``[dom0]``: dom0 updates, Salt state, migration and their timings."""

    updates: bool = True
    check_exit: int | None = None  # None: 100 while updates are pending, else 0
    update_exit: int = 0
    highstate_exit: int = 0
    migration: bool = False
    apply_exit: int = 0
    check_duration: float = 10.0
    update_duration: float = 240.0
    highstate_duration: float = 300.0
    apply_duration: float = 900.0
    migration_form: str = "directory"  # SDW 1.7's non-empty directory, or "file" (older)
    installed_before_failure: bool = False  # a failed/killed -y has installed the packages
    check_dnf_error: bool = False  # --check-only: dnf fails in the UpdateVM, the tool exits 0
    xen_upgrade: bool = False  # the update is a major Xen upgrade: prompts despite -y
    boot_mounted: bool = True  # /boot is mounted (else -y exits 1 non-interactively)
    lock_held: bool = False  # another qubes-dom0-update holds its lock
    apply_prompt: bool = False  # sdw-admin --apply asks a question on stdin
    failure: str | None = None  # what a failing -y or check prints (DOM0_FAILURES)


@dataclass(frozen=True)
class TemplateSettings:
    """``[templates."NAME"]``: how updating one template goes."""

    result: str = "success"
    duration: float = 300.0
    agent_version: str | None = "4.3"  # None: the feature is absent ("none" in TOML)
    flood_mb: float = 0.0
    flood_line_mb: float = 0.0  # one single output line of this many MiB (hostile-input tests)
    exit_code: int = 24  # the agent's code when it ends in error (21-26)
    fail_first: int = 0  # the first N update attempts end in error whatever ``result`` says
    failure: str | None = None  # what its failing agent prints (TEMPLATE_FAILURES)


@dataclass(frozen=True)
class TrustSettings:
    """``[trust]``: the trust anchors the simulator plays (sim/trust.py, docs/trust.md)."""

    environment: str = "prod"
    dom0_key: str = "release"  # default: "release" on prod, "test" on staging and dev
    gpgcheck: bool = True
    extra_rpmdb_key: bool = False
    insecure_repo: bool = False
    package_signer: str = "pinned"
    template_source: str = "pinned"
    dnf_config: str = "qubes"


@dataclass(frozen=True)
class ClientSettings:
    """``[client]``: starting the SecureDrop client in sd-app."""

    start_exit: int = 0
    start_duration: float = 5.0
    run_duration: float = 36000.0  # simulated seconds the app keeps running once started
    # Desktop ids installed in sd-app (SecureDrop Workstation 1.7.1 ships only the Inbox).
    apps: tuple[str, ...] = ("press.freedom.SecureDropApp",)


@dataclass(frozen=True)
class VMSpec:
    """One VM of the inventory as it is when the workstation boots."""

    name: str
    klass: str
    template: str | None = None
    tags: tuple[str, ...] = ()
    power: str = "Halted"
    start_fails: bool = False
    features: dict[str, str] = field(default_factory=dict)
    start_duration: float | None = None  # None: [sim].vm_start_duration
    files: dict[str, str] = field(default_factory=dict)  # path -> text, read by cat/base64
    salt_exit: int = 0  # its salt-ssh exit code when qubesctl targets it
    created_by_apply: bool = False  # absent until a successful sdw-admin --apply
    removed_by_apply: bool = False  # present until a successful sdw-admin --apply


@dataclass(frozen=True)
class Fault:
    """``[faults."TOOL"]``: make a fake tool misbehave."""

    mode: str
    exit: int = 1
    match: str | None = None

    def applies(self, argv: list[str]) -> bool:
        return self.match is None or self.match in argv


# ===== box tier: [qubesd] (the simulated qubesd) and [qrexec] (the VMs' side) =====
# Owned by the box tier (sdw_sim/qubesd.py, docs/simulator.md "The box"); kept in
# one block so that edits elsewhere in this file merge without touching it.

QUBESD_ANSWERS = ("refuse", "slow", "error")
QUBESD_MAX_DELAY = 3600.0


@dataclass(frozen=True)
class QubesdRule:
    """``[[qubesd.rule]]``: how the simulated qubesd answers matching Admin API calls."""

    method: str
    vm: str | None = None  # the call's destination; None: any
    arg: str | None = None  # the call's argument; None: any
    answer: str = "refuse"  # refuse: empty reply (access denied); slow; error
    delay: float = 0.0  # answer "slow": real seconds before the answer
    error: str = "QubesException"  # answer "error": the exception type sent

    def matches(self, method: str, dest: str, arg: str) -> bool:
        return (
            method == self.method
            and (self.vm is None or dest == self.vm)
            and (self.arg is None or arg == self.arg)
        )


@dataclass(frozen=True)
class QubesdVM:
    """``[qubesd.vms."NAME"]``: a VM of the inventory that Qubes shows only part of the time."""

    appear_after: int | None = None  # hidden until this many calls were answered
    disappear_after: int | None = None  # gone once this many calls were answered
    appear_with: str | None = None  # hidden until this tool ran and exited 0 (journal)
    disappear_with: str | None = None  # gone once this tool ran and exited 0


@dataclass(frozen=True)
class QubesdSettings:
    """``[qubesd]``: faults of the simulated qubesd (the box tier only)."""

    delay: float = 0.0  # real seconds before every answer
    vanish_after: int = 0  # the socket is gone after this many calls (0: never)
    rules: tuple[QubesdRule, ...] = ()
    vms: dict[str, QubesdVM] = field(default_factory=dict)


def _qubesd_count(data: _Table, key: str, where: str) -> int | None:
    if key not in data:
        return None
    return _int(data, key, 0, where, low=0, high=1_000_000)


def _parse_qubesd(data: _Table, source: str, vms: dict[str, VMSpec]) -> QubesdSettings:
    """Validate ``[qubesd]`` (VM names must be in the final inventory)."""
    where = _where(source, "qubesd")
    _check_keys(data, ("delay", "vanish_after", "rule", "vms"), where)
    delay = _number(data, "delay", 0.0, where)
    if delay > QUBESD_MAX_DELAY:
        raise ScenarioError(f"{where}: delay must be at most {QUBESD_MAX_DELAY:g} seconds")
    rules_data = data.get("rule", [])
    if not isinstance(rules_data, list) or not all(isinstance(r, dict) for r in rules_data):
        raise ScenarioError(f"{where}: rule must be an array of tables ([[qubesd.rule]])")
    rules = []
    for index, rule in enumerate(rules_data):
        at = f"{where}.rule[{index}]"
        _check_keys(rule, ("method", "vm", "arg", "answer", "delay", "error"), at)
        method = _string(rule, "method", at)
        if not method or not re.fullmatch(r"admin\.[A-Za-z0-9_.]+", method):
            raise ScenarioError(f'{at}: method must be an Admin API method, e.g. "admin.vm.List"')
        vm = _string(rule, "vm", at)
        if vm is not None and vm not in vms:
            raise ScenarioError(f"{at}: vm {vm!r} is not in the inventory")
        answer = _choice(rule, "answer", "refuse", QUBESD_ANSWERS, at)
        if "delay" in rule and answer != "slow":
            raise ScenarioError(f'{at}: delay only applies to answer = "slow"')
        if "error" in rule and answer != "error":
            raise ScenarioError(f'{at}: error only applies to answer = "error"')
        rule_delay = _number(rule, "delay", 0.0, at)
        if rule_delay > QUBESD_MAX_DELAY:
            raise ScenarioError(f"{at}: delay must be at most {QUBESD_MAX_DELAY:g} seconds")
        error = _string(rule, "error", at) or "QubesException"
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", error):
            raise ScenarioError(f"{at}: error must be an exception class name")
        rules.append(QubesdRule(method, vm, _string(rule, "arg", at), answer, rule_delay, error))
    hidden: dict[str, QubesdVM] = {}
    for name, table in _table(data, "vms", where).items():
        at = f"{where}.vms.{name}"
        if not isinstance(table, dict):
            raise ScenarioError(f"{at}: must be a table")
        if name not in vms or name == "dom0":
            raise ScenarioError(f"{at}: {name!r} is not a VM of the inventory (dom0 excluded)")
        _check_keys(table, tuple(QubesdVM.__dataclass_fields__), at)
        tools = {key: _string(table, key, at) for key in ("appear_with", "disappear_with")}
        for key, value in tools.items():
            if value is not None and value not in TOOLS:
                raise ScenarioError(f"{at}: {key} must be a simulated tool ({', '.join(TOOLS)})")
        spec = QubesdVM(
            appear_after=_qubesd_count(table, "appear_after", at),
            disappear_after=_qubesd_count(table, "disappear_after", at),
            appear_with=tools["appear_with"],
            disappear_with=tools["disappear_with"],
        )
        if spec == QubesdVM():
            raise ScenarioError(f"{at}: say when it appears or disappears")
        hidden[name] = spec
    return QubesdSettings(
        delay=delay,
        vanish_after=_int(data, "vanish_after", 0, where, low=0, high=1_000_000),
        rules=tuple(rules),
        vms=hidden,
    )


@dataclass(frozen=True)
class QrexecSettings:
    """``[qrexec]``: the VMs' side of the box tier's fake ``qrexec-client``."""

    # Real seconds an app started by qubes.StartApp runs before it exits (and the
    # service returns); None: it runs until its VM stops, as a journalist's app does.
    app_exit_after: float | None = None


def _parse_qrexec(data: _Table, source: str) -> QrexecSettings:
    where = _where(source, "qrexec")
    _check_keys(data, ("app_exit_after",), where)
    if "app_exit_after" not in data:
        return QrexecSettings()
    after = _number(data, "app_exit_after", 0.0, where)
    if after > QUBESD_MAX_DELAY:
        raise ScenarioError(f"{where}: app_exit_after must be at most {QUBESD_MAX_DELAY:g}")
    return QrexecSettings(app_exit_after=after)


# ===== end of the box tier's block ===========================================


@dataclass(frozen=True)
class Scenario:
    """A parsed, validated scenario.  ``source`` is the file it came from ("" = built-in)."""

    source: str = ""
    sim: SimSettings = field(default_factory=SimSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    dom0: Dom0Settings = field(default_factory=Dom0Settings)
    templates: dict[str, TemplateSettings] = field(default_factory=dict)
    trust: TrustSettings = field(default_factory=TrustSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    vms: dict[str, VMSpec] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    qubesd: QubesdSettings = field(default_factory=QubesdSettings)  # box tier
    qrexec: QrexecSettings = field(default_factory=QrexecSettings)  # box tier
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def digest(self) -> str:
        """Hash of the content (not the file name or comments): a new one resets the state."""
        import hashlib

        content = asdict(self)
        content.pop("source")
        content.pop("raw")
        text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def fault(self, tool: str, argv: list[str]) -> Fault | None:
        """The fault that applies to this call, if any."""
        found = self.faults.get(tool)
        return found if found is not None and found.applies(argv) else None

    def template_settings(self, name: str) -> TemplateSettings:
        return self.templates.get(name, TemplateSettings())

    def start_duration(self, name: str) -> float:
        """Simulated seconds ``name`` takes to start (its own key, else ``[sim]``'s)."""
        spec = self.vms.get(name)
        if spec is not None and spec.start_duration is not None:
            return spec.start_duration
        return self.sim.vm_start_duration


# ----- the default inventory (docs/simulator.md) ----------------------------

SERVICE_VMS = ("sys-net", "sys-firewall", "sys-usb", "sys-whonix")
FEDORA = "fedora-43-xfce"
WHONIX = "whonix-gateway-17"
INBOX = "sd-inbox-debian-13"
VIEWER = "sd-viewer-debian-13"
WS = ("sd-workstation",)


def default_inventory() -> dict[str, VMSpec]:
    """SecureDrop Workstation 1.7 on Qubes 4.3, as VM specs (features filled later).

    The Qubes 4.2 layout (fedora-40-xfce, the two bookworm templates,
    sd-whonix) is the shipped scenario ``scenarios/qubes-4.2.toml``.
    """
    specs = [
        VMSpec("dom0", "AdminVM", power="Running"),
        VMSpec(FEDORA, "TemplateVM"),
        VMSpec(WHONIX, "TemplateVM"),
        VMSpec(INBOX, "TemplateVM", tags=WS),
        VMSpec(VIEWER, "TemplateVM", tags=WS),
        VMSpec("sys-net", "AppVM", FEDORA, power="Running"),
        VMSpec("sys-firewall", "AppVM", FEDORA, power="Running"),
        VMSpec("sys-usb", "AppVM", FEDORA, power="Running"),
        VMSpec("sys-whonix", "AppVM", WHONIX, power="Running"),
        VMSpec("sd-app", "AppVM", INBOX, WS),
        VMSpec("sd-proxy", "AppVM", INBOX, WS),
        VMSpec("sd-gpg", "AppVM", INBOX, WS),
        VMSpec("sd-log", "AppVM", INBOX, WS, power="Running"),
        # sd-viewer is the disposable template the viewer disposables start from.
        VMSpec("sd-viewer", "AppVM", VIEWER, WS, features={"template_for_dispvms": "1"}),
        VMSpec("sd-devices", "AppVM", VIEWER, WS),
        VMSpec("sd-printers", "AppVM", VIEWER, WS),
    ]
    return {spec.name: spec for spec in specs}


# ----- parsing ----------------------------------------------------------------

_Table = dict[str, Any]


def _where(source: str, table: str) -> str:
    return f"{source or 'built-in scenario'}: [{table}]"


def _check_keys(data: _Table, allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(allowed)})"
        )


def _table(data: _Table, key: str, where: str) -> _Table:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: {key} must be a table, not {type(value).__name__}")
    return value


def _bool(data: _Table, key: str, default: bool, where: str) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _int(data: _Table, key: str, default: int, where: str, *, low: int = 0, high: int = 255) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}: {key} must be an integer, not {value!r}")
    if not low <= value <= high:
        raise ScenarioError(f"{where}: {key} must be between {low} and {high}, not {value}")
    return value


def _number(data: _Table, key: str, default: float, where: str, positive: bool = False) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: {key} must be a number, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (positive and number == 0):
        need = "greater than 0" if positive else "0 or more"
        raise ScenarioError(f"{where}: {key} must be a finite number {need}, not {value!r}")
    return number


def _choice(data: _Table, key: str, default: str, choices: tuple[str, ...], where: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ScenarioError(f"{where}: {key} must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def _string(data: _Table, key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ScenarioError(f"{where}: {key} must be a string, not {value!r}")
    return value


def _text(value: Any, what: str, where: str) -> str:
    """Any string at all (a hostile VM may answer anything), bounded in size."""
    if not isinstance(value, str):
        raise ScenarioError(f"{where}: {what} must be a string, not {value!r}")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_TEXT:
        raise ScenarioError(f"{where}: {what} must be at most {MAX_TEXT} bytes")
    return value


def _parse_sim(data: _Table, source: str) -> SimSettings:
    where = _where(source, "sim")
    d = SimSettings()
    _check_keys(
        data,
        (
            "time_scale",
            "timeout_scale",
            "uptime",
            "qubes_release",
            "processes",
            "cpus",
            "vm_start_duration",
            "vm_shutdown_duration",
            "clock_jump",
        ),
        where,
    )
    release = data.get("qubes_release", d.qubes_release)
    if not isinstance(release, str) or not _RELEASE.fullmatch(release):
        raise ScenarioError(f'{where}: qubes_release must look like "4.2", not {release!r}')
    processes = data.get("processes", [])
    if not isinstance(processes, list) or not all(
        isinstance(p, str) and p and "/" not in p and "\n" not in p and "\0" not in p
        for p in processes
    ):
        raise ScenarioError(
            f"{where}: processes must be a list of process names (non-empty, no '/')"
        )
    return SimSettings(
        time_scale=_number(data, "time_scale", d.time_scale, where),
        timeout_scale=_number(data, "timeout_scale", d.timeout_scale, where, positive=True),
        uptime=_number(data, "uptime", d.uptime, where),
        qubes_release=release,
        processes=tuple(p[:COMM_MAX] for p in processes),
        cpus=_int(data, "cpus", d.cpus, where, low=1, high=1024),
        vm_start_duration=_number(data, "vm_start_duration", d.vm_start_duration, where),
        vm_shutdown_duration=_number(data, "vm_shutdown_duration", d.vm_shutdown_duration, where),
        clock_jump=_number(data, "clock_jump", d.clock_jump, where),
    )


def _parse_network(data: _Table, source: str) -> NetworkSettings:
    where = _where(source, "network")
    d = NetworkSettings()
    _check_keys(data, ("connectivity", "connectivity_repeat", "check_duration"), where)
    connectivity = _text(data.get("connectivity", d.connectivity), "connectivity", where)
    repeat = _int(data, "connectivity_repeat", 1, where, low=1, high=MAX_ANSWER_BYTES)
    if len(connectivity.encode("utf-8", "surrogatepass")) * repeat > MAX_ANSWER_BYTES:
        raise ScenarioError(f"{where}: connectivity x connectivity_repeat exceeds 1 GiB")
    return NetworkSettings(
        connectivity=connectivity,
        connectivity_repeat=repeat,
        check_duration=_number(data, "check_duration", d.check_duration, where),
    )


def _parse_dom0(data: _Table, source: str) -> Dom0Settings:
    where = _where(source, "dom0")
    d = Dom0Settings()
    keys = tuple(f for f in Dom0Settings.__dataclass_fields__)
    _check_keys(data, keys, where)
    updates = _bool(data, "updates", d.updates, where)
    check_exit: int | None = None
    if "check_exit" in data:
        check_exit = _int(data, "check_exit", 0, where)
        if check_exit == 100 and not updates:
            raise ScenarioError(
                f"{where}: check_exit = 100 (updates available) needs updates = true"
            )
    return Dom0Settings(
        updates=updates,
        check_exit=check_exit,
        update_exit=_int(data, "update_exit", d.update_exit, where),
        highstate_exit=_int(data, "highstate_exit", d.highstate_exit, where),
        migration=_bool(data, "migration", d.migration, where),
        apply_exit=_int(data, "apply_exit", d.apply_exit, where),
        check_duration=_number(data, "check_duration", d.check_duration, where),
        update_duration=_number(data, "update_duration", d.update_duration, where),
        highstate_duration=_number(data, "highstate_duration", d.highstate_duration, where),
        apply_duration=_number(data, "apply_duration", d.apply_duration, where),
        migration_form=_choice(data, "migration_form", d.migration_form, MIGRATION_FORMS, where),
        installed_before_failure=_bool(
            data, "installed_before_failure", d.installed_before_failure, where
        ),
        check_dnf_error=_bool(data, "check_dnf_error", d.check_dnf_error, where),
        xen_upgrade=_bool(data, "xen_upgrade", d.xen_upgrade, where),
        boot_mounted=_bool(data, "boot_mounted", d.boot_mounted, where),
        lock_held=_bool(data, "lock_held", d.lock_held, where),
        apply_prompt=_bool(data, "apply_prompt", d.apply_prompt, where),
        failure=_choice(data, "failure", "", ("", *DOM0_FAILURES), where) or None
        if "failure" in data
        else None,
    )


def _parse_template(data: _Table, where: str) -> TemplateSettings:
    d = TemplateSettings()
    _check_keys(
        data,
        (
            "result",
            "duration",
            "agent_version",
            "flood_mb",
            "flood_line_mb",
            "exit_code",
            "fail_first",
            "failure",
        ),
        where,
    )
    failure = None
    if "failure" in data:
        failure = _choice(data, "failure", "", tuple(TEMPLATE_FAILURES), where)
    # Any text: the simulator plays hostile values too (qubesd itself stores only "X.Y").
    agent = _text(data.get("agent_version", d.agent_version), "agent_version", where)
    default_exit = TEMPLATE_FAILURES[failure] if failure else d.exit_code
    exit_code = _int(data, "exit_code", default_exit, where, low=0, high=255)
    if exit_code not in AGENT_ERROR_CODES:
        raise ScenarioError(
            f"{where}: exit_code must be an agent error code "
            f"({', '.join(map(str, AGENT_ERROR_CODES))}), not {exit_code}"
        )
    flood = _number(data, "flood_mb", d.flood_mb, where)
    if flood > 100_000:
        raise ScenarioError(f"{where}: flood_mb must be at most 100000, not {flood}")
    flood_line = _number(data, "flood_line_mb", d.flood_line_mb, where)
    if flood_line > 100_000:
        raise ScenarioError(f"{where}: flood_line_mb must be at most 100000, not {flood_line}")
    fail_first = _int(data, "fail_first", d.fail_first, where, low=0, high=1_000_000)
    # A failure without a result or fail_first: the template fails with it, every time.
    default_result = "error" if failure and not fail_first else d.result
    return TemplateSettings(
        result=_choice(data, "result", default_result, RESULTS, where),
        duration=_number(data, "duration", d.duration, where),
        agent_version=None if agent == NO_AGENT else agent,
        flood_mb=flood,
        flood_line_mb=flood_line,
        exit_code=exit_code,
        fail_first=fail_first,
        failure=failure,
    )


def _parse_trust(data: _Table, source: str) -> TrustSettings:
    where = _where(source, "trust")
    d = TrustSettings()
    _check_keys(data, tuple(TrustSettings.__dataclass_fields__), where)
    environment = _choice(data, "environment", d.environment, ENVIRONMENTS, where)
    healthy_key = "release" if environment == "prod" else "test"
    return TrustSettings(
        environment=environment,
        dom0_key=_choice(data, "dom0_key", healthy_key, DOM0_KEYS, where),
        gpgcheck=_bool(data, "gpgcheck", d.gpgcheck, where),
        extra_rpmdb_key=_bool(data, "extra_rpmdb_key", d.extra_rpmdb_key, where),
        insecure_repo=_bool(data, "insecure_repo", d.insecure_repo, where),
        package_signer=_choice(data, "package_signer", d.package_signer, PACKAGE_SIGNERS, where),
        template_source=_choice(
            data, "template_source", d.template_source, TEMPLATE_SOURCES, where
        ),
        dnf_config=_choice(data, "dnf_config", d.dnf_config, DNF_CONFIGS, where),
    )


def _parse_client(data: _Table, source: str) -> ClientSettings:
    where = _where(source, "client")
    d = ClientSettings()
    _check_keys(data, ("start_exit", "start_duration", "run_duration", "apps"), where)
    apps = data.get("apps", list(d.apps))
    if not isinstance(apps, list) or not all(
        isinstance(a, str) and _FEATURE.fullmatch(a) for a in apps
    ):
        raise ScenarioError(f"{where}: apps must be a list of desktop ids")
    return ClientSettings(
        start_exit=_int(data, "start_exit", d.start_exit, where),
        start_duration=_number(data, "start_duration", d.start_duration, where),
        run_duration=_number(data, "run_duration", d.run_duration, where),
        apps=tuple(apps),
    )


def _parse_fault(data: _Table, where: str) -> Fault:
    _check_keys(data, ("mode", "exit", "match"), where)
    if "mode" not in data:
        raise ScenarioError(f"{where}: mode is required ({', '.join(FAULT_MODES)})")
    mode = _choice(data, "mode", "exit", FAULT_MODES, where)
    match = _string(data, "match", where)
    if "exit" in data and mode != "exit":
        raise ScenarioError(f'{where}: exit only applies to mode = "exit"')
    if mode == "missing" and match is not None:
        raise ScenarioError(f"{where}: a missing tool is missing for every call; drop match")
    return Fault(mode=mode, exit=_int(data, "exit", 1, where, low=1, high=255), match=match)


def _feature_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, str):
        return value
    raise ScenarioError(f"{where}: feature values must be strings or booleans, not {value!r}")


def _apply_vm_table(inventory: dict[str, VMSpec], name: str, data: _Table, where: str) -> None:
    """Apply one ``[vms."NAME"]`` table to the inventory (in place)."""
    _check_keys(
        data,
        (
            "klass",
            "template",
            "tags",
            "power",
            "start_fails",
            "absent",
            "features",
            "start_duration",
            "files",
            "salt_exit",
            "created_by_apply",
            "removed_by_apply",
        ),
        where,
    )
    if not _VM_NAME.fullmatch(name):
        raise ScenarioError(f"{where}: {name!r} is not a valid qube name")
    if name == "dom0":
        raise ScenarioError(f"{where}: dom0 cannot be changed")
    if _bool(data, "absent", False, where):
        if set(data) - {"absent"}:
            raise ScenarioError(f"{where}: an absent VM takes no other keys")
        if name not in inventory:
            raise ScenarioError(f"{where}: {name} is not in the default inventory")
        del inventory[name]
        return
    base = inventory.get(name)
    klass = _choice(data, "klass", base.klass if base else "AppVM", KLASSES, where)
    if klass == "AdminVM":
        raise ScenarioError(f"{where}: only dom0 is an AdminVM")
    template = _string(data, "template", where) if "template" in data else None
    if "template" not in data and base is not None and klass == base.klass:
        template = base.template
    tags_value = data.get("tags", list(base.tags) if base else [])
    if not isinstance(tags_value, list) or not all(
        isinstance(t, str) and _TAG.fullmatch(t) for t in tags_value
    ):
        raise ScenarioError(f"{where}: tags must be a list of tag names")
    features = dict(base.features) if base else {}
    extra = _table(data, "features", where)
    for key, value in extra.items():
        if not _FEATURE.fullmatch(key):
            raise ScenarioError(f"{where}: {key!r} is not a valid feature name")
        features[key] = _feature_value(value, where)
    files = dict(base.files) if base else {}
    for path, content in _table(data, "files", where).items():
        if not path.startswith("/") or len(path) > 4096 or "\0" in path:
            raise ScenarioError(f"{where}: files: {path!r} is not an absolute path")
        files[path] = _text(content, f"files.{path!r}", where)
    start_duration = base.start_duration if base else None
    if "start_duration" in data:
        start_duration = _number(data, "start_duration", 0.0, where)
    created = _bool(data, "created_by_apply", base.created_by_apply if base else False, where)
    removed = _bool(data, "removed_by_apply", base.removed_by_apply if base else False, where)
    if created and removed:
        raise ScenarioError(f"{where}: a VM cannot be both created_by_apply and removed_by_apply")
    inventory[name] = VMSpec(
        name=name,
        klass=klass,
        template=template,
        tags=tuple(dict.fromkeys(tags_value)),
        power=_choice(data, "power", base.power if base else "Halted", POWER_STATES, where),
        start_fails=_bool(data, "start_fails", base.start_fails if base else False, where),
        features=features,
        start_duration=start_duration,
        files=files,
        salt_exit=_int(data, "salt_exit", base.salt_exit if base else 0, where),
        created_by_apply=created,
        removed_by_apply=removed,
    )


def _check_inventory(inventory: dict[str, VMSpec], source: str) -> None:
    """Every template reference must point at a VM that can be a template."""
    for spec in inventory.values():
        where = _where(source, f'vms."{spec.name}"')
        if spec.klass in ("TemplateVM", "StandaloneVM", "AdminVM"):
            if spec.template is not None:
                raise ScenarioError(f"{where}: a {spec.klass} has no template")
            continue
        if spec.template is None:
            raise ScenarioError(f"{where}: a {spec.klass} needs a template")
        parent = inventory.get(spec.template)
        if parent is None:
            raise ScenarioError(f"{where}: its template {spec.template} is not in the inventory")
        if spec.created_by_apply and parent.removed_by_apply:
            raise ScenarioError(f"{where}: its template {parent.name} is removed by the apply")
        if parent.created_by_apply and not spec.created_by_apply:
            raise ScenarioError(f"{where}: its template {parent.name} only exists after the apply")
        if parent.removed_by_apply and not spec.removed_by_apply:
            raise ScenarioError(f"{where}: its template {parent.name} is removed by the apply")
        if spec.klass == "AppVM" and parent.klass != "TemplateVM":
            raise ScenarioError(f"{where}: the template of an AppVM must be a TemplateVM")
        if spec.klass == "DispVM" and (
            parent.klass != "AppVM" or not parent.features.get("template_for_dispvms")
        ):
            raise ScenarioError(
                f"{where}: the template of a DispVM must be an AppVM with "
                "features.template_for_dispvms = true"
            )


def _finish_features(
    inventory: dict[str, VMSpec], templates: dict[str, TemplateSettings], dom0: Dom0Settings
) -> dict[str, VMSpec]:
    """Add the features Qubes itself maintains (agent version, servicevm, ...)."""
    result: dict[str, VMSpec] = {}
    for name in sorted(inventory):
        spec = inventory[name]
        features: dict[str, str] = {}
        if name in SERVICE_VMS:
            features["servicevm"] = "1"
        if spec.klass == "AdminVM":
            features["updates-available"] = "1" if dom0.updates else ""
        if spec.klass in ("TemplateVM", "StandaloneVM"):
            settings = templates[name]
            features["os"] = "Linux"
            features["qrexec"] = "1"
            if settings.agent_version is not None:
                features["qubes-agent-version"] = settings.agent_version
            features["updates-available"] = "" if settings.result == "no_updates" else "1"
        features.update(spec.features)
        result[name] = replace(spec, features=features)
    return result


def parse_scenario(data: _Table, source: str = "") -> Scenario:
    """Validate a scenario already loaded from TOML (or JSON) and fill the defaults."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source or 'scenario'}: the top level must be a table")
    top = (
        "sim",
        "network",
        "dom0",
        "templates",
        "trust",
        "client",
        "vms",
        "faults",
        "qubesd",
        "qrexec",
    )
    unknown = sorted(set(data) - set(top))
    if unknown:
        raise ScenarioError(
            f"{source or 'scenario'}: unknown table(s) {', '.join(unknown)} "
            f"(known: {', '.join(top)})"
        )
    where_top = source or "scenario"
    sim = _parse_sim(_table(data, "sim", where_top), source)
    network = _parse_network(_table(data, "network", where_top), source)
    dom0 = _parse_dom0(_table(data, "dom0", where_top), source)
    trust = _parse_trust(_table(data, "trust", where_top), source)
    client = _parse_client(_table(data, "client", where_top), source)

    inventory = default_inventory()
    for name, table in _table(data, "vms", where_top).items():
        where = _where(source, f'vms."{name}"')
        if not isinstance(table, dict):
            raise ScenarioError(f"{where}: must be a table")
        _apply_vm_table(inventory, name, table, where)
    _check_inventory(inventory, source)

    updateable = [n for n, s in inventory.items() if s.klass in ("TemplateVM", "StandaloneVM")]
    templates: dict[str, TemplateSettings] = {name: TemplateSettings() for name in updateable}
    for name, table in _table(data, "templates", where_top).items():
        where = _where(source, f'templates."{name}"')
        if not isinstance(table, dict):
            raise ScenarioError(f"{where}: must be a table")
        if name not in templates:
            raise ScenarioError(
                f"{where}: {name} is not a template of the inventory "
                f"(templates: {', '.join(sorted(templates))})"
            )
        templates[name] = _parse_template(table, where)

    faults: dict[str, Fault] = {}
    for tool, table in _table(data, "faults", where_top).items():
        where = _where(source, f'faults."{tool}"')
        if tool not in TOOLS:
            raise ScenarioError(f"{where}: unknown tool {tool!r} (tools: {', '.join(TOOLS)})")
        if not isinstance(table, dict):
            raise ScenarioError(f"{where}: must be a table")
        faults[tool] = _parse_fault(table, where)

    vms = _finish_features(inventory, templates, dom0)
    qubesd = _parse_qubesd(_table(data, "qubesd", where_top), source, vms)  # box tier
    qrexec = _parse_qrexec(_table(data, "qrexec", where_top), source)  # box tier
    return Scenario(
        source=source,
        sim=sim,
        network=network,
        dom0=dom0,
        templates=templates,
        trust=trust,
        client=client,
        vms=vms,
        faults=faults,
        qubesd=qubesd,
        qrexec=qrexec,
        raw=data,
    )


def load_scenario(path: Path | str | None) -> Scenario:
    """Read and validate a scenario file; ``None`` gives the built-in healthy scenario.

    Raises ScenarioError (never OSError or a TOML error) so the launcher can
    turn any problem into one usage-error message.
    """
    if path is None:
        return parse_scenario({}, "")
    import tomllib

    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot read the scenario: {exc.strerror or exc}") from exc
    if len(raw) > 1024 * 1024:
        raise ScenarioError(f"{source}: the scenario is larger than 1 MiB")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{source}: the scenario is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from exc
    return parse_scenario(data, source)
