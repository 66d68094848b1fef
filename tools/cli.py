"""The `ocppstation` command: run a station, a development CSMS, or the demo.

Exit status: 0 a normal stop, 2 a bad flag or configuration (one line on
stderr), 70 (EX_SOFTWARE) the station gave up: its root supervisor ran out
of restarts and nothing runs any more, so the process ends for its service
manager to start it again.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ocppstation.config.loader import ConfigError, StationConfig, load
from ocppstation.config.loader import defaults as load_defaults
from ocppstation.tools import cliargs, fake_device, hw_probe, log_view

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_GAVE_UP = 70
EXIT_INTERRUPTED = 130  # a second signal while stopping: as a shell reports SIGINT


KNOWN_VERSIONS = ("1.6", "2.0.1")


def ocpp_versions(text: str) -> list[str]:
    """`--ocpp`: one version or a comma list, each known, none twice."""
    versions = [v.strip() for v in text.split(",")]
    for version in versions:
        if version not in KNOWN_VERSIONS:
            known = ", ".join(KNOWN_VERSIONS)
            raise argparse.ArgumentTypeError(f"unknown OCPP version {version!r} (known: {known})")
    if len(set(versions)) != len(versions):
        raise argparse.ArgumentTypeError(f"a version is named twice in {text!r}")
    return versions


def csms_url(text: str) -> str:
    """`--csms`: a websocket URL (the station appends /ChargePointId)."""
    if not text.lower().startswith(("ws://", "wss://")) or text[-3:] == "://":
        raise argparse.ArgumentTypeError(f"not a ws:// or wss:// URL: {text!r}")
    return text


# Which flag set a config key: a bad value is reported by the flag a person typed.
FLAG_OF_KEY = {
    "Internal.CentralSystemURI": "--csms",
    "Internal.ChargePointId": "--id",
    "Internal.Evses": "--evses",
    "Internal.DataDir": "--data-dir",
    "Internal.MessageLogPath": "--message-log",
    "Internal.OcppVersions": "--ocpp",
    "Internal.CentralSystemRootCertificateFile": "--csms-root",
    "Internal.ChargePointCertificateFile": "--cert",
    "Internal.ChargePointKeyFile": "--key",
    "Security.AuthorizationKey": "--password",
    "Security.SecurityProfile": "--security-profile",
}


def config_error_line(exc: ConfigError) -> str:
    """The one line for a configuration error, naming the flag when a flag set the key."""
    text = str(exc)
    for key, flag in FLAG_OF_KEY.items():
        if text.startswith(f"<command line>: {key}:"):
            return f"ocppstation: argument {flag}: {text.removeprefix('<command line>: ')}"
    return f"ocppstation: {text}"


def _run_parser(sub: Any) -> None:
    from ocppstation.tools.console import HELP as CONSOLE_HELP

    defaults = load_defaults()
    run = sub.add_parser(
        "run",
        help="run a station against a CSMS",
        description="Run a station against a CSMS. Options override the config file, "
        "whose defaults are given below.",
        formatter_class=cliargs.HelpFormatter,
        epilog="With --console, one command a line on stdin, one answer a line on stdout:\n  "
        + CONSOLE_HELP.removeprefix("commands: ").replace(" | ", "\n  "),
    )
    run.add_argument(
        "--config",
        type=cliargs.readable_file,
        help="station config file (JSON, sections like Internal, Core)",
    )
    run.add_argument(
        "--csms",
        type=csms_url,
        help="CSMS URL, e.g. ws://host:9000/ocpp "
        f"(default: {defaults['Internal']['CentralSystemURI']})",
    )
    run.add_argument(
        "--id",
        type=cliargs.non_empty,
        help=f"ChargePointId (default: {defaults['Internal']['ChargePointId']})",
    )
    run.add_argument(
        "--evses",
        # Its range is the config's (Internal.Evses), checked there and named by flag.
        type=int,
        help=f"number of EVSEs, 1 to 128 (default: {defaults['Internal']['Evses']})",
    )
    run.add_argument(
        "--ocpp",
        type=ocpp_versions,
        help="OCPP version(s) to offer, in order: 1.6 (the default), 2.0.1, or 2.0.1,1.6",
    )
    run.add_argument(
        "--password",
        type=cliargs.non_empty,
        help="AuthorizationKey; selects security profile 1 unless told otherwise",
    )
    run.add_argument(
        "--security-profile",
        type=int,
        choices=(0, 1, 2, 3),
        help="0 plain, 1 Basic auth, 2 TLS and Basic auth, 3 TLS with a client certificate "
        "(default: 0, or 1 with --password)",
    )
    run.add_argument("--csms-root", help="PEM file: the CSMS root certificate to trust (TLS)")
    run.add_argument("--cert", help="PEM file: the station's certificate (profile 3)")
    run.add_argument("--key", help="PEM file: the station certificate's private key")
    run.add_argument(
        "--data-dir",
        type=cliargs.directory,
        help="where the station keeps its database (default: none, in memory)",
    )
    run.add_argument(
        "--console",
        action="store_true",
        help="read commands on stdin, answer on stdout (see below); events go to stderr",
    )
    run.add_argument(
        "--log-level",
        type=cliargs.log_level,
        default="INFO",
        help=f"{', '.join(cliargs.LOG_LEVELS)}",
    )
    log_view.message_log_args(run)


def console_argv(config: str | Path, data_dir: str | Path, log_level: str = "WARNING") -> list[str]:
    """The command line of a console-driven station process (test rigs, benchmarks)."""
    return [
        sys.executable,
        "-m",
        "ocppstation.tools.cli",
        "run",
        "--console",
        "--config",
        str(config),
        "--data-dir",
        str(data_dir),
        "--log-level",
        log_level,
    ]


def station_config(args: argparse.Namespace) -> StationConfig:
    internal: dict[str, Any] = {}
    if args.csms:
        internal["CentralSystemURI"] = args.csms
    if args.id is not None:
        internal["ChargePointId"] = args.id
    if args.evses is not None:
        internal["Evses"] = args.evses
    if args.data_dir:
        internal["DataDir"] = args.data_dir
    if args.ocpp:
        internal["OcppVersions"] = args.ocpp
    log_view.message_log_overrides(args, internal)
    # Provisioning files, imported by the security actor when the station starts.
    for flag, key in (
        ("csms_root", "CentralSystemRootCertificateFile"),
        ("cert", "ChargePointCertificateFile"),
        ("key", "ChargePointKeyFile"),
    ):
        if getattr(args, flag):
            internal[key] = getattr(args, flag)
    overrides: dict[str, Any] = {"Internal": internal} if internal else {}
    security: dict[str, Any] = {}
    if args.password is not None:
        security = {"SecurityProfile": 1, "AuthorizationKey": args.password}
    if args.security_profile is not None:
        security["SecurityProfile"] = args.security_profile
    if security:
        overrides["Security"] = security
    return load(args.config, overrides)


class _StopSignal(BaseException):
    """SIGINT or SIGTERM while the console reads: a BaseException, so that no
    `except Exception` on the way swallows it, and not a KeyboardInterrupt,
    so that it never ends as a traceback."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _StopSignal(signum)


def _cmd_run(args: argparse.Namespace) -> int:
    from ocppstation.actors.station import Station
    from ocppstation.tools.console import Console
    from ocppstation.tools.live import CurrentStderr, LinkWatch, LiveScreen, LiveState, LiveView

    # The live table wants a person at stdout; the console needs stdout for answers.
    live = not args.console and sys.stdout.isatty()
    logging.basicConfig(
        level=args.log_level,
        # Through whatever sys.stderr is when a line is written: the live view
        # puts log lines above its table.
        stream=CurrentStderr() if live else sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    cliargs.quiet_injected_crashes()
    try:
        config = station_config(args)
    except ConfigError as exc:
        print(config_error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    try:
        station = Station(config)
    except OSError as exc:  # the data directory cannot be made or opened
        print(f"ocppstation: argument --data-dir: {exc}", file=sys.stderr)
        return EXIT_USAGE
    station.subscribe(LinkWatch())
    screen: LiveScreen | None = None
    if live:
        version = config.ocpp_version.value.removeprefix("ocpp")
        title = f"ocppstation {config.charge_point_id}  OCPP {version}"
        screen = LiveScreen(LiveState.of(config.evse_numbers, title))
        station.subscribe(screen)
        screen.__enter__()
    else:
        # Events go to stderr so that, with --console, stdout carries answers only.
        station.subscribe(LiveView(sys.stderr))
    try:
        station.start()
    except ConfigError as exc:  # the Hardware section, the provisioning files
        if screen is not None:
            screen.__exit__()
        print(config_error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    threading.Thread(
        target=_exit_when_given_up, args=(station,), name="give-up-watch", daemon=True
    ).start()
    if screen is not None:
        screen.seed(station.status())
    try:
        if args.console:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, _raise_stop)
            Console(station).serve(sys.stdin, sys.stdout)
        else:
            done = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: done.set())
            done.wait()
    except _StopSignal:
        pass  # a stop asked for, like quit: carried out below
    finally:
        # A second Ctrl-C while the station stops ends the process at once.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: os._exit(EXIT_INTERRUPTED))
        station.stop()
        if screen is not None:
            screen.__exit__()
    return EXIT_OK


def _exit_when_given_up(station: Any) -> None:
    """A station whose root supervisor gave up runs nothing: end the process,
    non-zero, so that systemd or a container runtime starts it again."""
    reason = station.wait_failed()
    logging.getLogger("ocppstation.cli").critical(
        "the station gave up (%s): stopping, exit status %d", reason, EXIT_GAVE_UP
    )
    station.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    # From this thread: the main one may sit in a blocking read of stdin.
    os._exit(EXIT_GAVE_UP)


def _cmd_csms(argv: list[str]) -> int:
    from ocppstation.tools.csms import main_csms

    return main_csms(argv)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ocppstation.tools.demo import run_demo

    versions = args.ocpp or ["1.6"]
    if len(versions) != 1:
        print(
            "ocppstation: the demo speaks one version: --ocpp 1.6 or --ocpp 2.0.1", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        # A live table where a person watches; lines, as before, into a pipe or a file.
        return run_demo(sys.stdout, versions[0], live=sys.stdout.isatty())
    except KeyboardInterrupt:
        # The demo stopped its station and CSMS on the way out; no traceback for a Ctrl-C.
        return EXIT_INTERRUPTED


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["csms"]:
        # The dev CSMS owns its options (and its --help).
        return _cmd_csms(argv[1:])
    if argv[:1] == ["fleet"]:  # like csms: its options and --help are its own
        from ocppstation.tools.fleet import main as fleet_main

        return fleet_main(argv[1:])
    parser = cliargs.parser("ocppstation", description=__doc__)
    cliargs.add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    sub.add_parser("csms", help="run the development CSMS (see `ocppstation csms --help`)")
    sub.add_parser("fleet", help="many stations against one CSMS (see `ocppstation fleet --help`)")
    demo = sub.add_parser("demo", help="a CSMS and a 2-EVSE station running a short session")
    demo.add_argument(
        "--ocpp", type=ocpp_versions, help="the version the demo speaks: 1.6 or 2.0.1"
    )
    fake_device.add_parser(sub)
    hw_probe.add_parser(sub)
    log_view.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "fake-device":
        return fake_device.run(args)
    if args.command == "hw":
        return hw_probe.run(args)
    if args.command == "log":
        return log_view.run(args)
    return _cmd_demo(args)


if __name__ == "__main__":
    sys.exit(main())
