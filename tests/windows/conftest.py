"""The Windows suites' Wine prefix: one per module."""

from __future__ import annotations

import pytest

from onair_testkit import onair, secrets
from onair_testkit import wine as wine_kit


@pytest.fixture(scope="module")
def wine(tmp_path_factory) -> dict:
    """The environment a Windows program runs in here."""
    if not str(onair.onair_bin()).endswith(".exe"):
        pytest.fail("ONAIR_BIN is not onair.exe; run these through scripts/windows/test", pytrace=False)
    env = wine_kit.new_prefix(tmp_path_factory.mktemp("wine-prefix"))
    secrets.SESSION.watch_folder(wine_kit.user_folder(env))
    return env
