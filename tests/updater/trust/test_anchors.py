"""The trust anchors (``sdw_updater/trust/anchors.py``): the environment from ``config.json``.

Whatever ``config.json`` holds, the environment is one of the three, and
anything that does not plainly name one means production's pins, the
strictest.
"""

from __future__ import annotations

import json

import pytest
from helpers.hostile import JSON_VALUES
from hypothesis import given
from hypothesis import strategies as st

from sdw_updater.trust import anchors
from sdw_updater.trust.anchors import read_environment


@pytest.mark.parametrize(
    ("raw", "env", "problem"),
    [
        (b'{"environment": "prod"}', "prod", False),
        (b'{"environment": "staging", "hidserv": {}}', "staging", False),
        (b'{"environment": "dev"}', "dev", False),
        (None, "prod", True),
        (b"", "prod", True),
        (b"\xff\xfe garbage", "prod", True),
        (b'["environment", "dev"]', "prod", True),
        (b'{"environment": "Staging"}', "prod", True),
        (b'{"environment": ["dev"]}', "prod", True),
    ],
)
def test_environment_fails_closed_to_prod(raw: bytes | None, env: str, problem: bool) -> None:
    found, why = read_environment(raw)
    assert found == env
    assert (why is not None) == problem


_CONFIGS = st.one_of(
    st.binary(max_size=300),
    st.fixed_dictionaries(
        {}, optional={"environment": st.sampled_from(["prod", "staging", "dev", "Prod", ""])}
    ).map(lambda d: json.dumps(d).encode()),
    JSON_VALUES.map(lambda v: json.dumps({"environment": v}).encode()),
    st.integers(1, 60000).map(lambda n: b"[" * n + b"]" * n),
)


@given(_CONFIGS)
def test_config_json_fails_closed_to_production(raw: bytes) -> None:
    """Any config.json that does not plainly name an environment means the strictest pins."""
    env, problem = anchors.read_environment(raw)
    assert env in anchors.ENVIRONMENTS
    if problem is not None:
        assert env == anchors.PROD
    else:
        assert json.loads(raw)["environment"] == env
