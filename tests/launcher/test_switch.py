"""The switch (``launcher/switch.py``, ``securedrop-updater-switch``): what ``on`` plans, pure.

``on`` changes only what is not so already and records only that, repairs
and keeps its first record when run again, and refuses before changing
anything.  The switch as installed, with the real systemctl and rpm: the box
tier (tests/box/test_box_switch.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from launcher import switch
from sdw_updater import coexist
from sdw_updater.coexist import OURS, SwitchState

LINKS = {coexist.link_path(n): coexist.our_program(n) for n in coexist.PROGRAMS}


def facts(**change: Any) -> switch.Facts:
    base = switch.Facts(
        switch="off",
        previous=None,
        missing=[],
        link_dir=True,
        links=dict.fromkeys(coexist.PROGRAMS, "absent"),
        upstream="enabled",
        ours="disabled",
    )
    return base._replace(**change)


def test_on_changes_what_is_not_so_already_and_records_only_that() -> None:
    plan = switch.plan_on(facts(), "t0")
    assert plan.to_link == list(coexist.PROGRAMS)
    assert (plan.mask, plan.enable) == (True, True)
    assert plan.state == SwitchState("t0", LINKS, True, True)
    # An admin had masked upstream's timer and enabled ours: off must leave both so.
    plan = switch.plan_on(facts(upstream="masked", ours="enabled"), "t0")
    assert (plan.mask, plan.enable) == (False, False)
    assert (plan.state.masked_upstream_timer, plan.state.enabled_our_timer) == (False, False)
    # A link of ours already there (made by hand): not recorded, so off leaves it.
    links = dict.fromkeys(coexist.PROGRAMS, "absent") | {"sdw-login": OURS}
    plan = switch.plan_on(facts(links=links), "t0")
    assert "/usr/local/bin/sdw-login" not in plan.state.links


def test_on_again_repairs_and_keeps_the_first_record() -> None:
    first = SwitchState("t0", LINKS, True, True)
    links = dict.fromkeys(coexist.PROGRAMS, OURS) | {"sdw-updater": "absent"}
    plan = switch.plan_on(facts(switch="on", previous=first, links=links, ours="enabled"), "t1")
    assert plan.to_link == ["sdw-updater"]
    assert (plan.mask, plan.enable) == (True, False)  # the mask was lifted: mask again
    assert plan.state == first


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"switch": "unknown"}, "cannot be read"),
        ({"missing": ["sdw-notify"]}, "/usr/libexec/securedrop-updater/sdw-notify"),
        ({"link_dir": False}, "/usr/local/bin is not a directory"),
        ({"links": {"sdw-updater": "foreign"}}, "/usr/local/bin/sdw-updater exists"),
        ({"upstream": None}, "cannot tell"),
        ({"ours": "not-found"}, "securedrop-updater-notify.timer is not installed"),
    ],
)
def test_on_refuses_before_changing_anything(change: dict[str, Any], words: str) -> None:
    reason = switch.refusal(facts(**change))
    assert reason is not None and words in reason
    assert switch.refusal(facts()) is None
