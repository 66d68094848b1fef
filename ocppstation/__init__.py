"""ocppstation: the charging-station side of OCPP as supervised pykka actors."""

__version__ = "0.1.0"
