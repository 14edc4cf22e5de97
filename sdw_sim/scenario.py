"""Scenarios: what the simulated workstation looks like and how its tools behave.

A scenario is a TOML file (docs/simulator.md).  Every key is optional; a
missing key takes the healthy default, so the empty scenario is the
built-in one ``--simulate`` uses without a file.  Anything the parser does
not know is an error, not silently ignored: a typo in a fault matrix would
otherwise test the healthy case and pass for the wrong reason.

Each table is a frozen dataclass whose fields are its keys (``tables.key``
says what a value may be); ``tables.build`` reads them all the same way.
The parsed form is the frozen ``Scenario``.  Its ``vms`` field is the final
inventory (defaults, then ``[vms."NAME"]`` overrides, minus absent VMs) and
``templates`` has one entry per TemplateVM/StandaloneVM of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sdw_sim.tables import (
    MAX_TEXT,
    Rule,
    ScenarioError,
    Table,
    build,
    key,
    read_keys,
    read_value,
    table,
)

__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario"]

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

RESULTS = (
    "success",
    "no_updates",
    "error",
    "cancelled",
    "hang",
    "crash",
    "crash_main",
    "garbage",
)
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
MAX_FLOOD_MB = 100_000
MAX_COUNT = 1_000_000

VM_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,30}"
RELEASE = r"[0-9]{1,3}\.[0-9]{1,3}"
TAG = r"[A-Za-z0-9_-]{1,64}"
FEATURE = r"[A-Za-z0-9_.-]{1,64}"
UPDATE_VM = "sys-firewall"  # Qubes' default UpdateVM


# ----- values no type hint describes ----------------------------------------------


def _processes(value: Any, name: str, where: str) -> tuple[str, ...]:
    """Names of dom0 processes, cut to what the kernel keeps."""
    if not isinstance(value, list) or not all(
        isinstance(p, str) and p and "/" not in p and "\n" not in p and "\0" not in p for p in value
    ):
        raise ValueError(f"{name} must be a list of process names (non-empty, no '/')")
    return tuple(p[:COMM_MAX] for p in value)


def _features(value: Any, name: str, where: str) -> dict[str, str]:
    """Extra features: names as Qubes allows them; strings, or booleans as Qubes stores them."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a table, not {type(value).__name__}")
    features = {}
    for feature, setting in value.items():
        if not re.fullmatch(FEATURE, feature):
            raise ValueError(f"{feature!r} is not a valid feature name")
        if isinstance(setting, bool):
            features[feature] = "1" if setting else ""
        elif isinstance(setting, str):
            features[feature] = setting
        else:
            raise ValueError(f"feature values must be strings or booleans, not {setting!r}")
    return features


def _files(value: Any, name: str, where: str) -> dict[str, str]:
    """Files inside a VM: absolute paths, any text (a hostile VM's answers), bounded."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a table, not {type(value).__name__}")
    files = {}
    for path, content in value.items():
        if not path.startswith("/") or len(path) > 4096 or "\0" in path:
            raise ValueError(f"files: {path!r} is not an absolute path")
        if not isinstance(content, str):
            raise ValueError(f"files.{path!r} must be a string, not {content!r}")
        if len(content.encode("utf-8", "surrogatepass")) > MAX_TEXT:
            raise ValueError(f"files.{path!r} must be at most {MAX_TEXT} bytes")
        files[path] = content
    return files


# ----- the tables --------------------------------------------------------------------


@dataclass(frozen=True)
class SimSettings:
    """``[sim]``: time, dom0's release, uptime and processes."""

    time_scale: float = key(0.0)
    timeout_scale: float = key(1.0, positive=True)
    uptime: float = key(7200.0)
    qubes_release: str = key("4.3", pattern=RELEASE, shape='look like "4.2"')
    processes: tuple[str, ...] = key((), read=_processes)
    cpus: int = key(4, low=1, high=1024)
    vm_start_duration: float = key(5.0)  # default of [vms."NAME"].start_duration
    vm_shutdown_duration: float = key(3.0)
    clock_jump: float = key(0.0)  # wall clock this far ahead from the second launch on
    # dom0's UpdateVM (``qubes-prefs updatevm``); "" for none.  Without the key:
    # sys-firewall, or none when the inventory has no sys-firewall.
    updatevm: str | None = key(UPDATE_VM, none="", pattern=f"|{VM_NAME}", shape="be a qube name")
    # qubesd refuses admin.vm.List (access denied) once this tool has run and
    # exited 0: a VM list read again from then on fails (one read before is kept).
    list_refused_with: str | None = key(None, choices=TOOLS)


@dataclass(frozen=True)
class NetworkSettings:
    """``[network]``: what sys-net's NetworkManager says (any text: sys-net may be hostile)."""

    connectivity: str = key("full", text=True)
    # The text printed this many times (megabytes of answer).
    connectivity_repeat: int = key(1, low=1, high=MAX_ANSWER_BYTES)
    check_duration: float = key(1.0)

    def problem(self, data: Table) -> str | None:
        size = len(self.connectivity.encode("utf-8", "surrogatepass")) * self.connectivity_repeat
        return (
            "connectivity x connectivity_repeat exceeds 1 GiB" if size > MAX_ANSWER_BYTES else None
        )


@dataclass(frozen=True)
class Dom0Settings:
    """``[dom0]``: dom0 updates, Salt state, migration and their timings."""

    updates: bool = key(True)
    check_exit: int | None = key(None)  # None: 100 while updates are pending, else 0
    update_exit: int = key(0)
    highstate_exit: int = key(0)
    migration: bool = key(False)
    apply_exit: int = key(0)
    check_duration: float = key(10.0)
    update_duration: float = key(240.0)
    highstate_duration: float = key(300.0)
    apply_duration: float = key(900.0)
    # SDW 1.7's non-empty directory, or "file" (older).
    migration_form: str = key("directory", choices=MIGRATION_FORMS)
    installed_before_failure: bool = key(False)  # a failed/killed -y has installed the packages
    check_dnf_error: bool = key(False)  # --check-only: dnf fails in the UpdateVM, exits 0
    xen_upgrade: bool = key(False)  # the update is a major Xen upgrade: prompts despite -y
    boot_mounted: bool = key(True)  # /boot is mounted (else -y exits 1 non-interactively)
    lock_held: bool = key(False)  # another qubes-dom0-update holds its lock
    apply_prompt: bool = key(False)  # sdw-admin --apply asks a question on stdin
    # What a failing -y or check prints (DOM0_FAILURES); "" is none.
    failure: str | None = key(None, choices=("", *DOM0_FAILURES), none="")

    def problem(self, data: Table) -> str | None:
        if self.check_exit == 100 and not self.updates:
            return "check_exit = 100 (updates available) needs updates = true"
        return None


def _exit_code_default(known: Mapping[str, Any]) -> int:
    failure = known["failure"]
    return TEMPLATE_FAILURES[failure] if failure else 24


def _result_default(known: Mapping[str, Any]) -> str:
    # A failure without a result or fail_first: the template fails with it, every time.
    return "error" if known["failure"] and not known["fail_first"] else "success"


@dataclass(frozen=True)
class TemplateSettings:
    """``[templates."NAME"]``: how updating one template goes."""

    result: str = key("success", choices=RESULTS, derive=_result_default)
    duration: float = key(300.0)
    # Any text: the simulator plays hostile values too (qubesd itself stores only "X.Y").
    # None: the feature is absent ("none" in TOML).
    agent_version: str | None = key("4.3", text=True, none=NO_AGENT)
    flood_mb: float = key(0.0, high=MAX_FLOOD_MB)
    # One single output line of this many MiB (hostile-input tests).
    flood_line_mb: float = key(0.0, high=MAX_FLOOD_MB)
    # The agent's code when it ends in error (21-26).
    exit_code: int = key(24, derive=_exit_code_default)
    # The first N update attempts end in error whatever ``result`` says.
    fail_first: int = key(0, high=MAX_COUNT)
    # What its failing agent prints (TEMPLATE_FAILURES).
    failure: str | None = key(None, choices=tuple(TEMPLATE_FAILURES))

    def problem(self, data: Table) -> str | None:
        if self.exit_code not in AGENT_ERROR_CODES:
            return (
                "exit_code must be an agent error code "
                f"({', '.join(map(str, AGENT_ERROR_CODES))}), not {self.exit_code}"
            )
        return None


def _dom0_key_default(known: Mapping[str, Any]) -> str:
    return "release" if known["environment"] == "prod" else "test"


@dataclass(frozen=True)
class TrustSettings:
    """``[trust]``: the trust anchors the simulator plays (sim/trust.py, docs/trust.md)."""

    environment: str = key("prod", choices=ENVIRONMENTS)
    # Default: "release" on prod, "test" on staging and dev.
    dom0_key: str = key("release", choices=DOM0_KEYS, derive=_dom0_key_default)
    gpgcheck: bool = key(True)
    extra_rpmdb_key: bool = key(False)
    insecure_repo: bool = key(False)
    package_signer: str = key("pinned", choices=PACKAGE_SIGNERS)
    template_source: str = key("pinned", choices=TEMPLATE_SOURCES)
    dnf_config: str = key("qubes", choices=DNF_CONFIGS)


@dataclass(frozen=True)
class ClientSettings:
    """``[client]``: starting the SecureDrop client in sd-app."""

    start_exit: int = key(0)
    start_duration: float = key(5.0)
    run_duration: float = key(36000.0)  # simulated seconds the app keeps running once started
    # Desktop ids installed in sd-app (SecureDrop Workstation 1.7.1 ships only the Inbox).
    apps: tuple[str, ...] = key(
        ("press.freedom.SecureDropApp",), pattern=FEATURE, shape="a list of desktop ids"
    )


@dataclass(frozen=True)
class VMSpec:
    """One VM of the inventory as it is when the workstation boots (``[vms."NAME"]``)."""

    name: str = key(is_key=False)
    klass: str = key(choices=KLASSES)
    template: str | None = key(None)
    tags: tuple[str, ...] = key((), pattern=TAG, shape="a list of tag names")
    power: str = key("Halted", choices=POWER_STATES)
    start_fails: bool = key(False)
    features: dict[str, str] = key(factory=dict, read=_features)
    start_duration: float | None = key(None)  # None: [sim].vm_start_duration
    files: dict[str, str] = key(factory=dict, read=_files)  # path -> text, read by cat/base64
    salt_exit: int = key(0)  # its salt-ssh exit code when qubesctl targets it
    created_by_apply: bool = key(False)  # absent until a successful sdw-admin --apply
    removed_by_apply: bool = key(False)  # present until a successful sdw-admin --apply
    netvm: str | None = key(None, none="")  # the qube it gets its network from ("": none)


@dataclass(frozen=True)
class Fault:
    """``[faults."TOOL"]``: make a fake tool misbehave."""

    mode: str = key(choices=FAULT_MODES)
    exit: int = key(1, low=1)
    match: str | None = key(None)

    def applies(self, argv: list[str]) -> bool:
        return self.match is None or self.match in argv

    def problem(self, data: Table) -> str | None:
        if "exit" in data and self.mode != "exit":
            return 'exit only applies to mode = "exit"'
        if self.mode == "missing" and self.match is not None:
            return "a missing tool is missing for every call; drop match"
        return None


# ===== box tier: [qubesd] (the simulated qubesd) and [qrexec] (the VMs' side) =====
# Owned by the box tier (sdw_sim/qubesd.py, docs/simulator.md "The box").

QUBESD_ANSWERS = ("refuse", "slow", "error")
QUBESD_MAX_DELAY = 3600.0


@dataclass(frozen=True)
class QubesdRule:
    """``[[qubesd.rule]]``: how the simulated qubesd answers matching Admin API calls."""

    method: str = key(
        pattern=r"admin\.[A-Za-z0-9_.]+", shape='be an Admin API method, e.g. "admin.vm.List"'
    )
    vm: str | None = key(None)  # the call's destination; None: any
    arg: str | None = key(None)  # the call's argument; None: any
    # refuse: empty reply (access denied); slow; error
    answer: str = key("refuse", choices=QUBESD_ANSWERS)
    delay: float = key(0.0, high=QUBESD_MAX_DELAY)  # answer "slow": real seconds before it
    # answer "error": the exception type sent
    error: str = key(
        "QubesException",
        pattern=r"[A-Za-z][A-Za-z0-9_]{0,63}",
        shape="be an exception class name",
    )

    def matches(self, method: str, dest: str, arg: str) -> bool:
        return (
            method == self.method
            and (self.vm is None or dest == self.vm)
            and (self.arg is None or arg == self.arg)
        )

    def problem(self, data: Table) -> str | None:
        if "delay" in data and self.answer != "slow":
            return 'delay only applies to answer = "slow"'
        if "error" in data and self.answer != "error":
            return 'error only applies to answer = "error"'
        return None


@dataclass(frozen=True)
class QubesdVM:
    """``[qubesd.vms."NAME"]``: a VM of the inventory that Qubes shows only part of the time."""

    appear_after: int | None = key(None, high=MAX_COUNT)  # hidden until this many calls
    disappear_after: int | None = key(None, high=MAX_COUNT)  # gone once this many calls
    # Hidden until this tool ran and exited 0 (journal).
    appear_with: str | None = key(None, choices=TOOLS)
    disappear_with: str | None = key(None, choices=TOOLS)  # gone once this tool ran and exited 0

    def problem(self, data: Table) -> str | None:
        return "say when it appears or disappears" if self == QubesdVM() else None


def _rules(value: Any, name: str, where: str) -> tuple[QubesdRule, ...]:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ValueError(f"{name} must be an array of tables ([[qubesd.rule]])")
    return tuple(build(QubesdRule, rule, f"{where}.rule[{i}]") for i, rule in enumerate(value))


def _hidden_vms(value: Any, name: str, where: str) -> dict[str, QubesdVM]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a table, not {type(value).__name__}")
    hidden = {}
    for vm, spec in value.items():
        at = f"{where}.vms.{vm}"
        if not isinstance(spec, dict):
            raise ScenarioError(f"{at}: must be a table")
        hidden[vm] = build(QubesdVM, spec, at)
    return hidden


@dataclass(frozen=True)
class QubesdSettings:
    """``[qubesd]``: faults of the simulated qubesd (the box tier only)."""

    delay: float = key(0.0, high=QUBESD_MAX_DELAY)  # real seconds before every answer
    vanish_after: int = key(0, high=MAX_COUNT)  # the socket is gone after this many calls
    rules: tuple[QubesdRule, ...] = key((), read=_rules, name="rule")
    vms: dict[str, QubesdVM] = key(factory=dict, read=_hidden_vms)


@dataclass(frozen=True)
class QrexecSettings:
    """``[qrexec]``: the VMs' side of the box tier's fake ``qrexec-client``."""

    # Real seconds an app started by qubes.StartApp runs before it exits (and the
    # service returns); None: it runs until its VM stops, as a journalist's app does.
    app_exit_after: float | None = key(None, high=QUBESD_MAX_DELAY)


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


# ----- the default inventory ------------------------------------

SERVICE_VMS = ("sys-net", "sys-firewall", "sys-usb", "sys-whonix")
FEDORA = "fedora-43-xfce"
WHONIX = "whonix-gateway-17"
INBOX = "sd-inbox-debian-13"
VIEWER = "sd-viewer-debian-13"
WS = ("sd-workstation",)


def default_inventory() -> dict[str, VMSpec]:
    """SecureDrop Workstation 1.7 on Qubes 4.3, as VM specs (features filled later).

    Networks as 1.7 sets them: sd-proxy -> sys-firewall -> sys-net, every
    other SecureDrop VM offline; sys-whonix exists (on sys-firewall) but no
    SecureDrop VM uses it.  The Qubes 4.2 layout (fedora-40-xfce, the two bookworm templates,
    sd-whonix) is the shipped scenario ``scenarios/qubes-4.2.toml``.
    """
    specs = [
        VMSpec("dom0", "AdminVM", power="Running"),
        VMSpec(FEDORA, "TemplateVM"),
        VMSpec(WHONIX, "TemplateVM"),
        VMSpec(INBOX, "TemplateVM", tags=WS),
        VMSpec(VIEWER, "TemplateVM", tags=WS),
        VMSpec("sys-net", "AppVM", FEDORA, power="Running"),
        VMSpec("sys-firewall", "AppVM", FEDORA, power="Running", netvm="sys-net"),
        VMSpec("sys-usb", "AppVM", FEDORA, power="Running"),
        # Present, on sys-firewall, but used by no SecureDrop VM since 1.6.
        VMSpec("sys-whonix", "AppVM", WHONIX, power="Running", netvm="sys-firewall"),
        VMSpec("sd-app", "AppVM", INBOX, WS),
        VMSpec("sd-proxy", "AppVM", INBOX, WS, netvm="sys-firewall"),
        VMSpec("sd-gpg", "AppVM", INBOX, WS),
        VMSpec("sd-log", "AppVM", INBOX, WS, power="Running"),
        # sd-viewer is the disposable template the viewer disposables start from.
        VMSpec("sd-viewer", "AppVM", VIEWER, WS, features={"template_for_dispvms": "1"}),
        VMSpec("sd-devices", "AppVM", VIEWER, WS),
        VMSpec("sd-printers", "AppVM", VIEWER, WS),
    ]
    return {spec.name: spec for spec in specs}


# ----- parsing ----------------------------------------------------------------


def _where(source: str, name: str) -> str:
    return f"{source or 'built-in scenario'}: [{name}]"


#: The tables of a scenario, in the order they are read.
TOP = (
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


def parse_scenario(data: Table, source: str = "") -> Scenario:
    """Validate a scenario already loaded from TOML (or JSON) and fill the defaults."""
    where_top = source or "scenario"
    if not isinstance(data, dict):
        raise ScenarioError(f"{where_top}: the top level must be a table")
    unknown = sorted(set(data) - set(TOP))
    if unknown:
        raise ScenarioError(
            f"{where_top}: unknown table(s) {', '.join(unknown)} (known: {', '.join(TOP)})"
        )

    def settings(cls: type, name: str) -> Any:
        return build(cls, table(data, name, where_top), _where(source, name))

    sim = settings(SimSettings, "sim")
    network = settings(NetworkSettings, "network")
    dom0 = settings(Dom0Settings, "dom0")
    trust = settings(TrustSettings, "trust")
    client = settings(ClientSettings, "client")
    inventory = default_inventory()
    for name, values in _named_tables(data, "vms", source).items():
        _apply_vm_table(inventory, name, values, _where(source, f'vms."{name}"'))
    _check_inventory(inventory, source)
    _check_netvms(inventory, source)
    sim = _check_updatevm(sim, inventory, "updatevm" in table(data, "sim", where_top), source)
    templates = _templates(data, inventory, source)
    vms = _finish_features(inventory, templates, dom0)
    qubesd = settings(QubesdSettings, "qubesd")  # box tier
    _check_qubesd(qubesd, vms, _where(source, "qubesd"))
    return Scenario(
        source=source,
        sim=sim,
        network=network,
        dom0=dom0,
        templates=templates,
        trust=trust,
        client=client,
        vms=vms,
        faults=_faults(data, source),
        qubesd=qubesd,
        qrexec=settings(QrexecSettings, "qrexec"),  # box tier
        raw=data,
    )


def _named_tables(data: Table, name: str, source: str) -> dict[str, Table]:
    """``[NAME."KEY"]`` tables: each must be a table."""
    found = table(data, name, source or "scenario")
    for inner, values in found.items():
        if not isinstance(values, dict):
            label = f'{name}."{inner}"'
            raise ScenarioError(f"{_where(source, label)}: must be a table")
    return found


def _templates(
    data: Table, inventory: dict[str, VMSpec], source: str
) -> dict[str, TemplateSettings]:
    """One ``TemplateSettings`` per TemplateVM/StandaloneVM of the final inventory."""
    updateable = [n for n, s in inventory.items() if s.klass in ("TemplateVM", "StandaloneVM")]
    templates: dict[str, TemplateSettings] = {name: TemplateSettings() for name in updateable}
    for name, values in _named_tables(data, "templates", source).items():
        where = _where(source, f'templates."{name}"')
        if name not in templates:
            raise ScenarioError(
                f"{where}: {name} is not a template of the inventory "
                f"(templates: {', '.join(sorted(templates))})"
            )
        templates[name] = build(TemplateSettings, values, where)
    return templates


def _faults(data: Table, source: str) -> dict[str, Fault]:
    faults: dict[str, Fault] = {}
    for tool, values in table(data, "faults", source or "scenario").items():
        where = _where(source, f'faults."{tool}"')
        if tool not in TOOLS:
            raise ScenarioError(f"{where}: unknown tool {tool!r} (tools: {', '.join(TOOLS)})")
        if not isinstance(values, dict):
            raise ScenarioError(f"{where}: must be a table")
        faults[tool] = build(Fault, values, where)
    return faults


def _check_qubesd(qubesd: QubesdSettings, vms: dict[str, VMSpec], where: str) -> None:
    """The VMs ``[qubesd]`` names must be in the final inventory (dom0 cannot hide)."""
    for index, rule in enumerate(qubesd.rules):
        if rule.vm is not None and rule.vm not in vms:
            raise ScenarioError(f"{where}.rule[{index}]: vm {rule.vm!r} is not in the inventory")
    for name in qubesd.vms:
        if name not in vms or name == "dom0":
            raise ScenarioError(
                f"{where}.vms.{name}: {name!r} is not a VM of the inventory (dom0 excluded)"
            )


def _apply_vm_table(inventory: dict[str, VMSpec], name: str, data: Table, where: str) -> None:
    """Apply one ``[vms."NAME"]`` table to the inventory (in place)."""
    given = read_keys(VMSpec, data, where, extra=("absent",))
    if not re.fullmatch(VM_NAME, name):
        raise ScenarioError(f"{where}: {name!r} is not a valid qube name")
    if name == "dom0":
        raise ScenarioError(f"{where}: dom0 cannot be changed")
    if read_value(bool, Rule(), data.get("absent", False), "absent", where):
        if set(data) - {"absent"}:
            raise ScenarioError(f"{where}: an absent VM takes no other keys")
        if name not in inventory:
            raise ScenarioError(f"{where}: {name} is not in the default inventory")
        del inventory[name]
        for other, spec in inventory.items():  # as Qubes asks: nothing may use it any more
            if spec.netvm == name:
                inventory[other] = replace(spec, netvm=None)
        return
    base = inventory.get(name) or VMSpec(name, "AppVM")
    if given.get("klass") == "AdminVM":
        raise ScenarioError(f"{where}: only dom0 is an AdminVM")
    if "template" not in given and given.get("klass", base.klass) != base.klass:
        given["template"] = None  # another class: the old template does not carry over
    for merged in ("features", "files"):
        if merged in given:
            given[merged] = {**getattr(base, merged), **given[merged]}
    spec = replace(base, **given)
    if spec.created_by_apply and spec.removed_by_apply:
        raise ScenarioError(f"{where}: a VM cannot be both created_by_apply and removed_by_apply")
    inventory[name] = spec


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


def _check_netvms(inventory: dict[str, VMSpec], source: str) -> None:
    """A netvm is a qube of the inventory (loops are left in: Qubes' clients must bear them)."""
    for spec in inventory.values():
        if spec.netvm is not None and (spec.netvm not in inventory or spec.netvm == "dom0"):
            where = _where(source, f'vms."{spec.name}"')
            raise ScenarioError(f"{where}: its netvm {spec.netvm} is not a qube of the inventory")


def _check_updatevm(
    sim: SimSettings, inventory: dict[str, VMSpec], given: bool, source: str
) -> SimSettings:
    """The UpdateVM is a qube of the inventory; the default is none when sys-firewall is not."""
    name = sim.updatevm
    if name is None or (name in inventory and name != "dom0"):
        return sim
    if not given:
        return replace(sim, updatevm=None)
    raise ScenarioError(f"{_where(source, 'sim')}: updatevm {name} is not a qube of the inventory")


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
