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
