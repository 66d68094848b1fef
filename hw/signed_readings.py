"""Signed meter readings, as a metering device with a signing key gives them.

Real Eichrecht meters sign each register reading in the meter (OCMF, the
Open Charge Metering Format, is the common envelope). The simulation does
the same with its own P-256 key so that a station builder and a CSMS can
check the whole path: the signed data travels with the reading to the
TransactionEvent's signedMeterValue (2.0.1 J, SignReadings), and anyone
holding the public key can verify it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["ReadingSigner", "SignedReading", "verify"]

SIGNING_METHOD = "ECDSA-secp256r1-SHA256"
ENCODING_METHOD = "OCMF"


@dataclass(frozen=True)
class SignedReading:
    """The meter's signed data for one register reading."""

    data: str  # OCMF: "OCMF|<payload JSON>|<signature JSON>"
    signing_method: str
    encoding_method: str
    public_key: str  # base64 of the DER SubjectPublicKeyInfo


class ReadingSigner:
    """Signs energy register readings with the meter's key (made here if not given)."""

    def __init__(
        self, key: ec.EllipticCurvePrivateKey | None = None, meter_id: str = "SIM"
    ) -> None:
        self._key = key or ec.generate_private_key(ec.SECP256R1())
        self.meter_id = meter_id
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key = base64.b64encode(der).decode("ascii")
        self._readings = 0

    def sign(self, energy_wh: float) -> SignedReading:
        """The OCMF envelope of a register reading (kWh, three decimals); each
        carries the meter's running reading number, so none can be replayed
        for another."""
        self._readings += 1
        payload = json.dumps(
            {
                "FV": "1.0",
                "GI": "ocppstation simulated meter",
                "MS": self.meter_id,
                "RD": [{"RI": self._readings, "RV": round(energy_wh / 1000, 3), "RU": "kWh"}],
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        signature = self._key.sign(payload.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        envelope = json.dumps({"SA": SIGNING_METHOD, "SD": signature.hex()}, separators=(",", ":"))
        return SignedReading(
            f"OCMF|{payload}|{envelope}", SIGNING_METHOD, ENCODING_METHOD, self.public_key
        )


def verify(signed: SignedReading) -> float:
    """The register reading (Wh) the signed data vouches for; raises ValueError
    if the data is not OCMF or its signature does not hold for the key."""
    try:
        tag, payload, envelope = signed.data.split("|", 2)
        if tag != "OCMF":
            raise ValueError("not OCMF")
        signature = bytes.fromhex(json.loads(envelope)["SD"])
        key = serialization.load_der_public_key(base64.b64decode(signed.public_key))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise ValueError("not an EC key")
        key.verify(signature, payload.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
        return float(json.loads(payload)["RD"][0]["RV"]) * 1000
    except InvalidSignature as exc:
        raise ValueError("the signature does not match") from exc
    except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed signed data: {exc}") from exc
