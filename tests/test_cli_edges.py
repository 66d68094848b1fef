"""The rough edges of the command line: bad flags, --version, help, Ctrl-C in
console mode, fake-device at the end of its input, the console's `wait` and
`crash`.

Every station here is another process (tests/test_cli.py's StationProcess);
each step waits on an answer line or on what the CSMS saw, never on a pause.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ocppstation.actors.runtime.supervisor import ChildCrashed
from ocppstation.actors.station import StationError
from ocppstation.tools.console import Console
from ocppstation.tools.csms import DevCsms
from tests.test_cli import CLI, EXIT_TIMEOUT, WAIT, Lines, StationProcess, run_cli, status_of

# -- bad values: one line naming the flag, exit 2 ----------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        pytest.param(["--log-level", "verbose"], "--log-level", id="log-level"),
        pytest.param(["--evses", "0"], "--evses", id="evses-0"),
        pytest.param(["--evses", "129"], "--evses", id="evses-129"),
        pytest.param(["--evses", "two"], "--evses", id="evses-word"),
        pytest.param(["--ocpp", "3.0"], "--ocpp", id="ocpp-unknown"),
        pytest.param(["--ocpp", "1.6,1.6"], "--ocpp", id="ocpp-twice"),
        pytest.param(["--id", ""], "--id", id="id-empty"),
        pytest.param(["--id", "a/b"], "--id", id="id-slash"),
        pytest.param(["--csms", "http://x"], "--csms", id="csms-scheme"),
        pytest.param(["--security-profile", "7"], "--security-profile", id="profile"),
        pytest.param(["--password", ""], "--password", id="password-empty"),
        pytest.param(["--cert", "{missing}"], "--cert", id="cert-missing"),
        pytest.param(["--key", "{missing}"], "--key", id="key-missing"),
        pytest.param(["--csms-root", "{missing}"], "--csms-root", id="root-missing"),
        pytest.param(["--config", "{missing}"], "--config", id="config-missing"),
        pytest.param(["--data-dir", "{file}"], "--data-dir", id="data-dir-a-file"),
        pytest.param(["--no-such-flag"], "--no-such-flag", id="unknown-flag"),
    ],
)
def test_a_bad_flag_value_is_one_line_naming_the_flag_and_exit_2(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    args = [a.format(missing=tmp_path / "missing.pem", file=a_file) for a in args]
    done = run_cli(["run", "--csms", "ws://127.0.0.1:1", *args], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert flag in lines[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        pytest.param(["--port", "70000"], "--port", id="port"),
        pytest.param(["--interval", "0"], "--interval", id="interval"),
        pytest.param(["--boot", "Maybe"], "--boot", id="boot"),
        pytest.param(["--ocpp", "9"], "--ocpp", id="ocpp"),
        pytest.param(["--tls-cert", "/nonexistent.pem"], "--tls-cert", id="tls-cert"),
    ],
)
def test_a_bad_csms_flag_is_one_line_and_exit_2(tmp_path: Path, args: list[str], flag: str) -> None:
    done = run_cli(["csms", *args], tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert flag in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        pytest.param(["sdm630", "--unit", "0"], "--unit", id="unit-0"),
        pytest.param(["sdm630", "--unit", "2", "--unit", "2"], "--unit", id="unit-twice"),
        pytest.param(["board", "--watchdog", "-1"], "--watchdog", id="watchdog"),
        pytest.param(["sdm630", "--link", "/nonexistent/dir/tty"], "--link", id="link"),
        pytest.param(["sdm999"], "device", id="device"),
    ],
)
def test_a_bad_fake_device_flag_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], flag: str
) -> None:
    done = run_cli(["fake-device", *args, "--pty"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert flag in done.stderr
    assert "Traceback" not in done.stderr


def test_version_names_the_package_the_ocpp_versions_and_the_schema_package(
    tmp_path: Path,
) -> None:
    import importlib.metadata

    done = run_cli(["--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"ocppstation {importlib.metadata.version('ocppstation')}" in done.stdout
    assert "1.6" in done.stdout and "2.0.1" in done.stdout
    assert f"ocpp {importlib.metadata.version('ocpp')}" in done.stdout


def test_run_help_lists_the_console_commands_and_the_defaults(tmp_path: Path) -> None:
    done = run_cli(["run", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for command in ("plug N", "tag N IDTAG", "crash PATH", "wait registered", "wait status"):
        assert command in text
    assert "ws://127.0.0.1:9000" in text  # --csms's default, from the config defaults
    assert "(default: INFO)" in text
    assert "1 to 128" in text


def test_csms_help_documents_every_option_and_its_default(tmp_path: Path) -> None:
    done = run_cli(["csms", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    options = re.findall(r"^  (--[a-z-]+)", done.stdout, re.MULTILINE)
    assert {"--ocpp", "--host", "--port", "--boot", "--interval", "--password"} <= set(options)
    # Every option has a help text: words after its name and metavar.
    section = done.stdout.split("options:", 1)[1].split("\n\n", 1)[0]
    for block in re.split(r"\n(?=  -)", section.strip("\n")):
        words = block.split()
        described = [w for w in words[1:] if not w.isupper() and not w.startswith("-")]
        assert len(described) >= 3, f"{words[0]} has no help"
    flat = " ".join(done.stdout.split())
    for default in ("(default: 127.0.0.1)", "(default: 9000)", "(default: Accepted)"):
        assert default in flat
    assert "reset CPID" in done.stdout  # the stdin commands


# -- Ctrl-C in console mode -----------------------------------------------------------


@pytest.fixture
def console_station(csms: DevCsms, tmp_path: Path) -> Iterator[StationProcess]:
    station = StationProcess(
        [
            "run",
            "--console",
            "--csms",
            csms.url,
            "--id",
            "cp-edges",
            "--evses",
            "2",
            "--data-dir",
            str(tmp_path / "data"),
            "--log-level",
            "WARNING",
        ],
        tmp_path,
    )
    try:
        yield station
    finally:
        station.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_in_console_mode_stops_the_station_cleanly_and_exits_0(
    csms: DevCsms, console_station: StationProcess, sig: signal.Signals
) -> None:
    station = console_station
    assert station.ok(f"wait registered {WAIT}") == ""
    assert station.ok("plug 1") == ""
    assert station.ok(f"wait status 1 Preparing {WAIT}") == ""
    mark = csms.log.mark()

    station.proc.send_signal(sig)

    assert station.proc.wait(EXIT_TIMEOUT) == 0, station.stderr()
    # The station closed its link on the way out, as `quit` does.
    csms.log.wait_for(lambda e: e.kind == "disconnect" and e.cp_id == "cp-edges", WAIT, since=mark)
    station.err._thread.join(WAIT)
    assert "Traceback" not in "\n".join(station.err.all)
    assert "KeyboardInterrupt" not in "\n".join(station.err.all)


# -- the console's wait and crash, end to end -------------------------------------------


def test_console_wait_answers_ok_once_it_holds_and_an_error_at_its_timeout(
    csms: DevCsms, console_station: StationProcess
) -> None:
    station = console_station
    assert station.ok(f"wait registered {WAIT}") == ""
    assert station.ok("wait registered 0") == ""  # holds already: at once
    assert station.ok(f"wait status 2 Available {WAIT}") == ""

    # Asked before it happens: the answer comes when it does (the CSMS makes
    # EVSE 1 Unavailable while the console waits).
    assert station.proc.stdin is not None
    mark = csms.log.mark()
    station.proc.stdin.write(f"wait status 1 unavailable {WAIT}\n")
    station.proc.stdin.flush()
    answer = csms.call("cp-edges", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"})
    assert answer["status"] == "Accepted"
    csms.log.wait_for(status_of(1, "Unavailable"), WAIT, since=mark)
    assert station.out.next() == "ok"
    assert station.ok("wait status 1 Unavailable 0") == ""

    timeout = station.error("wait status 2 Charging 0.2")
    assert timeout.startswith("timeout after 0.2 s"), timeout
    assert "EVSE 2 is Available" in timeout

    assert "unknown status" in station.error("wait status 1 Plugged")
    assert "no EVSE 9" in station.error("wait status 9 Available")
    assert "TIMEOUT" in station.error("wait registered soon")
    assert station.error("wait").startswith("wait takes 1 to 4 arguments")


def test_console_crash_is_ok_once_crashed_and_one_warning_line_without_traceback(
    csms: DevCsms, console_station: StationProcess
) -> None:
    station = console_station
    assert station.ok(f"wait registered {WAIT}") == ""
    assert station.ok("crash evses/2/meter") == ""
    # The event lines tell the restart; the station's stderr, line by line.
    while "evses/2/meter restarted" not in station.err.next():
        pass
    assert station.send("quit") == "ok bye"
    assert station.proc.wait(EXIT_TIMEOUT) == 0
    station.err._thread.join(WAIT)
    err = station.err.all
    warnings = [line for line in err if " WARNING " in line and "meter" in line]
    assert len(warnings) == 1, "\n".join(err)
    assert "crashed" in warnings[0] and "evses/2/meter" in warnings[0]
    assert not [line for line in err if " ERROR " in line], "\n".join(err)
    assert "Traceback" not in "\n".join(err)


class _Bus:
    """A station stand-in whose crashes go nowhere, or are reported."""

    def __init__(self, *, reported: bool) -> None:
        self.reported = reported
        self.subscribers: list[Any] = []
        self.hardware = {1: object()}

    def subscribe(self, subscriber: Any) -> Any:
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    def crash(self, path: str) -> None:
        if path == "nope":
            raise StationError("no running actor at 'nope'")
        if self.reported:
            # From another thread, as the supervisor's would be.
            def report() -> None:
                for subscriber in list(self.subscribers):
                    subscriber(ChildCrashed(path, "InjectedCrash: crash requested"))

            threading.Thread(target=report).start()


def test_crash_answers_ok_only_when_the_crash_was_seen() -> None:
    lost = Console(_Bus(reported=False), crash_timeout=0.2)  # type: ignore[arg-type]
    answer = lost.handle("crash evses/1/meter")
    assert answer.startswith("error evses/1/meter did not crash within 0.2 s"), answer
    seen = Console(_Bus(reported=True), crash_timeout=5)  # type: ignore[arg-type]
    assert seen.handle("crash evses/1/meter") == "ok"
    assert seen.handle("crash nope").startswith("error no running actor")


# -- fake-device ends with its input ------------------------------------------------------


def fake_device(*args: str) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        [*CLI, "fake-device", "sdm630", "--pty", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    return proc, Lines(proc.stdout)


def test_fake_device_stops_when_its_standard_input_ends() -> None:
    proc, out = fake_device()
    try:
        assert out.next().startswith("/dev/")
        assert proc.stdin is not None
        proc.stdin.write("mute\n")
        proc.stdin.flush()
        assert out.next() == "ok"
        proc.stdin.close()
        assert proc.wait(EXIT_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)


def test_fake_device_forever_outlives_its_input_until_a_signal() -> None:
    proc, out = fake_device("--forever")
    try:
        assert out.next().startswith("/dev/")
        assert proc.stdin is not None
        proc.stdin.close()
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(1.0)  # still serving: the point of --forever
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(EXIT_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)


def test_status_still_answers_json(console_station: StationProcess) -> None:
    # The console's other answers are unchanged by the new commands.
    assert console_station.ok(f"wait registered {WAIT}") == ""
    assert json.loads(console_station.ok("status"))["registration"] == "Accepted"


# -- run on a terminal: the live table ----------------------------------------------------


def test_run_on_a_terminal_shows_the_live_table_and_stops_on_ctrl_c(
    csms: DevCsms, tmp_path: Path
) -> None:
    import fcntl
    import os
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    # A terminal of 100 columns, as a person's would say it has.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        # WARNING: the stderr pipe is read only at the end and must not fill.
        [
            *CLI,
            "run",
            "--csms",
            csms.url,
            "--id",
            "cp-tty",
            "--evses",
            "2",
            "--log-level",
            "WARNING",
        ],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    os.close(slave)
    screen: list[str] = []
    drawn = threading.Event()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            screen.append(chunk.decode(errors="replace"))
            text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", "".join(screen))
            if "boot Accepted" in text and "offered A" in text and "Available" in text:
                drawn.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert drawn.wait(WAIT), "".join(screen)[-2000:]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(EXIT_TIMEOUT) == 0
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)
        os.close(master)
        if proc.stderr is not None:
            proc.stderr.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", "".join(screen))
    assert "ocppstation cp-tty  OCPP 1.6" in text
    assert f"link  up  {csms.url}/cp-tty" in text
