"""Downloads and uploads over HTTP, HTTPS and FTP against real servers on 127.0.0.1."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ocppstation.actors.files.transfer import (
    TransferError,
    TransferOptions,
    download,
    protocol_of,
    upload,
)
from tests.file_servers import FtpServer, HttpFileServer, make_tls, refused_url

FAST = TransferOptions(timeout=5)
IMAGE = bytes(range(256)) * 1000  # 256 kB: several chunks


def test_protocols_by_scheme() -> None:
    assert protocol_of("HTTPS://host/x") == "HTTPS"
    assert protocol_of("ftp://host/x") == "FTP"
    assert protocol_of("sftp://host/x") is None


def test_http_download_writes_the_whole_file_and_nothing_else(tmp_path: Path) -> None:
    with HttpFileServer() as server:
        server.files["/fw/image.bin"] = IMAGE
        dest = tmp_path / "dl" / "image.bin"
        assert download(server.url("/fw/image.bin"), dest, FAST) == len(IMAGE)
    assert dest.read_bytes() == IMAGE
    assert sorted(p.name for p in dest.parent.iterdir()) == ["image.bin"]


def test_http_download_failures_say_why_and_leave_no_file(tmp_path: Path) -> None:
    dest = tmp_path / "image.bin"
    with HttpFileServer() as server:
        with pytest.raises(TransferError, match="HTTP 404"):
            download(server.url("/missing.bin"), dest, FAST)
        server.files["/x"] = b"x"
        server.fail["/x"] = [503]
        with pytest.raises(TransferError, match="HTTP 503"):
            download(server.url("/x"), dest, FAST)
    with pytest.raises(TransferError, match=r"GET http://127.0.0.1"):
        download(refused_url(), dest, FAST)
    with pytest.raises(TransferError, match="sftp scheme"):
        download("sftp://127.0.0.1/x", dest, FAST)
    assert list(tmp_path.iterdir()) == []


def test_credentials_in_an_http_url_are_sent_as_basic_auth(tmp_path: Path) -> None:
    with HttpFileServer() as server:
        server.files["/a.bin"] = b"abc"
        url = server.url("/a.bin").replace("http://", "http://user:p%40ss@")
        download(url, tmp_path / "a.bin", FAST)
        sent = server.requests[0].headers["Authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")) == b"user:p@ss"


def test_https_download_trusts_the_configured_ca_and_checks_the_host(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    with HttpFileServer(tls) as server:
        server.files["/fw.bin"] = IMAGE
        trusted = TransferOptions(timeout=5, ca_file=str(tls.ca_file))
        download(server.url("/fw.bin"), tmp_path / "fw.bin", trusted)
        assert (tmp_path / "fw.bin").read_bytes() == IMAGE
        download(server.url("/fw.bin", host="localhost"), tmp_path / "fw2.bin", trusted)
        # The system's trust store does not know the test CA...
        with pytest.raises(TransferError, match="CERTIFICATE_VERIFY_FAILED"):
            download(server.url("/fw.bin"), tmp_path / "fw3.bin", FAST)
        # ...and another CA is no better.
        other = make_tls(tmp_path / "other", ca_name="someone else")
        with pytest.raises(TransferError, match="CERTIFICATE_VERIFY_FAILED"):
            download(
                server.url("/fw.bin"),
                tmp_path / "fw4.bin",
                TransferOptions(timeout=5, ca_file=str(other.ca_file)),
            )


def test_http_upload_is_a_put_into_the_directory(tmp_path: Path) -> None:
    with HttpFileServer() as server:
        url = upload(server.url("/diag"), "d.zip", b"zipped", FAST)
        assert url == server.url("/diag/d.zip")
        assert server.uploads == {"/diag/d.zip": b"zipped"}
        assert server.requests[0].headers["Content-Type"] == "application/zip"
        upload(server.url("/diag/"), "e.zip", b"more", FAST)
        assert server.uploads["/diag/e.zip"] == b"more"
        server.put_status = 403
        with pytest.raises(TransferError, match=r"PUT .*HTTP 403"):
            upload(server.url("/diag/"), "f.zip", b"no", FAST)
    with pytest.raises(TransferError, match="PUT"):
        upload(refused_url(path="/diag/"), "g.zip", b"no", FAST)


def test_https_upload(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    with HttpFileServer(tls) as server:
        upload(server.url("/up/"), "d.zip", b"z", TransferOptions(ca_file=str(tls.ca_file)))
        assert server.uploads == {"/up/d.zip": b"z"}


def test_ftp_download_as_a_user_and_anonymously(tmp_path: Path) -> None:
    with FtpServer(tmp_path / "ftp") as server:
        (server.root / "fw").mkdir()
        (server.root / "fw" / "image.bin").write_bytes(IMAGE)
        download(server.url("/fw/image.bin"), tmp_path / "a.bin", FAST)
        download(server.url("/fw/image.bin", user=None), tmp_path / "b.bin", FAST)
        with pytest.raises(TransferError, match=r"FTP RETR .*550"):
            download(server.url("/fw/missing.bin"), tmp_path / "c.bin", FAST)
        with pytest.raises(TransferError, match="530"):
            download(server.url("/fw/image.bin").replace("secret", "wrong"), tmp_path / "d", FAST)
    assert (tmp_path / "a.bin").read_bytes() == IMAGE
    assert (tmp_path / "b.bin").read_bytes() == IMAGE
    with pytest.raises(TransferError, match="FTP RETR"):
        download(refused_url("ftp"), tmp_path / "e.bin", FAST)


def test_ftp_upload_stores_into_the_directory_and_a_reader_is_refused(tmp_path: Path) -> None:
    with FtpServer(tmp_path / "ftp") as server:
        (server.root / "diag").mkdir()
        url = upload(server.url("/diag/"), "d.zip", b"zipped", FAST)
        assert url == server.url("/diag/d.zip")
        assert (server.root / "diag" / "d.zip").read_bytes() == b"zipped"
        with pytest.raises(TransferError, match=r"FTP STOR .*550"):
            upload(server.url("/diag/", user="reader"), "e.zip", b"no", FAST)
        with pytest.raises(TransferError, match="FTP STOR"):
            upload(server.url("/nowhere/"), "f.zip", b"no", FAST)
    assert sorted(p.name for p in (tmp_path / "ftp" / "diag").iterdir()) == ["d.zip"]


def test_a_password_never_shows_in_an_error(tmp_path: Path) -> None:
    with pytest.raises(TransferError) as caught:
        download(refused_url("ftp").replace("ftp://", "ftp://u:hush@"), tmp_path / "x", FAST)
    assert "hush" not in str(caught.value)
    assert "u:***@" in str(caught.value)
