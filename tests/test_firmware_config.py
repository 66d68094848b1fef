"""Firmware Management's configuration: the station's own keys and the OCPP one."""

from __future__ import annotations

import pytest

from ocppstation.config import keys_v16 as k
from ocppstation.config.loader import ConfigError, load


def test_the_internal_keys_have_defaults_and_are_checked() -> None:
    config = load(None)
    internal = config["Internal"]
    assert internal["FirmwareInstallCommand"] == ""
    assert internal["FileTransferCaFile"] == ""
    assert internal["FileTransferTimeout"] > 0 and internal["FirmwareInstallTimeout"] > 0
    with pytest.raises(ConfigError, match=r"Internal\.FileTransferTimeout"):
        load(None, {"Internal": {"FileTransferTimeout": 0}})


def test_only_the_protocols_the_station_speaks_may_be_claimed() -> None:
    spec = k.KEYS["SupportedFileTransferProtocols"]
    assert spec.default == ("FTP", "HTTP", "HTTPS")
    assert load(None, {"FirmwareManagement": {"SupportedFileTransferProtocols": "HTTPS"}})
    with pytest.raises(ConfigError, match="FTPS: not implemented"):
        load(None, {"FirmwareManagement": {"SupportedFileTransferProtocols": "HTTP,FTPS"}})
