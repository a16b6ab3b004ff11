"""The CI flag is read one way by every tier (issue 12 item 8)."""

from __future__ import annotations

import pytest

from tests.ciflag import under_ci


@pytest.mark.parametrize("value", ["1", "true", "True", "TRUE", "yes", "on", " true "])
def test_these_values_mean_ci(value: str) -> None:
    assert under_ci({"CI": value}) is True


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "off"])
def test_these_values_do_not(value: str) -> None:
    assert under_ci({"CI": value}) is False


def test_unset_is_not_ci() -> None:
    assert under_ci({}) is False
