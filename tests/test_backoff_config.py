"""Reconnect backoff (pure) and the config loader's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocppstation.config.loader import ConfigError, load
from ocppstation.protocol.backoff import Backoff

backoffs = st.builds(
    Backoff,
    wait_minimum=st.floats(0, 60),
    random_range=st.floats(0, 60),
    repeat_times=st.integers(0, 10),
)


@given(backoffs, st.integers(0, 100), st.floats(0, 1, exclude_max=True))
def test_delay_is_bounded_and_never_shrinks_with_attempts(
    backoff: Backoff, attempt: int, rnd: float
) -> None:
    delay = backoff.delay(attempt, rnd)
    assert backoff.wait_minimum <= delay + 1e-9
    assert delay <= backoff.longest() + 1e-9
    assert backoff.delay(attempt + 1, rnd) >= delay


def test_delay_doubles_then_stays() -> None:
    backoff = Backoff(wait_minimum=3, random_range=0, repeat_times=2)
    assert [backoff.delay(n, 0.0) for n in range(5)] == [3, 6, 12, 12, 12]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text,key,words",
    [
        ('{"Core": {"HeartbeatInterval": "often"}}', "Core.HeartbeatInterval", "integer"),
        ('{"Core": {"Heartbeat": 10}}', "Core.Heartbeat", "unknown key"),
        ('{"Cor": {}}', "Cor", "unknown section"),
        ('{"Internal": {"Evses": 129}}', "Internal.Evses", "128"),
        ('{"Internal": {"CentralSystemURI": "http://x"}}', "Internal.CentralSystemURI", "match"),
        ('{"Security": {"SecurityProfile": 1}}', "Security.AuthorizationKey", "profile 1"),
        ('{"Core": [1]}', "Core", "object"),
        ("{nope", "", "not valid JSON"),
    ],
)
def test_a_bad_file_is_refused_naming_file_and_key(
    tmp_path: Path, text: str, key: str, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert caught.value.key == key
    assert words in message


def test_file_over_defaults_and_overrides_over_file(tmp_path: Path) -> None:
    path = write(
        tmp_path, json.dumps({"Core": {"HeartbeatInterval": 42}, "Internal": {"Evses": 3}})
    )
    config = load(path, {"Internal": {"Evses": 5}})
    assert config.value("Core", "HeartbeatInterval") == 42
    assert config.evses == 5
    assert config.value("Core", "MeterValueSampleInterval") == 60  # a default


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "absent.json")
