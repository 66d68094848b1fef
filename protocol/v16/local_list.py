"""The Local Authorization List's rules (OCPP 1.6 sections 3.5.1, 5.10, 5.15), pure.

`judge_update` says how a station answers a SendLocalList, given what it
holds now; only an Accepted update is then stored. `reported_version` is
what GetLocalListVersion answers.

Decisions worth knowing:

- A station without the list (LocalAuthListEnabled false, or the profile
  not in SupportedFeatureProfiles) answers NotSupported and reports -1.
- VersionMismatch is for Differential updates only, as the spec defines it:
  a Full update replaces the list whatever its version, which is how a CSMS
  gets back in step after a mismatch.
- Failed covers every update the station will not apply as a whole: more
  entries than SendLocalListMaxLength, a list that would outgrow
  LocalAuthListMaxLength, the same idTag twice (IdToken is case-insensitive,
  so `abc` and `ABC` are the same), a Full entry without idTagInfo (the spec
  requires it there) or a negative listVersion (-1 means "no list"). Nothing
  is applied in part.
- A Full update may carry listVersion 0 only when it empties the list: 0 is
  what GetLocalListVersion reports for an empty list, so a non-empty list at
  version 0 would look empty to the CSMS.
- GetLocalListVersion reports 0 whenever the list is empty, whatever version
  the last (emptying) update carried: the spec's 0 means "empty". A
  Differential update is compared with that reported version, the one the
  CSMS can know, so after emptying the list any version above 0 is taken.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ACCEPTED = "Accepted"
FAILED = "Failed"
NOT_SUPPORTED = "NotSupported"
VERSION_MISMATCH = "VersionMismatch"

FULL = "Full"
DIFFERENTIAL = "Differential"


@dataclass(frozen=True)
class Limits:
    max_length: int  # LocalAuthListMaxLength: entries the list may hold
    send_max_length: int  # SendLocalListMaxLength: entries one SendLocalList may carry


@dataclass(frozen=True)
class Judgement:
    status: str  # the SendLocalList.conf status
    reason: str = ""  # why, for the log, when not Accepted


def tag_key(id_tag: str) -> str:
    """The form two idTags are compared in (OCPP's IdToken is case-insensitive)."""
    return id_tag.casefold()


def judge_update(
    *,
    enabled: bool,
    update_type: str,
    version: int,
    entries: Sequence[Mapping[str, Any]],
    current_version: int,
    current_size: int,
    present: Collection[str],
    limits: Limits,
) -> Judgement:
    """The answer to SendLocalList(`version`, `update_type`, `entries`).

    `current_version` is what GetLocalListVersion reports now
    (`reported_version`). `present` holds those of the entries' idTags
    already in the list (any case); only a Differential update needs it, to
    know the size afterwards.
    """
    if not enabled:
        return Judgement(NOT_SUPPORTED, "the local authorization list is disabled")
    if len(entries) > limits.send_max_length:
        return Judgement(
            FAILED,
            f"{len(entries)} entries, more than SendLocalListMaxLength {limits.send_max_length}",
        )
    keys = [tag_key(str(entry.get("idTag", ""))) for entry in entries]
    if len(set(keys)) != len(keys):
        return Judgement(FAILED, "an idTag appears more than once")
    if version < 0:
        return Judgement(FAILED, f"listVersion {version} is negative")
    if update_type == FULL:
        if any("idTagInfo" not in entry for entry in entries):
            return Judgement(FAILED, "a Full update needs an idTagInfo for every entry")
        if version == 0 and entries:
            return Judgement(FAILED, "listVersion 0 stands for an empty list")
        size = len(entries)
    else:
        if version <= current_version:
            return Judgement(
                VERSION_MISMATCH,
                f"listVersion {version} is not above the current {current_version}",
            )
        known = {tag_key(tag) for tag in present}
        added = sum(
            1 for k, e in zip(keys, entries, strict=True) if "idTagInfo" in e and k not in known
        )
        removed = sum(
            1 for k, e in zip(keys, entries, strict=True) if "idTagInfo" not in e and k in known
        )
        size = current_size + added - removed
    if size > limits.max_length:
        return Judgement(
            FAILED,
            f"the list would hold {size} entries,"
            f" more than LocalAuthListMaxLength {limits.max_length}",
        )
    return Judgement(ACCEPTED)


def reported_version(*, enabled: bool, stored_version: int, size: int) -> int:
    """GetLocalListVersion's listVersion: -1 without a list, 0 for an empty one."""
    if not enabled:
        return -1
    if size == 0:
        return 0
    return stored_version
