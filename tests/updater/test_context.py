"""The wiring (``sdw_updater/context.py``): the fast path's in-place-upgrade guard.

A click on a fresh workstation asks Qubes little before it starts the app,
and still answers as the full check does (``inventory.dist_upgrade_evidence``
over every template the run would update), on the simulated workstation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sdw_updater.context import open_context
from sdw_updater.inventory import dist_upgrade_evidence, templates_to_update

HEALTHY = "[sim]\ntime_scale = 0.0\n"


@pytest.mark.parametrize(
    ("extra", "upgrading"),
    [
        ("", False),
        # a workstation template left on the old agent: the upgrade is not finished
        ('[templates."sd-viewer-debian-13"]\nagent_version = "4.2"\n', True),
        # a template nothing of the workstation uses does not count
        (
            '[vms."fedora-42-unused"]\nklass = "TemplateVM"\ntags = []\n'
            'features = { "qubes-agent-version" = "4.2" }\n',
            False,
        ),
        # an empty agent version is no evidence
        ('[templates."fedora-43-xfce"]\nagent_version = ""\n', False),
        ('[sim]\nqubes_release = "4.4"\n', True),
    ],
)
def test_upgrade_guard_answers_as_the_full_check(home: Path, extra: str, upgrading: bool) -> None:
    scenario = home / "s.toml"
    scenario.write_text(("" if "[sim]" in extra else HEALTHY) + extra)
    ctx = open_context(True, str(scenario), home=home)
    vms = ctx.host.vms()
    full = dist_upgrade_evidence(
        ctx.host.dom0_release(), vms, templates_to_update(vms, ctx.host.updatevm())
    )
    answer = ctx.upgrade_in_progress()
    assert (answer is not None) is upgrading is bool(full)
    if answer is not None:
        assert all(template in answer for template in full)
