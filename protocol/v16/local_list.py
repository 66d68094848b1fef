"""The Local Authorization List's rules (OCPP 1.6 sections 3.5.1, 5.10, 5.15), pure.

`judge_update` says how a station answers a SendLocalList, given what it
holds now; only an Accepted update is then stored. `reported_version` is
what GetLocalListVersion answers.

OCPP 2.0.1 (D01, D02) has the same rules with a few other answers; a
`Dialect` holds them (`V16`, the default, and `V201`), so both versions
share one set of rules. 2.0.1's entries come in 1.6's shape (idTag,
idTagInfo), read so by the 2.0.1 authorization block.

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

2.0.1 (`V201`) differs where its requirements say so:

- A disabled list (LocalAuthListCtrlr.Enabled false) answers Failed, and
  GetLocalListVersion reports 0 (D02.FR.03): 2.0.1 has no NotSupported
  status and no -1.
- versionNumber must be above 0 (D01.FR.18), for every update: 0 means
  "no list installed".
- GetLocalListVersion reports the version of the last update, also of one
  that emptied the list, as libocpp does: in 2.0.1 only "no update ever"
  (or a disabled list) is 0, since no update may carry 0.
- An update larger than LocalAuthListCtrlr.BytesPerMessage fails like one
  with more entries than ItemsPerMessage. The spec gives the CSMS the
  limits (D01.FR.11) and no answer for a station that gets more; Failed
  is what leaves the list as it was and tells the CSMS to try again.
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
    send_max_bytes: int = 0  # 2.0.1's BytesPerMessage: 0 is no limit


@dataclass(frozen=True)
class Dialect:
    """Where the versions' answers differ; the rules themselves are one."""

    disabled: str  # SendLocalList's answer while the list is disabled
    no_list_version: int  # GetLocalListVersion while the list is disabled
    min_version: int  # the lowest listVersion an update may carry
    empty_is_zero: bool  # an empty list reports version 0 (1.6), or its own (2.0.1)


V16 = Dialect(disabled=NOT_SUPPORTED, no_list_version=-1, min_version=0, empty_is_zero=True)
V201 = Dialect(disabled=FAILED, no_list_version=0, min_version=1, empty_is_zero=False)


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
    dialect: Dialect = V16,
    size_bytes: int = 0,
) -> Judgement:
    """The answer to SendLocalList(`version`, `update_type`, `entries`).

    `current_version` is what GetLocalListVersion reports now
    (`reported_version`). `present` holds those of the entries' idTags
    already in the list (any case); only a Differential update needs it, to
    know the size afterwards. `size_bytes` is the request's size on the
    wire, checked against `limits.send_max_bytes`.
    """
    if not enabled:
        return Judgement(dialect.disabled, "the local authorization list is disabled")
    if len(entries) > limits.send_max_length:
        return Judgement(
            FAILED,
            f"{len(entries)} entries, more than SendLocalListMaxLength {limits.send_max_length}",
        )
    if limits.send_max_bytes and size_bytes > limits.send_max_bytes:
        return Judgement(
            FAILED, f"{size_bytes} bytes, more than BytesPerMessage {limits.send_max_bytes}"
        )
    keys = [tag_key(str(entry.get("idTag", ""))) for entry in entries]
    if len(set(keys)) != len(keys):
        return Judgement(FAILED, "an idTag appears more than once")
    if version < dialect.min_version:
        return Judgement(FAILED, f"listVersion {version} is below {dialect.min_version}")
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


def reported_version(
    *, enabled: bool, stored_version: int, size: int, dialect: Dialect = V16
) -> int:
    """GetLocalListVersion's listVersion: 1.6's -1 without a list, 0 for an empty one."""
    if not enabled:
        return dialect.no_list_version
    if size == 0 and dialect.empty_is_zero:
        return 0
    return stored_version
