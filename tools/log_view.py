"""`ocppstation log DIR`: read the OCPP message log a station writes.

    ocppstation log DIR                    a day's log, one readable line per entry
    ocppstation log DIR --html FILE        the day as one self-contained HTML page
    ocppstation log DIR --follow           entries as they are written, until Ctrl-C

`--day YYYY-MM-DD` picks the day (default: the newest file in DIR). Also
here: `run --message-log DIR`, the flag that turns the log on.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date
from pathlib import Path
from typing import IO, Any

from ocppstation.protocol import message_log as ml

EXIT_OK = 0
EXIT_NO_LOG = 1  # no log for that day, or the page cannot be written

_POLL = 0.2  # seconds between looks at a file that has not grown


# -- `run --message-log` ----------------------------------------------------------


def message_log_args(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--message-log",
        metavar="DIR",
        help="write every OCPP frame and connection event to DIR/YYYY-MM-DD.log "
        "('' turns it off; default: DATA_DIR/messages with --data-dir, else off)",
    )


def message_log_overrides(args: argparse.Namespace, internal: dict[str, Any]) -> None:
    """Put `--message-log` into the Internal section's overrides."""
    if getattr(args, "message_log", None) is not None:
        internal["MessageLogPath"] = args.message_log


# -- `log` ------------------------------------------------------------------------


def add_parser(sub: argparse._SubParsersAction) -> None:
    view = sub.add_parser(
        "log",
        help="show a station's OCPP message log (lines, --html page, or --follow)",
        description="Show a day of the OCPP message log in DIR (the station's "
        "--message-log, or DATA_DIR/messages).",
    )
    view.add_argument("dir", metavar="DIR", help="the message log directory")
    view.add_argument("--day", type=_day, help="YYYY-MM-DD (default: the newest day in DIR)")
    what = view.add_mutually_exclusive_group()
    what.add_argument("--html", metavar="FILE", help="write the day as an HTML page to FILE")
    what.add_argument(
        "--follow", action="store_true", help="print entries as they are written, until Ctrl-C"
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day as YYYY-MM-DD: {text!r}") from None


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout  # read now: a test may have replaced it
    directory = Path(args.dir)
    if args.follow:
        try:
            follow(directory, out, day=args.day)
        except KeyboardInterrupt:
            pass  # the way a person ends --follow: not an error
        return EXIT_OK
    path = day_path(directory, args.day)
    if path is None or not path.is_file():
        which = f"for {args.day}" if args.day else "at all"
        print(f"ocppstation: no message log {which} in {directory}", file=sys.stderr)
        return EXIT_NO_LOG
    entries = list(ml.parse_lines(path.read_text("utf-8", errors="replace")))
    if args.html:
        try:
            Path(args.html).write_text(render_html(entries, title=path.name), "utf-8")
        except OSError as exc:
            print(f"ocppstation: argument --html: {exc}", file=sys.stderr)
            return EXIT_NO_LOG
        print(f"{args.html}: {len(entries)} entries of {path.name}", file=out)
        return EXIT_OK
    pairing = ml.Pairing()
    for entry in entries:
        print(ml.readable(entry, pairing.add(entry).action), file=out)
    return EXIT_OK


def day_path(directory: Path, day: date | None) -> Path | None:
    """The file of `day`, or the newest day's when `day` is None."""
    if day is not None:
        return directory / f"{day.isoformat()}.log"
    try:
        days = sorted(n for n in (p.name for p in directory.iterdir()) if ml.day_of_file(n))
    except OSError:
        return None
    return directory / days[-1] if days else None


# -- --follow -----------------------------------------------------------------------


def follow(
    directory: Path,
    out: IO[str],
    *,
    day: date | None = None,
    stop: threading.Event | None = None,
    max_lines: int | None = None,
    from_start: bool = False,
    ready: threading.Event | None = None,
) -> int:
    """Print entries as they are appended, one readable line each, moving on
    to the next day's file when one appears (unless `day` pins one). Returns
    the number of lines printed once `stop` is set or `max_lines` are out.
    Starts at the end of the file, as `tail -f` does, unless `from_start`;
    `ready` is set once that place is known."""
    stop = stop or threading.Event()
    pairing = ml.Pairing()
    printed = 0
    for entry in _tail(directory, day, stop, from_start, ready or threading.Event()):
        print(ml.readable(entry, pairing.add(entry).action), file=out, flush=True)
        printed += 1
        if max_lines is not None and printed >= max_lines:
            break
    return printed


def _tail(
    directory: Path,
    day: date | None,
    stop: threading.Event,
    from_start: bool,
    ready: threading.Event,
) -> Iterator[ml.Entry]:
    path = day_path(directory, day)
    offset = 0
    if path is not None and path.exists() and not from_start:
        offset = path.stat().st_size
    ready.set()
    pending = b""
    while not stop.is_set():
        if path is not None and path.exists():
            with open(path, "rb") as file:
                file.seek(offset)
                chunk = file.read()
            offset += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    yield ml.parse_line(line.decode("utf-8", errors="replace"))
                except ml.LogFormatError:
                    continue
            if chunk:
                continue
        if day is None:
            newest = day_path(directory, None)
            if newest is not None and newest != path and (path is None or newest.name > path.name):
                # A new day began: what is left of the old file was read above.
                path, offset, pending = newest, 0, b""
                continue
        stop.wait(_POLL)


# -- --html -------------------------------------------------------------------------


def render_html(entries: list[ml.Entry], title: str = "OCPP message log") -> str:
    """One static page: each CALL with its answer and round-trip time,
    coloured by direction and error, filtered by action and connector."""
    exchanges = ml.pair(entries)
    actions = sorted({x.action for x in exchanges if x.action})
    connectors = sorted({x.connector for x in exchanges if x.connector is not None})
    rows = "\n".join(_row(x) for x in exchanges)
    action_options = "".join(f"<option>{html.escape(a)}</option>" for a in actions)
    connector_options = "".join(f"<option>{c}</option>" for c in connectors)
    calls = sum(x.kind == "call" for x in exchanges)
    errors = sum(x.error for x in exchanges if x.kind != "event")
    return _PAGE.format(
        title=html.escape(title),
        summary=f"{len(entries)} entries, {calls} calls, {errors} errors",
        actions=action_options,
        connectors=connector_options,
        rows=rows,
    )


def _row(x: ml.Exchange) -> str:
    first = x.first
    when = first.ts.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3]
    classes = [f"d-{first.dir}"]
    if x.error:
        classes.append("error")
    if x.kind == "call" and x.answer is None:
        classes.append("open")
    if x.kind == "event":
        text = " ".join(f"{k}={json.dumps(v)}" for k, v in first.detail.items())
        body = f"<b>{html.escape(first.event)}</b> {html.escape(first.conn)} {html.escape(text)}"
        return (
            f'<tr class="{" ".join(classes)}" data-action="" data-connector="">'
            f"<td>{when}</td><td>event</td><td></td><td></td><td></td><td></td>"
            f'<td colspan="2">{body}</td></tr>'
        )
    arrow = "CSMS &rarr; station" if first.dir == "in" else "station &rarr; CSMS"
    rtt = f"{x.rtt * 1000:.0f} ms" if x.rtt is not None else ""
    if x.kind == "call" and x.answer is None:
        rtt = "no answer"
    connector = "" if x.connector is None else str(x.connector)
    action = x.action or ("(answer)" if x.kind in ("result", "error") else "(unreadable)")
    message_id = html.escape(x.message_id or "")
    answer = _payload(x.answer.frame) if x.answer is not None else ""
    return (
        f'<tr class="{" ".join(classes)}" data-action="{html.escape(x.action or "")}" '
        f'data-connector="{connector}">'
        f"<td>{when}</td><td>{arrow}</td><td>{html.escape(action)}</td>"
        f'<td class="id" title="{message_id}">{message_id[:8]}</td>'
        f"<td>{connector}</td><td>{rtt}</td>"
        f"<td><code>{_payload(first.frame)}</code></td><td><code>{answer}</code></td></tr>"
    )


def _payload(frame: str) -> str:
    """What a frame carries, compact: the payload (a CALLERROR's code and
    description first); the whole text when it is not a readable frame."""
    parsed = ml.classify(frame)
    if parsed.kind == "other":
        return html.escape(frame)
    text = json.dumps(parsed.payload, ensure_ascii=False, separators=(", ", ": "))
    if parsed.kind == "error":
        description = json.loads(frame)[3]
        head = f"{parsed.error_code}: {description}" if description else f"{parsed.error_code}"
        return f"<b>{html.escape(head)}</b> {html.escape(text)}"
    return html.escape(text)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 2px 6px; vertical-align: top;
  text-align: left; }}
td:nth-child(-n+6) {{ white-space: nowrap; }}
code {{ white-space: pre-wrap; word-break: break-word; font-size: 12px; }}
td.id {{ font-family: monospace; color: #666; }}
tr.d-out td {{ background: #eef6ff; }}
tr.d-in td {{ background: #f1fbef; }}
tr.d-event td {{ background: #f4f4f4; color: #555; }}
tr.error td {{ background: #fde8e8; }}
tr.open td:nth-child(6) {{ color: #b00; }}
.legend span {{ padding: 0 6px; margin-right: 6px; }}
</style></head><body>
<h1>{title}</h1>
<p>{summary}</p>
<p class="legend"><span style="background:#eef6ff">station &rarr; CSMS</span>
<span style="background:#f1fbef">CSMS &rarr; station</span>
<span style="background:#fde8e8">CALLERROR or unreadable</span>
<span style="background:#f4f4f4">connection event</span></p>
<p>Action <select id="action"><option value="">all</option>{actions}</select>
Connector <select id="connector"><option value="">all</option>{connectors}</select>
<label><input type="checkbox" id="events" checked> connection events</label></p>
<table><thead><tr><th>time (UTC)</th><th>direction</th><th>action</th><th>id</th><th>connector</th>
<th>round trip</th><th>CALL</th><th>answer</th></tr></thead>
<tbody id="rows">
{rows}
</tbody></table>
<script>
function apply() {{
  var a = document.getElementById("action").value;
  var c = document.getElementById("connector").value;
  var e = document.getElementById("events").checked;
  document.querySelectorAll("#rows tr").forEach(function (tr) {{
    var event = tr.classList.contains("d-event");
    var show = event ? e && !a && !c
      : (!a || tr.dataset.action === a) && (!c || tr.dataset.connector === c);
    tr.style.display = show ? "" : "none";
  }});
}}
["action", "connector", "events"].forEach(function (id) {{
  document.getElementById(id).addEventListener("change", apply);
}});
</script>
</body></html>
"""
