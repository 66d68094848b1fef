"""Signed meter values (2.0.1 J, SignReadings): the meter's signature travels
with its register reading to the CSMS, and verifies there."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.actors.clock import FakeClock
from ocppstation.hw.signed_readings import ReadingSigner, SignedReading, verify
from ocppstation.tools.csms import DevCsms
from tests.conftest import StationFactory, quiet
from tests.test_v201_e2e import CP, _cv, charging, csms201, station201, wait_event

__all__ = ["csms201"]

SIGNER = ReadingSigner()


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_a_signed_reading_verifies_to_its_register(energy_wh: float) -> None:
    signed = SIGNER.sign(energy_wh)
    assert verify(signed) == pytest.approx(round(energy_wh / 1000, 3) * 1000)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_a_changed_reading_does_not_verify(energy_wh: int, more: int) -> None:
    signed = SIGNER.sign(energy_wh)
    forged = signed.data.replace(
        f'"RV":{round(energy_wh / 1000, 3)}', f'"RV":{round((energy_wh + more * 10) / 1000, 3)}'
    )
    assert forged != signed.data
    with pytest.raises(ValueError, match="signature"):
        verify(
            SignedReading(forged, signed.signing_method, signed.encoding_method, signed.public_key)
        )


def test_another_meters_key_does_not_verify() -> None:
    signed = SIGNER.sign(1234)
    other = ReadingSigner().public_key
    with pytest.raises(ValueError, match="signature"):
        verify(SignedReading(signed.data, signed.signing_method, signed.encoding_method, other))


def _register(event: dict[str, Any]) -> dict[str, Any]:
    [value] = [
        v
        for m in event["meterValue"]
        for v in m["sampledValue"]
        if v.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
    ]
    return value


@pytest.mark.parametrize("with_key", ["EveryMeterValue", "Never"])
def test_j_sign_readings_puts_the_meters_signature_in_the_updated_events(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock, with_key: str
) -> None:
    station = _signed_station(csms201, make_station, with_key)
    charging(station, csms201)
    quiet(station)
    clock.advance(10)
    sent = wait_event(csms201, "Updated", 2)
    [periodic, *_] = [e for e in sent if e["triggerReason"] == "MeterValuePeriodic"]
    value = _register(periodic)
    signed = value["signedMeterValue"]
    assert (signed["signingMethod"], signed["encodingMethod"]) == (
        "ECDSA-secp256r1-SHA256",
        "OCMF",
    )
    if with_key == "Never":
        assert signed["publicKey"] == ""
        return
    reading = SignedReading(
        signed["signedMeterData"],
        signed["signingMethod"],
        signed["encodingMethod"],
        signed["publicKey"],
    )
    assert verify(reading) == pytest.approx(value["value"], abs=1)


def test_j_without_sign_readings_no_signature_is_sent(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = station201(
        csms201,
        make_station,
        Core={"MeterValueSampleInterval": 10},
        Simulation={"SignedMeter": True},
    )
    charging(station, csms201)
    quiet(station)
    clock.advance(10)
    sent = wait_event(csms201, "Updated", 2)
    [periodic, *_] = [e for e in sent if e["triggerReason"] == "MeterValuePeriodic"]
    assert "signedMeterValue" not in _register(periodic)


def _signed_station(csms201: DevCsms, make_station: StationFactory, with_key: str) -> Any:
    station = station201(
        csms201,
        make_station,
        Core={"MeterValueSampleInterval": 10},
        Simulation={"SignedMeter": True},
    )
    items = [
        _cv("SampledDataCtrlr", "SignReadings", attributeValue="true"),
        _cv("OCPPCommCtrlr", "PublicKeyWithSignedMeterValue", attributeValue=with_key),
    ]
    answer = csms201.call(CP, "SetVariables", {"setVariableData": items})
    assert {r["attributeStatus"] for r in answer["setVariableResult"]} == {"Accepted"}
    return station


def _verified(value: dict[str, Any], key: str) -> float:
    signed = value["signedMeterValue"]
    return verify(
        SignedReading(
            signed["signedMeterData"], signed["signingMethod"], signed["encodingMethod"], key
        )
    )


def _ended_register(event: dict[str, Any]) -> dict[str, Any]:
    [value] = [
        v
        for m in event["meterValue"]
        for v in m["sampledValue"]
        if v.get("context") == "Transaction.End"
        and v.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register"
    ]
    return value


def test_j_the_started_and_ended_registers_are_signed_and_verify(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = _signed_station(csms201, make_station, "EveryMeterValue")
    charging(station, csms201)
    quiet(station)
    clock.advance(10)
    wait_event(csms201, "Updated", 2)
    station.unplug(1)
    sent = wait_event(csms201, "Ended")
    started, ended = sent[0], sent[-1]
    begin, end = _register(started), _ended_register(ended)
    key = begin["signedMeterValue"]["publicKey"]
    assert key and end["signedMeterValue"]["publicKey"] == key
    assert _verified(begin, key) == pytest.approx(begin["value"], abs=1)
    assert _verified(end, key) == pytest.approx(end["value"], abs=1)
    assert end["value"] >= begin["value"]


def test_j_once_per_transaction_the_key_goes_with_the_first_signed_value_only(
    csms201: DevCsms, make_station: StationFactory, clock: FakeClock
) -> None:
    station = _signed_station(csms201, make_station, "OncePerTransaction")
    charging(station, csms201)
    for _ in range(2):
        quiet(station)
        clock.advance(10)
    periodic = [
        e for e in wait_event(csms201, "Updated", 3) if e["triggerReason"] == "MeterValuePeriodic"
    ]
    assert len(periodic) >= 2
    station.unplug(1)
    sent = wait_event(csms201, "Ended")
    signed = [
        v
        for e in sent
        for m in e.get("meterValue", ())
        for v in m["sampledValue"]
        if "signedMeterValue" in v
    ]
    keys = [v["signedMeterValue"]["publicKey"] for v in signed]
    assert len(signed) >= 4  # the start, two periodic samples, the end
    assert keys[0] and set(keys[1:]) == {""}
    # The key the first value brought verifies every later one.
    for value in signed:
        assert _verified(value, keys[0]) == pytest.approx(value["value"], abs=1)
