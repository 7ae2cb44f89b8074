"""The registry's shape (docs/services.md): errors declared once, refusals cited."""

from __future__ import annotations

import itertools

import pytest

from services.registry import domain, errors

STATUSES = domain.LIFECYCLE


def test_every_error_code_is_declared_once_with_one_status() -> None:
    codes = [c.code for c in errors.CODES]
    assert len(codes) == len(set(codes)), "a code declared twice"
    assert {"unit_name_taken", "system_retired", "status_transition_invalid"} <= set(codes)
    for code in errors.CODES:
        assert 400 <= code.status < 600 and code.meaning


def test_described_names_each_code_under_its_status() -> None:
    text = errors.described(errors.SYSTEM_RETIRED, errors.FORBIDDEN, also={409: "More."})
    assert set(text) == {403, 409}
    assert text[409].startswith("`system_retired`: ") and text[409].endswith("More.")


@pytest.mark.parametrize(("current", "new"), itertools.product(STATUSES, STATUSES))
def test_a_lifecycle_refusal_is_a_violation_citing_the_registrys_own_rule(
    current: domain.Status, new: domain.Status
) -> None:
    violation = domain.lifecycle_violation(current, new)
    if domain.transition_allowed(current, new):
        assert violation is None
        return
    assert violation is not None
    # No regulation article governs the lifecycle: the rule says it is the registry's.
    expected = domain.RETIRED_FINAL if current == "retired" else domain.LIFECYCLE_FORWARD
    assert violation.rule == expected and violation.rule.startswith("registry:")
    assert violation.message_zh and violation.message_en
    refused = errors.lifecycle_refused(current, violation)
    assert refused.status == 409
    code = "system_retired" if current == "retired" else "status_transition_invalid"
    assert refused.code == code
    assert refused.problem()["violations"] == [violation.as_dict()]
