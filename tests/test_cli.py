"""The `ocppstation` command, run as a real subprocess.

The station under test is another process; the CSMS it talks to runs in this
one, so every step waits on what the CSMS saw or on the console's answer
line, with a timeout, never on a fixed pause.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from ocppstation.tools.csms import DevCsms, LogEntry

CLI = [sys.executable, "-m", "ocppstation.tools.cli"]
LINE_TIMEOUT = 15.0
WAIT = 15.0
EXIT_TIMEOUT = 30.0


class Lines:
    """Lines of a pipe, read by a daemon thread into a queue, waited on with timeouts."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        # Every line read so far, taken or not (for failure messages).
        self.all: list[str] = []
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self.all.append(line)
            self._queue.put(line)
        self._queue.put(None)  # end of stream

    def next(self, timeout: float = LINE_TIMEOUT) -> str:
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no line within {timeout}s; read: {self.all[-5:]}") from None
        if line is None:
            self._queue.put(None)  # keep reporting the end
            raise EOFError(f"end of stream; read: {self.all[-5:]}")
        return line

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.all[-lines:])


class StationProcess:
    """`ocppstation run --console`: one command line in, one answer line out."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=cwd,
        )
        assert self.proc.stdin and self.proc.stdout and self.proc.stderr
        self.out = Lines(self.proc.stdout)
        # Drained continuously: events and logs go to stderr and must not fill the pipe.
        self.err = Lines(self.proc.stderr)

    def send(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        try:
            return self.out.next()
        except (TimeoutError, EOFError) as exc:
            raise AssertionError(f"{command!r}: {exc}\nstderr:\n{self.stderr()}") from None

    def ok(self, command: str) -> str:
        answer = self.send(command)
        assert answer.startswith("ok"), f"{command!r} answered {answer!r}"
        return answer.removeprefix("ok").strip()

    def error(self, command: str) -> str:
        answer = self.send(command)
        assert answer.startswith("error "), f"{command!r} answered {answer!r}"
        return answer.removeprefix("error ")

    def stderr(self) -> str:
        return self.err.tail()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(EXIT_TIMEOUT)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def run_cli(
    args: list[str], cwd: Path, timeout: float = EXIT_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# -- configuration errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param('{"Core": {"HeartbeatInterval": 30', "not valid JSON", id="invalid-json"),
        pytest.param(
            '{"Core": {"HeartbeatIntervall": 30}}', "Core.HeartbeatIntervall", id="unknown-key"
        ),
        pytest.param(
            '{"Core": {"HeartbeatInterval": "30"}}', "Core.HeartbeatInterval", id="wrong-type"
        ),
        pytest.param('{"Cor": {"HeartbeatInterval": 30}}', "Cor", id="unknown-section"),
    ],
)
def test_a_bad_config_file_exits_2_naming_the_file_and_the_key(
    tmp_path: Path, content: str, named: str
) -> None:
    config = tmp_path / "bad.json"
    config.write_text(content, encoding="utf-8")

    done = run_cli(["run", "--config", str(config), "--id", "cp-bad"], tmp_path)

    assert done.returncode == 2, done.stderr
    assert f"{config}: {named}" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    done = run_cli(["run", "--config", str(missing)], tmp_path)
    assert done.returncode == 2, done.stderr
    assert str(missing) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_command_line_value_exits_2(tmp_path: Path) -> None:
    done = run_cli(["run", "--evses", "129", "--csms", "ws://127.0.0.1:1"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Internal.Evses" in done.stderr
    assert "Traceback" not in done.stderr


# -- the console ---------------------------------------------------------------------


@pytest.fixture
def station_process(csms: DevCsms, tmp_path: Path) -> Iterator[StationProcess]:
    # Fast, deterministic reconnects so that `disconnect` is followed promptly.
    config = tmp_path / "station.json"
    config.write_text(
        json.dumps({"Internal": {"RetryBackOffWaitMinimum": 0.2, "RetryBackOffRandomRange": 0}}),
        encoding="utf-8",
    )
    station = StationProcess(
        [
            "run",
            "--console",
            "--csms",
            csms.url,
            "--id",
            "cp-cli",
            "--evses",
            "2",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        tmp_path,
    )
    try:
        yield station
    finally:
        station.close()


def status_of(
    connector: int, status: str, error_code: str = "NoError"
) -> Callable[[LogEntry], bool]:
    def match(entry: LogEntry) -> bool:
        return (
            entry.kind == "call"
            and entry.direction == "in"
            and entry.action == "StatusNotification"
            and entry.payload.get("connectorId") == connector
            and entry.payload.get("status") == status
            and entry.payload.get("errorCode") == error_code
        )

    return match


def test_console_drives_a_station_through_a_session_faults_and_a_reconnect(
    csms: DevCsms, station_process: StationProcess
) -> None:
    cp = "cp-cli"
    station = station_process
    log = csms.log

    # Boot: BootNotification, then every connector's status.
    log.wait_call("BootNotification", cp, WAIT)
    for connector in (0, 1, 2):
        log.wait_for(status_of(connector, "Available"), WAIT)

    status = json.loads(station.ok("status"))
    assert status["id"] == cp
    assert status["registration"] == "Accepted"
    assert status["link"] == "up"
    assert [e["evse"] for e in status["evses"]] == [1, 2]

    # A session: plug, card, card again, unplug.
    mark = log.mark()
    assert station.ok("plug 1") == ""
    log.wait_for(status_of(1, "Preparing"), WAIT, since=mark)
    assert station.ok("tag 1 TAG1") == ""
    start = log.wait_call("StartTransaction", cp, WAIT, since=mark)
    assert start.payload["connectorId"] == 1
    assert start.payload["idTag"] == "TAG1"
    # Charging is reported once the station has the CSMS's answer (and its transaction id).
    log.wait_for(status_of(1, "Charging"), WAIT, since=mark)
    started = log.reply_to(start)
    assert started is not None and started.kind == "result"

    mark = log.mark()
    assert station.ok("tag 1 TAG1") == ""
    stop = log.wait_call("StopTransaction", cp, WAIT, since=mark)
    assert stop.payload["transactionId"] == started.payload["transactionId"]
    assert stop.payload["reason"] == "Local"

    mark = log.mark()
    assert station.ok("unplug 1") == ""
    log.wait_for(status_of(1, "Available"), WAIT, since=mark)

    # Fault injection by path.
    assert station.ok("crash evses/2/meter") == ""
    assert "nope" in station.error("crash nope")

    # A hardware fault, reported with its error code, then cleared.
    mark = log.mark()
    assert station.ok("fault 1 GroundFailure") == ""
    log.wait_for(status_of(1, "Faulted", "GroundFailure"), WAIT, since=mark)
    mark = log.mark()
    assert station.ok("clear 1") == ""
    log.wait_for(status_of(1, "Available"), WAIT, since=mark)

    # Mistakes are answered, on one line, and change nothing.
    assert "99" in station.error("plug 99")
    assert "bogus" in station.error("bogus")
    assert station.error("fault 1 NoSuchCode").startswith("unknown error code")
    assert station.error("plug").startswith("plug takes 1 argument")
    assert station.ok("help").startswith("commands:")
    assert "has not given up" in station.error("revive 1")

    # A dropped link is noticed by the CSMS and comes back after the (small) backoff.
    mark = log.mark()
    assert station.ok("disconnect") == ""
    log.wait_for(lambda e: e.kind == "disconnect" and e.cp_id == cp, WAIT, since=mark)
    log.wait_for(lambda e: e.kind == "connect" and e.cp_id == cp, WAIT, since=mark)
    csms.wait_connected(cp, WAIT)
    # Back on line, the station reports its connectors again.
    log.wait_for(status_of(2, "Available"), WAIT, since=mark)

    mark = log.mark()
    assert station.send("quit") == "ok bye"
    assert station.proc.wait(EXIT_TIMEOUT) == 0, station.stderr()
    # The station closed its link on the way out.
    log.wait_for(lambda e: e.kind == "disconnect" and e.cp_id == cp, WAIT, since=mark)


def test_console_end_of_input_stops_the_station(
    csms: DevCsms, station_process: StationProcess
) -> None:
    csms.log.wait_for(status_of(2, "Available"), WAIT)
    assert station_process.proc.stdin is not None
    station_process.proc.stdin.close()
    assert station_process.proc.wait(EXIT_TIMEOUT) == 0, station_process.stderr()


# -- other commands ------------------------------------------------------------------


def test_demo_runs_a_session_and_exits_0(tmp_path: Path) -> None:
    done = run_cli(["demo"], tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "done: one session, start to finish" in done.stdout


def csms_process(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], Lines, Lines]:
    """`ocppstation csms ARGS` as a subprocess: it, and its stdout and stderr as Lines."""
    proc = subprocess.Popen(
        [*CLI, "csms", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        cwd=cwd,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    return proc, Lines(proc.stdout), Lines(proc.stderr)


def test_csms_command_listens_and_obeys_stdin(tmp_path: Path) -> None:
    proc, out, err = csms_process(["--port", "0"], tmp_path)
    assert proc.stdin
    try:
        first = out.next()
        assert first.startswith("listening ws://127.0.0.1:"), first
        port = int(first.split()[1].rsplit(":", 1)[1])
        assert port > 0
        for command, expected in (("help", "ok commands:"), ("list", "ok"), ("quit", "ok bye")):
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
            answer = out.next()
            assert answer.startswith(expected), (command, answer)
        assert proc.wait(EXIT_TIMEOUT) == 0, err.tail()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(EXIT_TIMEOUT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()


# -- security profiles from the command line --------------------------------------------


def test_run_with_security_profile_3_and_provisioning_files(tmp_path: Path) -> None:
    from ocppstation.tools.csms import server_ssl_context
    from tests.pki import Ca

    server_ca, station_ca = Ca("CSMS root"), Ca("station CA")
    server_cert, server_key = server_ca.server().write(tmp_path, "server")
    cert, key = station_ca.client("cp-tls").write(tmp_path, "cp")
    context = server_ssl_context(server_cert, server_key, station_ca.write(tmp_path, "station-ca"))
    with DevCsms(port=0, ssl=context) as csms:
        station = StationProcess(
            [
                "run",
                "--console",
                "--csms",
                csms.url.replace("wss://", "ws://"),  # profile 3 dials it as wss://
                "--id",
                "cp-tls",
                "--evses",
                "1",
                "--security-profile",
                "3",
                "--csms-root",
                str(server_ca.write(tmp_path, "csms-root")),
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--data-dir",
                str(tmp_path / "data"),
            ],
            tmp_path,
        )
        try:
            boot = csms.log.wait_call("BootNotification", "cp-tls", timeout=WAIT)
            assert boot.cp_id == "cp-tls"
            (connect,) = [e for e in csms.log if e.kind == "connect"]
            assert connect.payload["client_cn"] == "cp-tls"
        finally:
            station.close()


@pytest.mark.parametrize(
    ("files", "named"),
    [
        pytest.param(
            {"--cert": None}, "Internal.ChargePointCertificateFile: cannot read", id="gone"
        ),
        pytest.param(
            {"--cert": "cert", "--key": "hello"},
            "Internal.ChargePointKeyFile: ",
            id="not-a-key",
        ),
        pytest.param(
            {"--cert": "cert"},
            "Internal.ChargePointKeyFile: the certificate and its key go together",
            id="no-key",
        ),
    ],
)
def test_an_unusable_certificate_file_exits_2_naming_the_key(
    tmp_path: Path, files: dict[str, str | None], named: str
) -> None:
    from tests.pki import Ca

    cert, _ = Ca().client("cp").write(tmp_path, "cp")
    args = ["run", "--csms", "ws://127.0.0.1:1"]
    for flag, content in files.items():
        path = tmp_path / f"{flag.strip('-')}.pem"
        if content == "cert":
            path = cert
        elif content is not None:
            path.write_text(content)
        args += [flag, str(path)]
    done = run_cli(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert "Traceback" not in done.stderr


def test_a_station_whose_root_gives_up_exits_70_for_its_service_manager(
    csms: DevCsms, station_process: StationProcess
) -> None:
    csms.log.wait_for(status_of(2, "Available"), WAIT)
    # The root allows 5 restarts in 30 s: the sixth crash makes it give up. A
    # crash told while the part is restarting is lost, so each one waits for
    # the restart of the one before (the tree after registration restarts
    # with it, last remote_trigger) before it is sent.
    for _ in range(12):
        if station_process.proc.poll() is not None:
            break
        try:
            station_process.send("crash registration")
            # The station's log, line by line (nothing else reads it here); each
            # line read once, whichever of the two it holds.
            while not any(
                what in line
                for line in (station_process.err.next(),)
                for what in ("remote_trigger restarted", "gave up")
            ):
                pass
        except (AssertionError, BrokenPipeError, OSError, EOFError, TimeoutError):
            break  # gone before it answered
    assert station_process.proc.wait(EXIT_TIMEOUT) == 70, station_process.stderr()
    assert "the station gave up" in station_process.stderr()
