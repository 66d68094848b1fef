"""The pure choices of the 1.6 remote control and availability blocks."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.v16.availability import overall
from ocppstation.actors.v16.remote_control import may_claim, pick_connector

STATUSES = ["Available", "Preparing", "Charging", "Reserved", "Unavailable", "Faulted", "Finishing"]
TAGS = ["A", "B", "a"]

state = st.fixed_dictionaries(
    {
        "status": st.sampled_from(STATUSES),
        "operative": st.booleans(),
        "transaction_id": st.one_of(st.none(), st.integers(1, 9)),
        "reserved_for": st.lists(
            st.tuples(st.sampled_from(TAGS), st.one_of(st.none(), st.just("G"))).map(list),
            max_size=1,
        ),
    }
)
states = st.dictionaries(st.integers(1, 6), state, max_size=6)


def _free(id_tag: str, s: dict[str, Any]) -> bool:
    return (
        s["transaction_id"] is None
        and s["operative"]
        and s["status"] in ("Available", "Preparing", "Reserved")
        and may_claim(id_tag, s["reserved_for"])
    )


@given(states, st.sampled_from(TAGS), st.one_of(st.none(), st.integers(0, 7)))
def test_a_remote_start_goes_only_to_a_free_connector(
    connectors: dict[int, dict[str, Any]], id_tag: str, wanted: int | None
) -> None:
    chosen = pick_connector(id_tag, wanted, connectors)
    free = [n for n, s in connectors.items() if _free(id_tag, s)]
    if wanted is not None:
        assert chosen == (wanted if wanted in free else None)
    elif not free:
        assert chosen is None
    else:
        assert chosen in free
        statuses = {connectors[n]["status"] for n in free}
        # Where the driver is comes first: a cable in, then their reservation.
        if "Preparing" in statuses:
            assert connectors[chosen]["status"] == "Preparing"
        elif "Reserved" in statuses:
            assert connectors[chosen]["status"] == "Reserved"
        else:
            assert chosen == min(free)


def test_a_reservation_holds_its_connector_for_its_own_tag_case_blind() -> None:
    assert may_claim("abc", [])
    assert may_claim("ABC", [["abc", None]])
    assert not may_claim("other", [["abc", None]])
    # With a parentIdTag the connector asks whether the tag is of that group.
    assert may_claim("other", [["abc", "G"]])


@given(st.lists(st.sampled_from(["Accepted", "Rejected", "Scheduled"])))
def test_change_availability_answers_for_all_the_connectors_it_asked(answers: list[str]) -> None:
    status = overall(answers)
    if "Scheduled" in answers:
        assert status == "Scheduled"
    elif answers and set(answers) == {"Rejected"}:
        assert status == "Rejected"
    else:
        assert status == "Accepted"
