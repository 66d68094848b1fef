"""File transfers for Firmware Management: download and upload over HTTP(S) and FTP.

Blocking functions, meant for a worker thread (the firmware and uploads
actors never call them themselves: `transfer_jobs.work_on_thread`). Every
failure is a `TransferError` whose message says what went wrong in words a
station log can show; nothing else escapes.

Decisions worth knowing:

- An upload goes to the *directory* the CSMS names (GetDiagnostics.req's
  location, 1.6 section 6.23): the file name is appended to it. Over
  HTTP(S) the file is sent with PUT (as `curl -T` does, which is what
  libocpp's stock uploader uses), with Content-Type application/zip; any
  2xx answer is success. Over FTP it is STOR into that directory.
- HTTPS verifies the server's certificate and host name against the CA
  bundle in `Internal.FileTransferCaFile`, or the system's trust store when
  that is empty. There is no switch to turn verification off: firmware from
  an unverified server is how stations get taken over.
- Credentials may be in the URL (`ftp://user:pass@host/dir/`,
  `https://user:pass@host/...`): FTP logs in with them (anonymous without),
  HTTP sends them as Basic auth.
- Environment proxies are ignored, as on the websocket: a charger talks to
  the servers its CSMS names, directly.
- A download is written to a `<dest>.*.part` file and renamed when
  complete, so a file at `dest` is always a whole one.
- A `TransferError` says what kind of failure it was (`Failure`), for
  GetLog's LogStatusNotification: credentials or rights refused (HTTP 401,
  403, 407; FTP 530, 532, and 550 or 553 that say so) are DENIED; an
  operation the server does not do (HTTP 405, 501, 505; FTP 502, 504; a
  scheme this module does not speak) is UNSUPPORTED; an answer that breaks
  the protocol, or a server that did not understand us (HTTP 400; FTP 500,
  501), is BAD_MESSAGE; everything else (the network, timeouts, the
  server's own trouble) is FAILED.
"""

from __future__ import annotations

import base64
import ftplib
import http.client
import io
import os
import ssl
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

__all__ = [
    "SCHEMES",
    "Failure",
    "TransferError",
    "TransferOptions",
    "download",
    "protocol_of",
    "upload",
]

# URL scheme -> the name SupportedFileTransferProtocols uses for it.
SCHEMES = {"http": "HTTP", "https": "HTTPS", "ftp": "FTP"}
CHUNK = 64 * 1024


class Failure(StrEnum):
    """What kind of failure a TransferError was."""

    FAILED = "failed"  # the network, a timeout, the server's own trouble
    DENIED = "denied"  # the server refused our credentials or rights
    UNSUPPORTED = "unsupported"  # the server (or this module) does not do that
    BAD_MESSAGE = "bad_message"  # one side did not understand the other


class TransferError(Exception):
    """A transfer that did not complete; the message says why, `kind` what kind it was."""

    def __init__(self, message: str, kind: Failure = Failure.FAILED) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class TransferOptions:
    timeout: float = 60.0  # seconds of silence on a connection before giving up
    ca_file: str | None = None  # PEM bundle for HTTPS; None: the system's trust store


def protocol_of(url: str) -> str | None:
    """HTTP, HTTPS or FTP for a URL this module can use, else None."""
    return SCHEMES.get(urlsplit(url).scheme.lower())


def download(
    url: str,
    dest: Path,
    options: TransferOptions,
    cancel: threading.Event | None = None,
) -> int:
    """Fetch `url` into the file `dest`; returns its size in bytes."""
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # A name of its own: an earlier download of the same file may still be winding down.
        out = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by the with below)
            dir=dest.parent, prefix=dest.name + ".", suffix=".part", delete=False
        )
        part = Path(out.name)
        with out:
            writer = _writer(out, cancel)
            match _scheme(url):
                case "ftp":
                    _ftp_get(url, writer, options)
                case _:
                    _http_get(url, writer, options)
        size = part.stat().st_size
        os.replace(part, dest)
        return size
    except TransferError:
        raise
    except OSError as exc:
        raise TransferError(f"cannot write {part}: {exc}") from exc
    finally:
        part.unlink(missing_ok=True)


def upload(directory: str, name: str, data: bytes, options: TransferOptions) -> str:
    """Put `data` as file `name` into the directory URL `directory`; returns the file's URL."""
    target = directory if directory.endswith("/") else directory + "/"
    target += name
    match _scheme(target):
        case "ftp":
            _ftp_put(target, data, options)
        case _:
            _http_put(target, data, options)
    return target


# -- HTTP(S) --------------------------------------------------------------------


def _opener(options: TransferOptions) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context(cafile=options.ca_file or None)
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=context),
    )


def _http_request(url: str, method: str, data: bytes | None = None) -> urllib.request.Request:
    parts = urlsplit(url)
    headers = {"User-Agent": "ocppstation"}
    if parts.username is not None:
        user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
    # urllib takes no credentials in the host part: strip them from the URL.
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    bare = parts._replace(netloc=netloc).geturl()
    if data is not None:
        headers["Content-Type"] = "application/zip"
    return urllib.request.Request(bare, data=data, headers=headers, method=method)


def _http_get(url: str, write: Callable[[bytes], None], options: TransferOptions) -> None:
    try:
        with _opener(options).open(_http_request(url, "GET"), timeout=options.timeout) as answer:
            while chunk := answer.read(CHUNK):
                write(chunk)
    except urllib.error.HTTPError as exc:
        raise TransferError(
            f"GET {_safe(url)}: HTTP {exc.code} {exc.reason}", _http_kind(exc.code)
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TransferError(f"GET {_safe(url)}: {_reason(exc)}") from exc
    except http.client.HTTPException as exc:  # an answer that is not HTTP
        raise TransferError(f"GET {_safe(url)}: {_reason(exc)}", Failure.BAD_MESSAGE) from exc


def _http_put(url: str, data: bytes, options: TransferOptions) -> None:
    request = _http_request(url, "PUT", data)
    try:
        with _opener(options).open(request, timeout=options.timeout) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        raise TransferError(
            f"PUT {_safe(url)}: HTTP {exc.code} {exc.reason}", _http_kind(exc.code)
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise TransferError(f"PUT {_safe(url)}: {_reason(exc)}") from exc
    except http.client.HTTPException as exc:  # an answer that is not HTTP
        raise TransferError(f"PUT {_safe(url)}: {_reason(exc)}", Failure.BAD_MESSAGE) from exc


_HTTP_KINDS = {
    400: Failure.BAD_MESSAGE,
    401: Failure.DENIED,
    403: Failure.DENIED,
    405: Failure.UNSUPPORTED,
    407: Failure.DENIED,
    501: Failure.UNSUPPORTED,
    505: Failure.UNSUPPORTED,
}


def _http_kind(code: int) -> Failure:
    return _HTTP_KINDS.get(code, Failure.FAILED)


# -- FTP --------------------------------------------------------------------------


def _ftp_login(url: str, options: TransferOptions) -> tuple[ftplib.FTP, str]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise TransferError(f"{_safe(url)}: no host")
    ftp = ftplib.FTP(timeout=options.timeout)
    try:
        ftp.connect(parts.hostname, parts.port or 21)
        user = unquote(parts.username) if parts.username else "anonymous"
        password = unquote(parts.password or "") if parts.username else "anonymous@"
        ftp.login(user, password)
    except BaseException:
        ftp.close()
        raise
    # RFC 1738: the path is relative to where the login lands.
    return ftp, unquote(parts.path).lstrip("/")


def _ftp_get(url: str, write: Callable[[bytes], None], options: TransferOptions) -> None:
    try:
        ftp, path = _ftp_login(url, options)
        with ftp:
            if not path:
                raise TransferError(f"{_safe(url)}: no file named")
            ftp.retrbinary(f"RETR {path}", write, blocksize=CHUNK)
    except ftplib.all_errors as exc:
        raise TransferError(f"FTP RETR {_safe(url)}: {_reason(exc)}", _ftp_kind(exc)) from exc


def _ftp_put(url: str, data: bytes, options: TransferOptions) -> None:
    try:
        ftp, path = _ftp_login(url, options)
        with ftp:
            folder, _, name = path.rpartition("/")
            if folder:
                ftp.cwd(folder)
            ftp.storbinary(f"STOR {name}", io.BytesIO(data), blocksize=CHUNK)
    except ftplib.all_errors as exc:
        raise TransferError(f"FTP STOR {_safe(url)}: {_reason(exc)}", _ftp_kind(exc)) from exc


# 550 and 553 also mean "no such file or folder": only their words tell a refusal.
_REFUSAL_WORDS = ("permission", "privilege", "denied", "not allowed", "forbidden")


def _ftp_kind(exc: BaseException) -> Failure:
    if isinstance(exc, ftplib.error_proto | ftplib.error_reply):
        return Failure.BAD_MESSAGE
    if not isinstance(exc, ftplib.error_perm | ftplib.error_temp):
        return Failure.FAILED  # the network
    text = str(exc)
    code = text[:3]
    if code in ("530", "532"):
        return Failure.DENIED
    if code in ("550", "553") and any(word in text.lower() for word in _REFUSAL_WORDS):
        return Failure.DENIED
    if code in ("500", "501"):
        return Failure.BAD_MESSAGE
    if code in ("502", "504"):
        return Failure.UNSUPPORTED
    return Failure.FAILED


# -- helpers ------------------------------------------------------------------------


def _scheme(url: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(sorted(SCHEMES))
        raise TransferError(
            f"{_safe(url)}: {scheme or 'no'} scheme (this station does {known})",
            Failure.UNSUPPORTED,
        )
    return scheme


def _writer(out: IO[bytes], cancel: threading.Event | None) -> Callable[[bytes], None]:
    def write(chunk: bytes) -> None:
        if cancel is not None and cancel.is_set():
            raise TransferError("cancelled")
        out.write(chunk)

    return write


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{parts.username}:***@{netloc}").geturl()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__
