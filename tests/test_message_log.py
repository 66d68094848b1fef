"""The message log's pure rules (protocol/message_log.py) and its writer
(actors/link/message_log.py) on real files, in injected time."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import assume, given
from hypothesis import strategies as st

from ocppstation.actors.link.message_log import MessageLogWriter, log_directory
from ocppstation.config.loader import load
from ocppstation.protocol import message_log as ml

T0 = datetime(2026, 3, 4, 23, 59, 58, 123456, tzinfo=UTC)

timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
json_scalars = st.none() | st.booleans() | st.integers() | st.text()
entries = st.one_of(
    st.builds(
        ml.Entry,
        ts=timestamps,
        dir=st.sampled_from(["in", "out"]),
        conn=st.text(),
        frame=st.text(),
    ),
    st.builds(
        ml.Entry,
        ts=timestamps,
        dir=st.just("event"),
        conn=st.text(),
        event=st.text(),
        detail=st.dictionaries(st.text(), json_scalars),
    ),
)


@given(entries)
def test_a_line_reads_back_as_the_entry_it_was(entry: ml.Entry) -> None:
    line = ml.format_line(entry)
    assert "\n" not in line
    assert ml.parse_line(line) == entry


@given(st.lists(entries))
def test_a_file_of_lines_reads_back_in_order(items: list[ml.Entry]) -> None:
    text = "".join(ml.format_line(e) + "\n" for e in items)
    assert list(ml.parse_lines(text)) == items


def test_a_half_written_last_line_is_skipped() -> None:
    whole = ml.format_line(ml.Entry(T0, "out", "ws://x/cp", frame='[2,"1","Heartbeat",{}]'))
    assert list(ml.parse_lines(whole + "\n" + whole[:20])) == [ml.parse_line(whole)]


def test_day_files_and_what_expires() -> None:
    assert ml.day_file(T0) == "2026-03-04.log"
    assert ml.day_file(T0 + timedelta(seconds=2)) == "2026-03-05.log"
    assert ml.day_of_file("2026-03-04.log") == date(2026, 3, 4)
    assert ml.day_of_file("notes.log") is None and ml.day_of_file("2026-13-01.log") is None
    names = [f"2026-03-0{d}.log" for d in range(1, 8)] + ["keep.txt"]
    assert ml.expired(names, date(2026, 3, 7), 3) == [f"2026-03-0{d}.log" for d in range(1, 5)]


def _frame(msg: list[object]) -> str:
    return json.dumps(msg)


def test_calls_pair_with_their_answers_by_id_and_direction() -> None:
    at = [T0 + timedelta(milliseconds=10 * i) for i in range(6)]
    log = [
        ml.Entry(
            at[0], "out", "c", frame=_frame([2, "1", "StatusNotification", {"connectorId": 2}])
        ),
        # The CSMS's own call with the same id: answered by the station.
        ml.Entry(at[1], "in", "c", frame=_frame([2, "1", "Reset", {"type": "Soft"}])),
        ml.Entry(at[2], "event", "c", event="connected"),
        ml.Entry(at[3], "out", "c", frame=_frame([3, "1", {"status": "Accepted"}])),
        ml.Entry(at[4], "in", "c", frame=_frame([4, "1", "InternalError", "", {}])),
        ml.Entry(at[5], "in", "c", frame="not json"),
    ]
    status, reset, event, broken = ml.pair(log)
    assert (status.action, status.connector, status.answer) == ("StatusNotification", 2, log[4])
    assert status.error and status.rtt == 0.04
    assert (reset.action, reset.answer, reset.error) == ("Reset", log[3], False)
    assert reset.rtt == 0.02
    assert event.kind == "event" and broken.kind == "other" and broken.error


def test_an_answer_to_no_call_stands_alone() -> None:
    (lone,) = ml.pair([ml.Entry(T0, "in", "c", frame=_frame([3, "9", {}]))])
    assert lone.kind == "result" and lone.rtt is None and lone.action is None


def test_the_connector_of_each_version() -> None:
    assert ml.connector_of({"connectorId": 1}) == 1
    assert ml.connector_of({"evseId": 3}) == 3
    assert ml.connector_of({"evse": {"id": 2, "connectorId": 1}}) == 2
    assert ml.connector_of({"transactionId": 5}) is None


def test_readable_lines() -> None:
    call = ml.Entry(T0, "out", "c", frame=_frame([2, "7", "Heartbeat", {}]))
    assert ml.readable(call) == "23:59:58.123 -> Heartbeat [7] {}"
    answer = ml.Entry(T0, "in", "c", frame=_frame([3, "7", {"currentTime": "x"}]))
    assert (
        ml.readable(answer, "Heartbeat")
        == '23:59:58.123 <- Heartbeat result [7] {"currentTime":"x"}'
    )
    assert len(ml.readable(answer, "Heartbeat", width=20)) == 20


# -- secrets -----------------------------------------------------------------------

secrets = st.text(min_size=16, max_size=40).filter(lambda s: s.strip() == s and s)
ids = st.text(min_size=1, max_size=36)


def _leaks(secret: str, text: str) -> bool:
    return secret in text or json.dumps(secret, ensure_ascii=False)[1:-1] in text


@given(secrets, ids, st.sampled_from(["AuthorizationKey", "authorizationkey"]), st.integers(0, 2))
def test_change_configuration_never_leaks_the_key(
    secret: str, msg_id: str, key: str, indent: int
) -> None:
    assume(not _leaks(secret, msg_id))  # a leak is the value's, not the id that happens to match
    text = json.dumps(
        [2, msg_id, "ChangeConfiguration", {"key": key, "value": secret}], indent=indent
    )
    masked = ml.mask_frame(text)
    assert not _leaks(secret, masked)
    assert json.loads(masked)[3] == {"key": key, "value": ml.MASK}


@given(secrets, ids, st.lists(st.sampled_from(["x", "BasicAuthPassword"]), min_size=1))
def test_set_variables_never_leaks_the_password(secret: str, msg_id: str, names: list[str]) -> None:
    assume(not _leaks(secret, msg_id))
    data = [
        {
            "attributeValue": secret if name == "BasicAuthPassword" else "plain",
            "component": {"name": "SecurityCtrlr"},
            "variable": {"name": name},
        }
        for name in names
    ]
    masked = ml.mask_frame(json.dumps([2, msg_id, "SetVariables", {"setVariableData": data}]))
    assert not _leaks(secret, masked)
    values = [d["attributeValue"] for d in json.loads(masked)[3]["setVariableData"]]
    assert values == [ml.MASK if n == "BasicAuthPassword" else "plain" for n in names]


@given(secrets, st.text())
def test_a_known_secret_is_masked_even_in_a_broken_frame(secret: str, around: str) -> None:
    assert not _leaks(secret, ml.mask_frame(around + secret + around, [secret]))


def test_a_report_of_the_password_is_masked_too() -> None:
    report = {
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "BasicAuthPassword"},
        "variableAttribute": [{"type": "Actual", "value": "0123456789abcdef"}],
    }
    masked = ml.mask_frame(json.dumps([2, "1", "NotifyReport", {"reportData": [report]}]))
    assert "0123456789abcdef" not in masked


def test_a_get_configuration_answer_with_the_key_is_masked() -> None:
    keys = [{"key": "AuthorizationKey", "readonly": False, "value": "0123456789abcdef"}]
    masked = ml.mask_frame(json.dumps([3, "1", {"configurationKey": keys}]))
    assert json.loads(masked)[2]["configurationKey"][0]["value"] == ml.MASK


def test_an_event_detail_json_cannot_carry_is_written_as_text() -> None:
    entry = ml.Entry(T0, "event", "c", event="failed", detail={"why": ValueError("boom")})
    assert ml.parse_line(ml.format_line(entry)).detail == {"why": "boom"}


def test_a_frame_without_secrets_is_kept_byte_for_byte() -> None:
    text = '[2, "1",  "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}]'
    assert ml.mask_frame(text, ["", "short"]) == text


def test_credential_headers_are_masked() -> None:
    headers = {"Authorization": "Basic Y3A6c2VjcmV0", "User-Agent": "x"}
    assert ml.mask_headers(headers) == {"Authorization": ml.MASK, "User-Agent": "x"}


# -- the writer, on real files -------------------------------------------------------


class Now:
    """An injected wall clock: tests move days without waiting."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _read(path: Path) -> list[ml.Entry]:
    return list(ml.parse_lines(path.read_text("utf-8")))


def test_the_writer_rotates_by_day_and_deletes_old_days(tmp_path: Path) -> None:
    for day in ("2026-02-25", "2026-03-01", "2026-03-02"):
        (tmp_path / f"{day}.log").write_text("")
    (tmp_path / "notes.txt").write_text("not ours")
    now = Now(T0)
    writer = MessageLogWriter(tmp_path, now, keep_days=3)
    writer.frame("out", "ws://h/cp", '[2,"1","Heartbeat",{}]')
    assert writer.flush()
    now.at = T0 + timedelta(seconds=3)  # past midnight
    writer.frame("in", "ws://h/cp", '[3,"1",{}]')
    writer.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    # Kept: the last three days (4th and 5th of March, and the 3rd, absent).
    assert names == ["2026-03-04.log", "2026-03-05.log", "notes.txt"]
    assert [e.frame for e in _read(tmp_path / "2026-03-04.log")] == ['[2,"1","Heartbeat",{}]']
    assert [e.ts for e in _read(tmp_path / "2026-03-05.log")] == [now.at]


def test_the_writer_keeps_order_and_masks(tmp_path: Path) -> None:
    writer = MessageLogWriter(tmp_path, Now(T0), secrets=lambda: ["0123456789abcdef"])
    texts = [f'[2,"{i}","DataTransfer",{{"data":"0123456789abcdef"}}]' for i in range(2000)]
    threads = [
        threading.Thread(target=lambda part=part: [writer.frame("out", "c", t) for t in part])
        for part in (texts[:1000], texts[1000:])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.event("c", "connecting", headers={"Authorization": "Basic c2VjcmV0"})
    writer.close()
    written = _read(tmp_path / "2026-03-04.log")
    frames = [e.frame for e in written if e.dir == "out"]
    # Each thread's frames in the order it handed them over.
    ids = [json.loads(f)[1] for f in frames]
    assert [i for i in ids if int(i) < 1000] == [str(i) for i in range(1000)]
    assert [i for i in ids if int(i) >= 1000] == [str(i) for i in range(1000, 2000)]
    assert all("0123456789abcdef" not in f for f in frames)
    assert written[-1].detail == {"headers": {"Authorization": ml.MASK}}
    assert "c2VjcmV0" not in (tmp_path / "2026-03-04.log").read_text()


def test_a_full_queue_drops_and_says_so_without_blocking(tmp_path: Path) -> None:
    gate = threading.Event()

    def slow_secrets() -> list[str]:
        gate.wait(5)  # holds the writer thread: the queue fills up
        return []

    writer = MessageLogWriter(tmp_path, Now(T0), secrets=slow_secrets, queue_size=10)
    for i in range(100):
        writer.frame("out", "c", f'[2,"{i}","Heartbeat",{{}}]')
    assert writer.dropped > 0
    gate.set()
    assert writer.flush()
    writer.frame("out", "c", '[2,"last","Heartbeat",{}]')
    writer.close()
    written = _read(tmp_path / "2026-03-04.log")
    dropped = [e for e in written if e.event == ml.DROPPED]
    assert [e.detail["count"] for e in dropped] == [writer.dropped]
    assert json.loads(written[-1].frame)[1] == "last"


def test_a_day_stops_growing_at_its_bound(tmp_path: Path) -> None:
    now = Now(T0)
    writer = MessageLogWriter(tmp_path, now, max_bytes=2000)
    for i in range(100):
        writer.frame("out", "c", f'[2,"{i}","Heartbeat",{{}}]')
    now.at = T0 + timedelta(days=1)
    writer.frame("out", "c", '[2,"next day","Heartbeat",{}]')
    writer.close()
    first = tmp_path / "2026-03-04.log"
    assert first.stat().st_size < 2000 + 200
    assert _read(first)[-1].event == ml.LIMIT
    assert [json.loads(e.frame)[1] for e in _read(tmp_path / "2026-03-05.log")] == ["next day"]


def test_where_the_log_goes(tmp_path: Path) -> None:
    default = load(None)
    assert log_directory(default, None) is None
    assert log_directory(default, tmp_path) == tmp_path / "messages"
    off = load(None, {"Internal": {"MessageLogPath": ""}})
    assert log_directory(off, tmp_path) is None
    there = load(None, {"Internal": {"MessageLogPath": str(tmp_path / "m")}})
    assert log_directory(there, None) == tmp_path / "m"
    assert not MessageLogWriter(None, Now(T0)).enabled
