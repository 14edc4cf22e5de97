"""The notifier's decision (``sdw_notify/decision.py``) as a table, and the bad ``sdw-last-updated``.

The documented thresholds, silence while provisioning or another updater
runs, and every kind of bad or hostile ``sdw-last-updated`` read through the
engine's store: only a true, recent one silences the reminder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import hostile
from hypothesis import given
from hypothesis import strategies as st

from sdw_notify import decision as notify_rules
from sdw_notify.decision import (
    GRACE_PERIOD,
    PROVISIONING_PROCESSES,
    WARNING_THRESHOLD,
    conflicting,
    decide,
)
from sdw_updater.status import StatusStore, format_time

NOW = 1_750_000_000.0
T = WARNING_THRESHOLD
G = GRACE_PERIOD
UP = 7200.0  # comfortably past the grace period


def test_thresholds_are_the_documented_ones():
    assert T == 432000  # 5 days
    assert G == 1800  # 30 minutes


@pytest.mark.parametrize(
    ("age", "uptime", "warn", "code"),
    [
        # last-updated age around the 5-day threshold (strict >)
        (T - 1, UP, False, "fresh"),
        (T, UP, False, "fresh"),
        (T + 1, UP, True, "overdue"),
        (T + 0.5, UP, True, "overdue"),
        (0, UP, False, "fresh"),
        (-60, UP, False, "fresh"),  # within the store's clock-skew allowance
        (10 * 365 * 86400, UP, True, "overdue"),
        # uptime around the 30-minute grace period (strict >)
        (T + 1, G - 1, False, "grace_period"),
        (T + 1, G, False, "grace_period"),
        (T + 1, G + 1, True, "overdue"),
        (T + 1, 0.0, False, "grace_period"),
        # unknown / untrustworthy last update counts as overdue
        (None, UP, True, "unknown_last_update"),
        (None, G + 1, True, "unknown_last_update"),
        (None, G, False, "grace_period"),
        (None, G - 1, False, "grace_period"),
        # unknown uptime cannot prove a recent boot: grace counts as over
        (T + 1, None, True, "overdue"),
        (None, None, True, "unknown_last_update"),
        (T, None, False, "fresh"),
    ],
)
def test_decision_table(age, uptime, warn, code):
    last = None if age is None else NOW - age
    decision = decide(last, NOW, uptime)
    assert (decision.warn, decision.code) == (warn, code)
    assert decision.reason


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"updater_running": True}, "updater_running"),
        ({"other_notifier": True}, "other_notifier"),
        ({"processes": {"qubesctl"}}, "provisioning"),
        ({"processes": {"sdw-admin", "bash"}}, "provisioning"),
        ({"processes": ["salt-call"]}, "provisioning"),
        ({"processes": ["salt-ssh"]}, "provisioning"),
        ({"processes": ["make"]}, "provisioning"),
        # the updater lock wins over everything else
        (
            {"updater_running": True, "other_notifier": True, "processes": ["qubesctl"]},
            "updater_running",
        ),
    ],
)
def test_silence_conditions_beat_an_overdue_update(kwargs, code):
    decision = decide(None, NOW, UP, **kwargs)
    assert decision.warn is False
    assert decision.code == code


@pytest.mark.parametrize(
    "names",
    [
        {"cmake"},
        {"makeinfo"},
        {"qubesctl-wrapper"},
        {"xqubesctl"},
        {"salt"},
        {"salt-minion-helper"},
        {"QUBESCTL"},
        {"qubesctl "},
        {"sdw-admin.py"},
        {"python3", "bash", "Xorg"},
        set(),
    ],
)
def test_only_exact_process_names_count(names):
    assert conflicting(names) == []
    assert decide(None, NOW, UP, processes=names).warn is True


def test_conflicting_lists_the_matches_sorted():
    assert conflicting(["make", "cmake", "qubesctl", "bash"]) == ["make", "qubesctl"]
    assert (
        "qubesctl, salt-call" in decide(None, NOW, UP, processes=["salt-call", "qubesctl"]).reason
    )


def test_every_provisioning_name_fits_in_comm():
    # /proc/<pid>/comm is cut to 15 characters; a longer name could never match exactly.
    assert all(len(name) <= 15 for name in PROVISIONING_PROCESSES)


def test_reason_names_the_numbers():
    decision = decide(NOW - (T + 1), NOW, 3600)
    assert str(T + 1) in decision.reason
    assert decision.as_dict()["age"] == T + 1
    assert set(decision.as_dict()) >= {"warn", "reason", "code"}


@given(
    age=st.one_of(st.none(), st.floats(-300, 3 * T, allow_nan=False)),
    uptime=st.one_of(st.none(), st.floats(0, 3 * G, allow_nan=False)),
    updater=st.booleans(),
    other=st.booleans(),
    provisioning=st.booleans(),
)
def test_warns_exactly_when_the_rules_say(age, uptime, updater, other, provisioning):
    last = None if age is None else NOW - age
    processes = ["qubesctl"] if provisioning else ["cmake"]
    decision = decide(
        last, NOW, uptime, updater_running=updater, other_notifier=other, processes=processes
    )
    overdue = last is None or NOW - last > T
    past_grace = uptime is None or uptime > G
    expected = overdue and past_grace and not (updater or other or provisioning)
    assert decision.warn is expected


# ----- every kind of bad sdw-last-updated, read through the engine's store ---------


def _store(tmp_path: Path, content: bytes | None) -> StatusStore:
    store = StatusStore(tmp_path / ".securedrop_updater")
    store.directory.mkdir(parents=True)
    if content is not None:
        store.last_updated_path.write_bytes(content)
    return store


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(None, id="missing"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\n", id="newline-only"),
        pytest.param(b"time to die", id="garbage"),
        pytest.param(b"\x00\xff\xfe binary", id="binary"),
        pytest.param(b"2024-03-0", id="truncated"),
        pytest.param(b"2024-03-01 12:3", id="truncated-time"),
        pytest.param(b"2024-13-45 25:61:61", id="impossible-date"),
        pytest.param(b'{"last": "2024-03-01 12:00:00"}', id="json"),
        pytest.param(format_time(time.time() + 30 * 86400).encode(), id="future"),
        pytest.param(b"2024-03-01 12:00:00" * 60000, id="huge"),
    ],
)
def test_bad_last_updated_counts_as_overdue(tmp_path, content):
    store = _store(tmp_path, content)
    now = time.time()
    last = store.read_last_updated(now)
    assert last is None
    decision = decide(last, now, UP)
    assert decision.warn is True
    assert decision.code == "unknown_last_update"


def test_last_updated_that_is_a_directory_or_fifo_counts_as_overdue(tmp_path):
    store = _store(tmp_path, None)
    store.last_updated_path.mkdir()
    assert decide(store.read_last_updated(time.time()), time.time(), UP).warn is True
    store.last_updated_path.rmdir()
    os.mkfifo(store.last_updated_path)  # must not block the notifier
    assert decide(store.read_last_updated(time.time()), time.time(), UP).warn is True


@pytest.mark.parametrize(("days", "warn"), [(1, False), (4.9, False), (5.1, True), (30, True)])
def test_good_last_updated_files(tmp_path, days, warn):
    now = time.time()
    store = _store(tmp_path, format_time(now - days * 86400).encode() + b"\n")
    last = store.read_last_updated(now)
    assert last is not None
    assert decide(last, now, UP).warn is warn


# ----- any sdw-last-updated, judged by an independent oracle ---------------------------


@given(
    st.one_of(
        st.binary(max_size=100),
        hostile.STAMPS.map(lambda s: str(s).encode()),
        hostile.STAMPS.map(lambda s: (str(s) + "\n").encode()),
    )
)
def test_only_a_true_recent_last_updated_silences_the_reminder(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    directory = tmp_path_factory.mktemp("state")
    (directory / "sdw-last-updated").write_bytes(raw)
    last = StatusStore(directory).read_last_updated(hostile.NOW)
    decision = notify_rules.decide(last, hostile.NOW, uptime=7200.0)
    if not decision.warn:
        written = hostile.oracle_time(raw.decode("ascii").strip())
        assert written is not None
        assert hostile.NOW - written <= notify_rules.WARNING_THRESHOLD
