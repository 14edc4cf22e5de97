"""The trust checks' fixtures: throwaway keys made once per session, a scanner, a pin.

Keys are made with the real ``gpg`` (``helpers.trust.Keyring``) and its agent
is killed at the end; a scanner is ``KeyScanner`` on a fresh empty keyring;
``pin`` pins a throwaway key for an environment for one test (the real pins
are compiled in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from helpers.trust import RELEASE_UID, Keyring, Keys

from sdw_updater.trust import anchors
from sdw_updater.trust.gpg import KeyScanner


@pytest.fixture(scope="session")
def keys() -> Iterator[Keys]:
    ring = Keyring()
    try:
        yield Keys(
            ring=ring,
            pinned=ring.make(RELEASE_UID),
            impostor=ring.make(RELEASE_UID),
            expired=ring.make(RELEASE_UID, expiry="1d", faked="20190101T000000!"),
            revoked=ring.make("Revoked <revoked@example.invalid>"),
            other=ring.make("Other <other@example.invalid>"),
        )
    finally:
        ring.close()


@pytest.fixture
def scanner() -> Iterator[KeyScanner]:
    with KeyScanner() as scanner:
        yield scanner


@pytest.fixture
def pin(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], None]:
    """Pin a throwaway key for an environment (the real pins are compiled in)."""

    def pin(env: str, fingerprint: str) -> None:
        monkeypatch.setitem(anchors.PINNED, env, fingerprint)

    return pin
