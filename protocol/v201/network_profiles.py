"""OCPP 2.0.1 B09 Set network profile and B10 Migrate to new CSMS: the rules.

A network connection profile sits in a configuration slot (1 to 4 here).
OCPPCommCtrlr.NetworkConfigurationPriority lists the slots the station
dials, in order; after NetworkProfileConnectionAttempts failed attempts on
one it moves to the next, wrapping around at the end (as libocpp's
ConnectivityManager does). A connection that was up and then lost is no
failed attempt: the station dials the same slot again.

The station's configured CSMS (Internal.CentralSystemURI, `--csms`, with
SecurityCtrlr.SecurityProfile) is the profile of slot 1 while no profile is
stored there, so the default priority "1" dials it; a profile the CSMS
stores at slot 1 takes its place.

`judge` decides a SetNetworkProfileRequest (B09.FR.01 to FR.05): Rejected
for a slot not offered (InvalidConfSlot), a lower securityProfile than the
one in force (NoSecurityDowngrade, A05), an ocppVersion or transport the
station does not speak (only OCPP20, which is 2.0.1, over JSON), a URL it
cannot dial, or a TLS profile whose certificates it lacks; Accepted
otherwise. What the profile says about the interface, a VPN or an APN is
kept but not acted on: the station has one network, managed outside it.

Pure: no I/O, no threads, no clock.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BUILT_IN_SLOT",
    "SLOTS",
    "Dialing",
    "NetworkProfile",
    "Verdict",
    "after_failure",
    "dial_order",
    "first",
    "judge",
    "parse_priority",
    "priority_problem",
]

# The configuration slots a CSMS may store a profile in: the valuesList of
# NetworkConfigurationPriority (B09.FR.05).
SLOTS: tuple[int, ...] = (1, 2, 3, 4)
# The slot the configured CSMS stands in for while nothing is stored there.
BUILT_IN_SLOT = 1

SPOKEN_VERSIONS = frozenset({"OCPP20"})  # 2.0.1 calls itself OCPP20 in the enum
SPOKEN_TRANSPORTS = frozenset({"JSON"})
SECURITY_PROFILES = range(0, 4)

ACCEPTED = "Accepted"
REJECTED = "Rejected"
FAILED = "Failed"


@dataclass(frozen=True)
class NetworkProfile:
    """NetworkConnectionProfileType, as stored and dialled."""

    csms_url: str
    security_profile: int
    ocpp_version: str = "OCPP20"
    ocpp_transport: str = "JSON"
    message_timeout: int = 30
    ocpp_interface: str = "Wired0"
    vpn: Mapping[str, Any] | None = None
    apn: Mapping[str, Any] | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> NetworkProfile:
        """From connectionData as the schema has it (camelCase; validated)."""
        return cls(
            csms_url=str(data["ocppCsmsUrl"]),
            security_profile=int(data["securityProfile"]),
            ocpp_version=str(data["ocppVersion"]),
            ocpp_transport=str(data["ocppTransport"]),
            message_timeout=int(data["messageTimeout"]),
            ocpp_interface=str(data["ocppInterface"]),
            vpn=dict(data["vpn"]) if data.get("vpn") is not None else None,
            apn=dict(data["apn"]) if data.get("apn") is not None else None,
        )

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ocppVersion": self.ocpp_version,
            "ocppTransport": self.ocpp_transport,
            "ocppCsmsUrl": self.csms_url,
            "messageTimeout": self.message_timeout,
            "securityProfile": self.security_profile,
            "ocppInterface": self.ocpp_interface,
        }
        if self.vpn is not None:
            out["vpn"] = dict(self.vpn)
        if self.apn is not None:
            out["apn"] = dict(self.apn)
        return out


@dataclass(frozen=True)
class Verdict:
    """SetNetworkProfileResponse's status and, when not Accepted, why."""

    status: str
    reason_code: str | None = None
    info: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


def _rejected(code: str, info: str) -> Verdict:
    return Verdict(REJECTED, code, info)


def url_problem(url: str) -> str | None:
    """Why the station cannot dial `url`, or None."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is no number
    except ValueError as exc:
        return f"{url!r} is no URL: {exc}"
    if parts.scheme.lower() not in ("ws", "wss"):
        return f"{url!r} is not a ws:// or wss:// URL"
    if not parts.hostname:
        return f"{url!r} names no host"
    return None


def judge(
    slot: int,
    profile: NetworkProfile,
    *,
    security_profile: int,
    csms_root: bool,
    client_certificate: bool,
    slots: Collection[int] = SLOTS,
) -> Verdict:
    """The answer to SetNetworkProfile(slot, profile) on a station whose
    security profile in force is `security_profile`, holding a CSMS root
    certificate (`csms_root`) and a client certificate of its own or not."""
    if slot not in slots:
        offered = ",".join(str(s) for s in sorted(slots))
        return _rejected("InvalidConfSlot", f"configurationSlot {slot} is not one of {offered}")
    if profile.security_profile < security_profile:
        # A05 / B09.FR.04: no way back to a weaker profile.
        return _rejected(
            "NoSecurityDowngrade",
            f"securityProfile {profile.security_profile} is below {security_profile} in force",
        )
    if profile.security_profile not in SECURITY_PROFILES:
        return _rejected("InvalidNetworkConf", f"no securityProfile {profile.security_profile}")
    if profile.ocpp_version not in SPOKEN_VERSIONS:
        return _rejected("UnsupportedParam", f"the station does not speak {profile.ocpp_version}")
    if profile.ocpp_transport not in SPOKEN_TRANSPORTS:
        return _rejected(
            "UnsupportedParam", f"the station has no {profile.ocpp_transport} transport"
        )
    if profile.message_timeout < 1:
        return _rejected("InvalidNetworkConf", f"messageTimeout {profile.message_timeout} < 1")
    why = url_problem(profile.csms_url)
    if why is not None:
        return _rejected("InvalidURL", why)
    # As libocpp: a TLS profile the station could not open now is refused
    # up front instead of failing at every attempt.
    if profile.security_profile >= 2 and not csms_root:
        return _rejected(
            "InvalidNetworkConf",
            f"securityProfile {profile.security_profile} needs a CSMS root certificate",
        )
    if profile.security_profile >= 3 and not client_certificate:
        return _rejected("InvalidNetworkConf", "securityProfile 3 needs a client certificate")
    return Verdict(ACCEPTED)


# -- NetworkConfigurationPriority ------------------------------------------------


def parse_priority(value: str | Iterable[str]) -> tuple[int, ...]:
    """The slots of a NetworkConfigurationPriority value ("1,2" or its members);
    ValueError for a member that is no slot number."""
    # "" is the empty list, not one empty member.
    text_items = value.split(",") if isinstance(value, str) and value.strip() else []
    items = text_items if isinstance(value, str) else list(value)
    out = []
    for item in items:
        text = item.strip()
        if not text.isdigit():
            raise ValueError(f"{item!r} is no configuration slot")
        out.append(int(text))
    return tuple(out)


def priority_problem(
    value: str | Iterable[str], known: Collection[int], slots: Collection[int] = SLOTS
) -> str | None:
    """Why NetworkConfigurationPriority may not become `value`, or None.

    Every slot listed must hold a profile (`known`; the built-in slot 1
    counts), once (libocpp's B09.FR.33/34 checks, the same in 2.0.1)."""
    try:
        priority = parse_priority(value)
    except ValueError as exc:
        return str(exc)
    if not priority:
        return "no configuration slot listed"
    if len(set(priority)) != len(priority):
        return "a configuration slot is listed twice"
    for slot in priority:
        if slot not in slots:
            return f"configurationSlot {slot} is not one the station offers"
        if slot not in known:
            return f"configurationSlot {slot} holds no network profile"
    return None


# -- which slot to dial (B10) ----------------------------------------------------


@dataclass(frozen=True)
class Dialing:
    """The slot the link dials and how many attempts on it failed in a row."""

    slot: int
    failures: int = 0


def dial_order(priority: Sequence[int], known: Collection[int]) -> tuple[int, ...]:
    """The slots of `priority` that hold a profile, in order, each once; the
    built-in slot alone when none does (the station always has somewhere to go)."""
    seen: list[int] = []
    for slot in priority:
        if slot in known and slot not in seen:
            seen.append(slot)
    return tuple(seen) or (BUILT_IN_SLOT,)


def first(priority: Sequence[int], known: Collection[int]) -> Dialing:
    """Where a new run starts: the top of the priority list."""
    return Dialing(dial_order(priority, known)[0])


def after_failure(
    now: Dialing, priority: Sequence[int], known: Collection[int], attempts: int
) -> Dialing:
    """Where the next attempt goes once the attempt on `now` failed.

    The same slot until `attempts` (at least 1) attempts on it failed, then
    the next slot of the priority list, wrapping around. A slot the list no
    longer holds (changed since) gives way to the top of the list.
    """
    order = dial_order(priority, known)
    if now.slot not in order:
        return Dialing(order[0])
    failures = now.failures + 1
    if failures < max(attempts, 1):
        return Dialing(now.slot, failures)
    return Dialing(order[(order.index(now.slot) + 1) % len(order)])
