"""What the firmware and uploads actors get from the `Station`, kept across trees.

One per station, in `StationContext.firmware`. It outlives every tree the
station builds (a Reset, the reboot after an installation), which is why the
firmware update in progress is remembered here too: a station without a
database file starts each tree with an empty storage, and the status owed
to the CSMS after the reboot must not be lost with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ocppstation.actors.files.station_log import StationLog

# Installs the firmware file it is given; True, or the version now installed,
# when installed. Runs on a worker thread and may take as long as it needs;
# raising counts as False.
Installer = Callable[[Path], bool | str]


@dataclass
class FirmwareHooks:
    # An embedder's installer; None: Internal.FirmwareInstallCommand.
    installer: Installer | None = None
    # The station's log, which the uploads actor sends for GetDiagnostics and
    # GetLog; None: no log uploads.
    log: StationLog | None = None
    # The update in progress (FirmwareJob.to_json) when storage has no file.
    remembered: dict[str, Any] | None = None
    # The version the last installation reported: what BootNotification says
    # from the reboot on, instead of the configured FirmwareVersion.
    version: str | None = None
    # Where downloads go for a station without a data dir: made on first use,
    # this Station's own (two stations of one ChargePointId must not share
    # it), kept across its trees and removed when it stops.
    scratch: Path | None = None
