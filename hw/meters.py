"""Energy meter register maps as data, and registers to a MeterReading.

The shipped models live in meters.json; a station config may name one of
them or give its own map (driver "modbus" with "registers"), so supporting
another Modbus meter is a config entry, not code. Pure: no I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ocppstation.hw.modbus import (
    MAX_REGISTERS,
    READ_FUNCTIONS,
    WordOrder,
    float_from_registers,
    plan_blocks,
)
from ocppstation.hw.ports import MeterReading

# A quantity name says what and in which unit; only these are understood.
QUANTITIES = frozenset(
    {
        "energy_import_kwh",
        "energy_import_wh",
        "power_w",
        "power_kw",
        "frequency_hz",
        *(f"voltage_l{n}_v" for n in (1, 2, 3)),
        *(f"current_l{n}_a" for n in (1, 2, 3)),
    }
)


@cache
def models() -> dict[str, dict[str, Any]]:
    text = resources.files(__package__).joinpath("meters.json").read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@dataclass(frozen=True)
class RegisterMap:
    name: str
    registers: Mapping[str, int]
    function: int = 4
    word_order: WordOrder = "high_first"
    max_count: int = 80

    def __post_init__(self) -> None:
        unknown = sorted(set(self.registers) - QUANTITIES)
        if unknown:
            raise ValueError(
                f"unknown quantities {unknown} (known: {', '.join(sorted(QUANTITIES))})"
            )
        if not {"energy_import_kwh", "energy_import_wh"} & set(self.registers):
            raise ValueError("the map needs energy_import_kwh or energy_import_wh")
        if self.function not in READ_FUNCTIONS:
            raise ValueError(f"function must be 3 or 4, got {self.function}")
        if not 2 <= self.max_count <= MAX_REGISTERS:
            raise ValueError(f"max_count must be 2..{MAX_REGISTERS}, got {self.max_count}")
        for quantity, address in self.registers.items():
            if not 0 <= address <= 0xFFFE:
                raise ValueError(f"{quantity}: address {address} out of range")

    def blocks(self) -> list[tuple[int, int]]:
        """(start, count) of each read needed for one full reading."""
        return plan_blocks(self.registers.values(), self.max_count)

    def reading(self, blocks: Mapping[int, tuple[int, ...]]) -> MeterReading:
        """The reading from the registers read per block start (as `blocks()` planned)."""
        words: dict[int, int] = {}
        for start, values in blocks.items():
            for offset, value in enumerate(values):
                words[start + offset] = value
        floats = {
            quantity: float_from_registers(words[a], words[a + 1], self.word_order)
            for quantity, a in self.registers.items()
        }
        if "energy_import_kwh" in floats:
            energy = floats["energy_import_kwh"] * 1000.0
        else:
            energy = floats["energy_import_wh"]
        power = floats["power_w"] if "power_w" in floats else floats.get("power_kw", 0.0) * 1000.0
        return MeterReading(
            energy_wh=energy,
            power_w=power,
            current_a=_phases(floats, "current", "a"),
            voltage_v=_phases(floats, "voltage", "v"),
            frequency_hz=floats.get("frequency_hz"),
        )


def _phases(floats: Mapping[str, float], what: str, unit: str) -> tuple[float, ...]:
    values = []
    for n in (1, 2, 3):
        key = f"{what}_l{n}_{unit}"
        if key not in floats:
            break
        values.append(floats[key])
    return tuple(values)


def register_map(driver: str, custom: Mapping[str, Any] | None = None) -> RegisterMap:
    """The map of a shipped model, or of `custom` (for driver "modbus").

    A custom map may also extend or override a shipped model's registers.
    Raises ValueError with what is wrong.
    """
    base: dict[str, Any] = {}
    if driver != "modbus":
        try:
            base = dict(models()[driver])
        except KeyError:
            raise ValueError(
                f"unknown meter model {driver!r} (known: {', '.join(models())}, modbus)"
            ) from None
    elif not custom or "registers" not in custom:
        raise ValueError("driver 'modbus' needs a 'registers' map")
    custom = custom or {}
    registers = {**base.get("registers", {}), **custom.get("registers", {})}
    return RegisterMap(
        name=driver,
        registers=registers,
        function=int(custom.get("function", base.get("function", 4))),
        word_order=custom.get("word_order", base.get("word_order", "high_first")),
        max_count=int(custom.get("max_count", base.get("max_count", 80))),
    )
