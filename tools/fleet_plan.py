"""The pure parts of `ocppstation fleet`: station ids, the split of stations
over worker processes, the template, the automatic transaction generator's
schedule, the chaos plan's choice of stations and the summary's figures.

No threads, sockets, files or clock reads: time is seconds since the fleet
started, passed in; randomness comes from seeds, so a run repeats. Also the
mix of station kinds (which station is which kind) and the fault commands
typed at a running fleet (what they say, which stations they hit).
"""

from __future__ import annotations

import fnmatch
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal

Distribution = Literal["random", "round_robin", "per_evse"]
DISTRIBUTIONS: tuple[Distribution, ...] = ("random", "round_robin", "per_evse")
ActionKind = Literal["plug", "tag", "unplug"]
ChaosKind = Literal["crash", "disconnect"]
VERSIONS = ("1.6", "2.0.1")
# A kind's own settings; every other key of a kind is a config section.
KIND_KEYS = frozenset({"share", "evses", "ocpp"})
# How far the kinds' shares may sum from 1 (a template written as 0.7 + 0.3).
SHARE_TOLERANCE = 1e-6


class TemplateError(ValueError):
    """A template that cannot be used; the message names the field."""


def station_ids(prefix: str, count: int) -> list[str]:
    """CP0001, CP0002, ...: at least four digits, more when `count` needs them,
    so the ids sort in their order."""
    width = max(4, len(str(count)))
    return [f"{prefix}{n:0{width}d}" for n in range(1, count + 1)]


def split(items: Sequence[str], workers: int) -> list[list[str]]:
    """`items` in `workers` contiguous shares whose sizes differ by at most one
    (no empty share: fewer stations than workers means fewer workers)."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    shares = min(workers, len(items))
    base, extra = divmod(len(items), shares) if shares else (0, 0)
    out: list[list[str]] = []
    start = 0
    for k in range(shares):
        size = base + (1 if k < extra else 0)
        out.append(list(items[start : start + size]))
        start += size
    return out


@dataclass(frozen=True)
class Atg:
    """The automatic transaction generator's settings, per EVSE (seconds)."""

    enabled: bool = True
    id_tags: tuple[str, ...] = ("ATG0001", "ATG0002", "ATG0003", "ATG0004")
    distribution: Distribution = "random"
    charge_min: float = 20.0
    charge_max: float = 60.0
    delay_min: float = 5.0
    delay_max: float = 15.0
    # From plug to card, and from the stop card to unplug: a driver's pace.
    plug_to_tag: float = 1.0
    tag_to_unplug: float = 1.0
    start_probability: float = 1.0
    # The first session begins within this many seconds, so N stations do not
    # all plug in at the same instant.
    first_delay_max: float = 5.0
    # No session begins after this (None: until the fleet stops).
    stop_after: float | None = None


@dataclass(frozen=True)
class ChaosStep:
    at: float
    kind: ChaosKind
    share: float  # percent of the fleet's stations
    path: str = ""  # the actor a crash hits


@dataclass(frozen=True)
class Kind:
    """One kind of station in the mix: its share of the fleet (0 to 1), its
    EVSEs and version (None: the command line's), its config over `station`."""

    share: float = 1.0
    evses: int | None = None
    ocpp: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    station: Mapping[str, Any] = field(default_factory=dict)
    atg: Atg = field(default_factory=Atg)
    chaos: tuple[ChaosStep, ...] = ()
    # Empty: every station is the one kind the command line describes.
    kinds: tuple[Kind, ...] = ()


def _number(section: str, key: str, value: Any, *, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise TemplateError(f"{section}.{key}: a number >= {low:g} expected, got {value!r}")
    return float(value)


def parse_template(data: Any) -> Template:
    """A template read from JSON: {"station": {...config overrides...},
    "atg": {...}, "chaos": [{"at": 10, "crash": "evses/1/meter", "share": 5}, ...],
    "kinds": [{"share": 0.7, "evses": 2, ...config sections...}, ...]}."""
    if not isinstance(data, dict):
        raise TemplateError("the template must be a JSON object")
    unknown = set(data) - {"station", "atg", "chaos", "kinds"}
    if unknown:
        raise TemplateError(f"unknown template section {sorted(unknown)[0]!r}")
    station = data.get("station", {})
    if not isinstance(station, dict):
        raise TemplateError("station: an object of config sections expected")
    return Template(
        station,
        parse_atg(data.get("atg", {})),
        parse_chaos(data.get("chaos", [])),
        parse_kinds(data.get("kinds", [])),
    )


def _objects(section: str, what: str, data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """A template's list section: each item's place ("kinds[1]") and the item."""
    if not isinstance(data, list):
        raise TemplateError(f"{section}: a list of {what} expected")
    for n, item in enumerate(data):
        where = f"{section}[{n}]"
        if not isinstance(item, dict):
            raise TemplateError(f"{where}: an object expected")
        yield where, item


def parse_kinds(data: Any) -> tuple[Kind, ...]:
    kinds: list[Kind] = []
    for where, item in _objects("kinds", "station kinds", data):
        if "share" not in item:
            raise TemplateError(f"{where}.share: missing (the kind's part of the fleet, 0 to 1)")
        share = _number(where, "share", item["share"])
        if share > 1:
            raise TemplateError(f"{where}.share: a fraction from 0 to 1, got {share:g}")
        evses = item.get("evses")
        if evses is not None and (
            isinstance(evses, bool) or not isinstance(evses, int) or not 1 <= evses <= 32
        ):
            raise TemplateError(f"{where}.evses: a whole number from 1 to 32, got {evses!r}")
        ocpp = item.get("ocpp")
        if ocpp is not None and ocpp not in VERSIONS:
            raise TemplateError(f"{where}.ocpp: one of {', '.join(VERSIONS)}, got {ocpp!r}")
        config = {k: v for k, v in item.items() if k not in KIND_KEYS}
        for section, body in config.items():
            if not isinstance(body, dict):
                raise TemplateError(f"{where}.{section}: a config section (an object) expected")
        kinds.append(Kind(share, evses, ocpp, config))
    if kinds and abs(sum(k.share for k in kinds) - 1) > SHARE_TOLERANCE:
        total = sum(k.share for k in kinds)
        raise TemplateError(f"kinds: the shares must add up to 1, they add up to {total:g}")
    return tuple(kinds)


def kind_counts(shares: Sequence[float], count: int) -> list[int]:
    """How many of `count` stations each share gets: largest remainder, so
    each is its exact part rounded down or up and they add up to `count`."""
    exact = [share * count for share in shares]
    counts = [int(x) for x in exact]
    # Ties go to the earlier kind: the order is the template's.
    order = sorted(range(len(shares)), key=lambda k: (counts[k] - exact[k], k))
    for k in order[: count - sum(counts)]:
        counts[k] += 1
    return counts


def assign_kinds(shares: Sequence[float], ids: Sequence[str], seed: int) -> list[int]:
    """Each station's kind (an index into `shares`), in the order of `ids`:
    `kind_counts` of each, which station is which drawn from the seed."""
    if not shares:
        return [0] * len(ids)
    kinds = [k for k, n in enumerate(kind_counts(shares, len(ids))) for _ in range(n)]
    _rng(seed, "kinds").shuffle(kinds)
    return kinds


def parse_atg(data: Any) -> Atg:
    if not isinstance(data, dict):
        raise TemplateError("atg: an object expected")
    base = Atg()
    known = set(Atg.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise TemplateError(f"atg.{sorted(unknown)[0]}: unknown setting")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise TemplateError("atg.enabled: true or false expected")
            values[key] = value
        elif key == "id_tags":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(t, str) and 0 < len(t) <= 20 for t in value)
            ):
                raise TemplateError("atg.id_tags: a non-empty list of idTags (1-20 chars)")
            values[key] = tuple(value)
        elif key == "distribution":
            if value not in DISTRIBUTIONS:
                raise TemplateError(f"atg.distribution: one of {', '.join(DISTRIBUTIONS)}")
            values[key] = value
        elif key == "stop_after":
            values[key] = None if value is None else _number("atg", key, value)
        else:
            values[key] = _number("atg", key, value)
    atg = Atg(**{**{k: getattr(base, k) for k in known}, **values})
    if atg.charge_min > atg.charge_max:
        raise TemplateError("atg.charge_min: more than charge_max")
    if atg.delay_min > atg.delay_max:
        raise TemplateError("atg.delay_min: more than delay_max")
    if atg.start_probability > 1:
        raise TemplateError("atg.start_probability: from 0 to 1")
    return atg


def parse_chaos(data: Any) -> tuple[ChaosStep, ...]:
    steps: list[ChaosStep] = []
    for where, item in _objects("chaos", "steps", data):
        at = _number(where, "at", item.get("at"))
        share = _number(where, "share", item.get("share", 100))
        if share > 100:
            raise TemplateError(f"{where}.share: a percentage from 0 to 100")
        if "crash" in item:
            path = item["crash"]
            if not isinstance(path, str) or not path:
                raise TemplateError(f"{where}.crash: an actor path expected")
            steps.append(ChaosStep(at, "crash", share, path))
        elif item.get("disconnect") is True:
            steps.append(ChaosStep(at, "disconnect", share))
        else:
            raise TemplateError(f'{where}: "crash": PATH or "disconnect": true expected')
    return tuple(sorted(steps, key=lambda s: s.at))


@dataclass(frozen=True)
class Action:
    at: float  # seconds since the fleet started
    kind: ActionKind
    id_tag: str = ""


def _rng(seed: int, *parts: object) -> random.Random:
    # A string seed is hashed with SHA-512, the same in every process and run
    # (hash() of a str is not: PYTHONHASHSEED).
    return random.Random("/".join(str(p) for p in (seed, *parts)))


def schedule(atg: Atg, seed: int, station_id: str, evse: int, slot: int) -> Iterator[Action]:
    """What the driver of one EVSE does, in time order, forever (or until
    `stop_after`). `slot` is the EVSE's place in the whole fleet, which picks
    its card under round_robin and per_evse."""
    rng = _rng(seed, station_id, evse)
    tags = atg.id_tags
    t = rng.uniform(0.0, atg.first_delay_max)
    session = 0
    while atg.enabled and (atg.stop_after is None or t <= atg.stop_after):
        if rng.random() < atg.start_probability:
            if atg.distribution == "random":
                tag = rng.choice(tags)
            elif atg.distribution == "round_robin":
                tag = tags[(slot + session) % len(tags)]
            else:
                tag = tags[slot % len(tags)]
            session += 1
            charge = rng.uniform(atg.charge_min, atg.charge_max)
            yield Action(t, "plug")
            yield Action(t + atg.plug_to_tag, "tag", tag)
            stop = t + atg.plug_to_tag + charge
            yield Action(stop, "tag", tag)
            t = stop + atg.tag_to_unplug
            yield Action(t, "unplug")
        t += rng.uniform(atg.delay_min, atg.delay_max)


def pick_share(ids: Sequence[str], percent: float, seed: int, *salt: object) -> list[str]:
    """round(percent % of `ids`), at least one for a share above 0, drawn from
    the seed and `salt` so a run repeats; sorted."""
    count = round(len(ids) * percent / 100)
    if percent > 0 and ids:
        count = max(count, 1)
    return sorted(_rng(seed, *salt).sample(list(ids), min(count, len(ids))))


def chaos_targets(step: ChaosStep, index: int, ids: Sequence[str], seed: int) -> list[str]:
    """The stations chaos step `index` hits (`pick_share`)."""
    return pick_share(ids, step.share, seed, "chaos", index)


# -- fault commands typed at a running fleet ----------------------------------------------

# verb: (fewest, most arguments after the stations), what the arguments are
FAULT_VERBS: dict[str, tuple[int, int, str]] = {
    "crash": (1, 1, "PATH"),
    "disconnect": (0, 0, ""),
    "fault": (2, 2, "N ERRORCODE"),
    "clear": (1, 1, "N"),
    "revive": (1, 1, "N"),
    "kill": (0, 0, ""),
}
FAULT_HELP = (
    "commands: "
    + " | ".join(f"{v} STATIONS {a}".rstrip() for v, (_, _, a) in FAULT_VERBS.items())
    + "; STATIONS: an id, a glob (CP00[1-5]*) or a share (5%)"
)


class CommandError(ValueError):
    """A fault command that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class FaultCommand:
    verb: str
    stations: str  # an id, a glob or a share ("5%")
    args: tuple[str, ...] = ()

    def console_line(self) -> str:
        """The same fault in the station console's words (one station)."""
        return " ".join((self.verb, *self.args))


def parse_command(line: str) -> FaultCommand:
    """`VERB STATIONS [ARGS]`: see `FAULT_HELP`."""
    words = line.split()
    if not words:
        raise CommandError(f"empty command; {FAULT_HELP}")
    verb = words[0].lower()
    if verb not in FAULT_VERBS:
        raise CommandError(f"unknown command {verb!r}; {FAULT_HELP}")
    fewest, most, what = FAULT_VERBS[verb]
    if len(words) < 2:
        raise CommandError(f"{verb}: which stations? {verb} STATIONS {what}".rstrip())
    args = tuple(words[2:])
    if not fewest <= len(args) <= most:
        raise CommandError(f"{verb} takes {verb} STATIONS {what}".rstrip())
    if words[1].endswith("%"):
        _percent(words[1])
    return FaultCommand(verb, words[1], args)


def _percent(text: str) -> float:
    try:
        value = float(text[:-1])
    except ValueError:
        raise CommandError(f"not a share: {text!r} (0% to 100%)") from None
    if not 0 < value <= 100:
        raise CommandError(f"a share is above 0% and at most 100%, not {text!r}")
    return value


def select(stations: str, ids: Sequence[str], seed: int, number: int) -> list[str]:
    """The stations a command's STATIONS names, sorted: a share (drawn from
    the seed and the command's `number`, so a run typed again repeats), a
    glob, or one id. Naming none is an error."""
    if stations.endswith("%"):
        return pick_share(ids, _percent(stations), seed, "command", number)
    if any(c in stations for c in "*?["):
        hit = sorted(i for i in ids if fnmatch.fnmatchcase(i, stations))
        if not hit:
            raise CommandError(f"no station matches {stations!r}")
        return hit
    if stations not in ids:
        raise CommandError(f"no station {stations!r} in this fleet")
    return [stations]


def percentiles(samples: Sequence[float], qs: Sequence[float]) -> dict[str, float | None]:
    """Nearest-rank percentiles ("p50": ...), None for no samples."""
    ordered = sorted(samples)
    out: dict[str, float | None] = {}
    for q in qs:
        name = f"p{q:g}"
        if not ordered:
            out[name] = None
            continue
        rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats drifting
        out[name] = ordered[int(rank) - 1]
    return out


def merge_counts(parts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for part in parts:
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    return dict(sorted(total.items()))


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`extra`'s sections over `base`'s, key by key (config overrides)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def station_seed(seed: int, station_id: str) -> int:
    """The seed of one station's own randomness (its Station's `seed`)."""
    return _rng(seed, "station", station_id).randrange(2**32)


# -- the HTML report -------------------------------------------------------------------

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def _plot(title: str, ts: Sequence[float], series: Mapping[str, Sequence[float | None]]) -> str:
    """One inline SVG line chart; a missing value (None) breaks its line."""
    width, height, pad = 640, 200, 40
    values = [v for vs in series.values() for v in vs if v is not None]
    top = max(values, default=0.0) or 1.0
    right = max(ts, default=0.0) or 1.0

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * t / right

    def y(v: float) -> float:
        return height - pad + (2 * pad - height) * v / top

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f'<text x="{pad}" y="16" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#888"/>',
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>',
        f'<text x="2" y="{pad + 4}" font-size="11">{top:g}</text>',
        f'<text x="{width - pad - 20}" y="{height - pad + 14}" font-size="11">{right:g} s</text>',
    ]
    for n, (name, vs) in enumerate(series.items()):
        colour = _COLOURS[n % len(_COLOURS)]
        run: list[str] = []
        runs: list[list[str]] = [run]
        for t, v in zip(ts, vs, strict=False):
            if v is None:
                run = []
                runs.append(run)
            else:
                run.append(f"{x(t):.1f},{y(v):.1f}")
        for points in runs:
            if points:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" points="{" ".join(points)}"/>'
                )
        parts.append(
            f'<text x="{pad + 10 + 110 * n}" y="{height - 6}" font-size="11" '
            f'fill="{colour}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def html_report(report: Mapping[str, Any]) -> str:
    """The JSON report as one self-contained page: no script, no external file."""
    samples = report.get("samples", [])
    ts = [float(s["t"]) for s in samples]

    def col(key: str) -> list[float | None]:
        return [s[key] for s in samples]

    def answer(q: str) -> list[float | None]:
        return [s["answer_ms"].get(q) for s in samples]

    totals = report.get("totals", {})
    rows = "".join(
        f"<tr><th>{escape(str(k))}</th><td>{escape(json.dumps(v))}</td></tr>"
        for k, v in totals.items()
    )
    head = (
        f"{report.get('stations')} stations x {report.get('evses')} EVSEs, "
        f"OCPP {report.get('ocpp')}, {report.get('workers')} workers, "
        f"seed {report.get('seed')}, {report.get('elapsed_s')} s"
    )
    plots = [
        _plot(
            "stations",
            ts,
            {"connected": col("connected"), "booted": col("booted"), "charging": col("charging")},
        ),
        _plot("messages/s", ts, {"messages/s": col("messages_per_s")}),
        _plot("CSMS answer time (ms)", ts, {q: answer(q) for q in ("p50", "p95", "p99")}),
        _plot("reconnects", ts, {"reconnects": col("reconnects")}),
    ]
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>ocppstation fleet</title>'
        "<style>body{font-family:sans-serif}td,th{text-align:left;padding:2px 8px}</style>"
        f"</head><body><h1>ocppstation fleet</h1><p>{escape(head)}</p>"
        + "<br>".join(plots)
        + f"<h2>Totals</h2><table>{rows}</table></body></html>\n"
    )
