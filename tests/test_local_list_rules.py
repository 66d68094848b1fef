"""Local Authorization List rules (protocol.v16.local_list): examples and a model."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.protocol.v16.local_list import (
    ACCEPTED,
    DIFFERENTIAL,
    FAILED,
    FULL,
    NOT_SUPPORTED,
    VERSION_MISMATCH,
    Limits,
    judge_update,
    reported_version,
    tag_key,
)

LIMITS = Limits(max_length=5, send_max_length=3)


def accepted(status: str = "Accepted", **more: str) -> dict[str, Any]:
    return {"status": status, **more}


def entry(tag: str, info: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"idTag": tag} if info is None else {"idTag": tag, "idTagInfo": info}


def judge(
    update_type: str,
    version: int,
    entries: list[dict[str, Any]],
    *,
    current_version: int = 0,
    current: set[str] | None = None,
    enabled: bool = True,
) -> str:
    current = current or set()
    return judge_update(
        enabled=enabled,
        update_type=update_type,
        version=version,
        entries=entries,
        current_version=current_version,
        current_size=len(current),
        present={e["idTag"] for e in entries if tag_key(e["idTag"]) in current},
        limits=LIMITS,
    ).status


# -- the pure rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "update_type,version,entries,current_version,current,status",
    [
        (FULL, 1, [], 0, set(), ACCEPTED),
        (FULL, 1, [entry("A", accepted())], 7, set(), ACCEPTED),  # Full ignores the version
        (FULL, 0, [], 3, {"a"}, ACCEPTED),  # emptying at 0 is fine
        (FULL, 0, [entry("A", accepted())], 0, set(), FAILED),  # 0 would read as empty
        (FULL, -1, [], 0, set(), FAILED),
        (FULL, 2, [entry("A")], 0, set(), FAILED),  # Full needs idTagInfo
        (FULL, 2, [entry("A", accepted()), entry("a", accepted())], 0, set(), FAILED),  # twice
        (FULL, 2, [entry(t, accepted()) for t in "ABCD"], 0, set(), FAILED),  # > send max
        (DIFFERENTIAL, 3, [entry("A", accepted())], 3, set(), VERSION_MISMATCH),
        (DIFFERENTIAL, 2, [entry("A", accepted())], 3, set(), VERSION_MISMATCH),
        (DIFFERENTIAL, 4, [entry("A", accepted())], 3, set(), ACCEPTED),
        (DIFFERENTIAL, 4, [], 3, set(), ACCEPTED),  # no entries: only the version moves
        (DIFFERENTIAL, 4, [entry("A")], 3, {"a"}, ACCEPTED),  # a removal
        # The list holds 5: one more is too many, a replacement is not.
        (DIFFERENTIAL, 4, [entry("F", accepted())], 3, set("abcde"), FAILED),
        (DIFFERENTIAL, 4, [entry("A", accepted("Blocked"))], 3, set("abcde"), ACCEPTED),
        (DIFFERENTIAL, 4, [entry("A"), entry("F", accepted())], 3, set("abcde"), ACCEPTED),
    ],
)
def test_judge_update(
    update_type: str,
    version: int,
    entries: list[dict[str, Any]],
    current_version: int,
    current: set[str],
    status: str,
) -> None:
    assert judge(
        update_type, version, entries, current_version=current_version, current=current
    ) == (status)


def test_a_disabled_list_is_not_supported_and_reports_minus_one() -> None:
    assert judge(FULL, 1, [], enabled=False) == NOT_SUPPORTED
    assert reported_version(enabled=False, stored_version=4, size=2) == -1
    assert reported_version(enabled=True, stored_version=4, size=0) == 0
    assert reported_version(enabled=True, stored_version=4, size=2) == 4


TAGS = st.sampled_from(["A", "a", "B", "C", "D", "E", "F", "G"])
INFO = st.sampled_from([None, accepted(), accepted("Blocked"), accepted(parentIdTag="P")])
UPDATES = st.lists(
    st.tuples(
        st.sampled_from([FULL, DIFFERENTIAL]),
        st.integers(min_value=-1, max_value=12),
        st.lists(st.tuples(TAGS, INFO), max_size=5),
    ),
    max_size=12,
)


@given(UPDATES)
def test_a_list_kept_by_the_rules_never_outgrows_its_limit_and_reports_its_version(
    updates: list[tuple[str, int, list[tuple[str, dict[str, Any] | None]]]],
) -> None:
    """A model of the stored list, updated only when judged Accepted."""
    held: dict[str, dict[str, Any]] = {}
    stored_version = 0
    for update_type, version, pairs in updates:
        entries = [entry(tag, info) for tag, info in pairs]
        reported = reported_version(enabled=True, stored_version=stored_version, size=len(held))
        status = judge(update_type, version, entries, current_version=reported, current=set(held))
        if update_type == DIFFERENTIAL and status == VERSION_MISMATCH:
            assert version <= reported
        if status != ACCEPTED:
            continue
        assert len(entries) <= LIMITS.send_max_length
        assert version > reported or update_type == FULL
        if update_type == FULL:
            held = {}
        for e in entries:
            if "idTagInfo" in e:
                held[tag_key(e["idTag"])] = e["idTagInfo"]
            else:
                held.pop(tag_key(e["idTag"]), None)
        stored_version = version
        assert len(held) <= LIMITS.max_length
        reported = reported_version(enabled=True, stored_version=stored_version, size=len(held))
        assert reported == (version if held else 0)
