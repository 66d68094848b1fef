"""What every `ocppstation` command line shares: one-line errors, help that
shows defaults, and the checks of flag values.

A bad value ends the command with exit status 2 and one line on stderr that
names the flag: a person (or a script's log) sees what to fix without
argparse's usage block or a traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (subparsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and adds each option's default to its
    help, where it has one worth saying (not None, not a switch's False)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "%(default)" in text
            or "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not in {low} to {high}")
        return value

    return parse


def port(text: str) -> int:
    """A TCP port, 0 for any free one."""
    return int_range(0, 65535)(text)


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 (got {text})")
    return value


def log_level(text: str) -> str:
    level = text.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"unknown level {text!r} (one of {', '.join(LOG_LEVELS)})")
    return level


def readable_file(text: str) -> str:
    """A file that exists and can be read (checked now, not when first used)."""
    path = Path(text)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {exc.strerror}") from None
    return text


def directory(text: str) -> str:
    """A directory, or a path where one can be made."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return text


def version_text() -> str:
    """What `--version` prints: the package, the OCPP versions it speaks and
    the schema package, the three things a bug report needs."""
    try:
        own = importlib.metadata.version("ocppstation")
    except importlib.metadata.PackageNotFoundError:
        own = "unknown (not installed)"
    try:
        schemas = importlib.metadata.version("ocpp")
    except importlib.metadata.PackageNotFoundError:
        schemas = "not installed"
    return f"ocppstation {own}\nOCPP 1.6, 2.0.1\nschemas: ocpp {schemas}"


def add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--version",
        action="version",
        version=version_text(),
        help="print the version, the OCPP versions spoken and the schema package's version",
    )


class InjectedCrashFilter(logging.Filter):
    """Drops pykka's ERROR traceback for a crash that was asked for (`crash
    PATH`, Station.crash): the supervisor's one WARNING line says which actor
    crashed and is restarted, and a traceback of a deliberate `raise` tells
    nothing. Real crashes keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from ocppstation.actors.runtime.base import InjectedCrash

        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedCrash)


def quiet_injected_crashes() -> None:
    """Install InjectedCrashFilter on pykka's logger, once."""
    logger = logging.getLogger("pykka")
    if not any(isinstance(f, InjectedCrashFilter) for f in logger.filters):
        logger.addFilter(InjectedCrashFilter())


def parser(prog: str, **kwargs: Any) -> OneLineParser:
    return OneLineParser(prog=prog, formatter_class=HelpFormatter, **kwargs)
