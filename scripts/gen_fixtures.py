#!/usr/bin/env python3
"""Generate the Kinesis Lambda event fixtures in events/, plus events/expected.json and
events/README.md, deterministically (fixed seeds, gzip mtime 0).

KPL aggregated records are built with aws_kinesis_agg, the AWS KPL aggregation library,
never by hand. Run it from a venv that has it:

    python3 -m venv .emu/fixtures-venv
    .emu/fixtures-venv/bin/pip install aws_kinesis_agg==1.2.3 six  # it imports six without declaring it
    .emu/fixtures-venv/bin/python scripts/gen_fixtures.py          # (re)write events/
    .emu/fixtures-venv/bin/python scripts/gen_fixtures.py --check  # exit 1 if events/ differs

Every record states what a correct decoder makes of it (DESIGN.md, "Decoding rules");
the expected counts are summed from those statements and cross-checked against the small
reference decoder at the end of this file before anything is written.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import hashlib
import json
import random
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

try:
    # aggregator first: it puts its own folder on sys.path, which messages_pb2 needs
    from aws_kinesis_agg.aggregator import RecordAggregator
    from aws_kinesis_agg import MAGIC as KPL_MAGIC
    from aws_kinesis_agg import messages_pb2
except ImportError as err:  # pragma: no cover
    sys.exit(f"{__doc__}\nerror: {err}")

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"

ACCOUNT = "123456789012"
REGION = "us-east-1"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/raw"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
SHARD = "shardId-000000000000"
ARRIVAL = 1732500000.123  # 2024-11-25T02:00:00.123Z
WINDOW_START = dt.datetime(2024, 11, 25, 1, 0, tzinfo=dt.timezone.utc)
WINDOW_END = dt.datetime(2024, 11, 25, 1, 5, tzinfo=dt.timezone.utc)

# What the reference decoder assumes of the decoder's guards (shared/src/limits.rs).
MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024
MAX_JSON_DEPTH = 64

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "okhttp/4.12.0",
    "curl/8.5.0",
]
HTTP = [
    ("POST", "/v1/login", 200),
    ("POST", "/v1/login", 401),
    ("GET", "/v1/session", 200),
    ("POST", "/v1/token/refresh", 200),
    ("DELETE", "/v1/session", 204),
    ("GET", "/v1/users/me", 403),
]


# ----------------------------------------------------------------------------- building blocks


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def access_event(rng: random.Random, t: dt.datetime) -> dict:
    method, path, status = rng.choice(HTTP)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "kind": "access",
        "source": "svc-auth",
        "time": rfc3339(t),
        "user": f"u-{rng.randrange(1000, 10000)}",
        "ip": f"{rng.choice(['203.0.113', '198.51.100', '192.0.2'])}.{rng.randrange(1, 255)}",
        "http": {"method": method, "path": path, "status": status},
        "ua": rng.choice(USER_AGENTS),
    }


class Clock:
    """Event times that move forward by a few hundred milliseconds each."""

    def __init__(self, rng: random.Random, start: dt.datetime):
        self.rng, self.t = rng, start

    def next(self) -> dt.datetime:
        self.t += dt.timedelta(milliseconds=self.rng.randrange(50, 900))
        return self.t


def kpl(user_records: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """One KPL aggregated record of the user records (partition key, data), built by
    aws_kinesis_agg. Returns the aggregated record's partition key and bytes."""
    agg = RecordAggregator()
    for pk, data in user_records:
        if agg.add_user_record(pk, data) is not None:
            raise ValueError("user records do not fit one aggregated record")
    record = agg.clear_and_get()
    assert record is not None and record.get_num_user_records() == len(user_records)
    pk, _ehk, data = record.get_contents()
    assert data.startswith(KPL_MAGIC)
    return pk, data


def cwlogs_data(rng: random.Random, log_group: str, log_stream: str, messages: list[str], ts_ms: int) -> bytes:
    """A gzip CloudWatch Logs subscription DATA_MESSAGE."""
    events = []
    for i, message in enumerate(messages):
        events.append({"id": log_event_id(rng), "timestamp": ts_ms + 17 * i, "message": message})
    return gz(
        compact(
            {
                "messageType": "DATA_MESSAGE",
                "owner": ACCOUNT,
                "logGroup": log_group,
                "logStream": log_stream,
                "subscriptionFilters": ["to-kinesis-raw"],
                "logEvents": events,
            }
        )
    )


def cwlogs_control(ts_ms: int) -> bytes:
    """The gzip CONTROL_MESSAGE CloudWatch Logs sends when a subscription is created."""
    return gz(
        compact(
            {
                "messageType": "CONTROL_MESSAGE",
                "owner": "CloudwatchLogs",
                "logGroup": "",
                "logStream": "",
                "subscriptionFilters": [],
                "logEvents": [
                    {
                        "id": "",
                        "timestamp": ts_ms,
                        "message": "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream.",
                    }
                ],
            }
        )
    )


def log_event_id(rng: random.Random) -> str:
    return str(rng.randrange(3 * 10**55, 4 * 10**55))


def app_log_messages(rng: random.Random) -> list[str]:
    """Three Lambda log lines: one JSON (structured logger), two plain text."""
    request_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return [
        f"START RequestId: {request_id} Version: $LATEST\n",
        json.dumps(
            {
                "level": "INFO",
                "timestamp": "2024-11-25T02:00:00.245Z",
                "service": "checkout",
                "message": "order placed",
                "order_id": "o-100231",
                "amount": 42.5,
                "xray_trace_id": "1-67433e10-4f2b6c1d9e8a7b6c5d4e3f2a",
                "function_request_id": request_id,
            },
            separators=(",", ":"),
        )
        + "\n",
        f"2024-11-25T02:00:00.312Z\t{request_id}\tWARN\tpayment provider slow: 1840 ms\n",
    ]


VPC_FLOW_LINES = [
    "2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.9 443 49152 6 10 840 1732500000 1732500060 ACCEPT OK",
    "2 123456789012 eni-0a1b2c3d 198.51.100.23 10.0.1.5 51820 22 6 1 40 1732500000 1732500060 REJECT OK",
    "2 123456789012 eni-0a1b2c3d - - - - - - - 1732500000 1732500060 - NODATA",
]

TEXT_LINES = [
    "2024-11-25T02:00:00.101Z INFO svc-auth login succeeded user=u-4821 ip=203.0.113.7 latency_ms=38",
    "",
    "2024-11-25T02:00:00.877Z WARN svc-auth too many attempts user=u-1190 ip=198.51.100.42 attempts=5",
]


# ----------------------------------------------------------------------------- records and files


@dataclass
class Rec:
    data: bytes
    pk: str
    what: str  # a few words for README.md
    events: int = 0
    quarantine: str | None = None  # the reason's gist, when the whole record is quarantined
    control: int = 0


@dataclass
class Fixture:
    name: str
    summary: str
    records: list[Rec]
    window: dict | None = None  # extra top-level fields of a tumbling-window event
    arrival: float = ARRIVAL
    expected: dict = field(default_factory=dict)


def seq_numbers(rng: random.Random, n: int) -> list[str]:
    """Realistic 56-digit Kinesis sequence numbers, increasing."""
    seq = rng.randrange(49_600_000 * 10**48, 49_700_000 * 10**48)
    out = []
    for _ in range(n):
        seq += rng.randrange(10**18, 10**20)
        s = str(seq)
        assert len(s) == 56, s
        out.append(s)
    return out


def lambda_event(fx: Fixture) -> dict:
    rng = random.Random(f"eddy-fixtures:{fx.name}:seq")
    seqs = seq_numbers(rng, len(fx.records))
    records = []
    for i, (rec, seq) in enumerate(zip(fx.records, seqs)):
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": rec.pk,
                    "sequenceNumber": seq,
                    "data": base64.b64encode(rec.data).decode(),
                    "approximateArrivalTimestamp": round(fx.arrival + 0.011 * i, 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD}:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": ROLE_ARN,
                "awsRegion": REGION,
                "eventSourceARN": STREAM_ARN,
            }
        )
    event = {"Records": records}
    if fx.window is not None:
        event.update(fx.window)
    return event


def json_rec(rng, clock, what="one JSON access event") -> Rec:
    e = access_event(rng, clock.next())
    return Rec(compact(e), e["user"], what, events=1)


def fixtures() -> list[Fixture]:
    out = []

    def rng_for(name: str) -> tuple[random.Random, Clock]:
        rng = random.Random(f"eddy-fixtures:{name}")
        return rng, Clock(rng, dt.datetime(2024, 11, 25, 2, 0, tzinfo=dt.timezone.utc))

    # kinesis-json.json
    rng, clock = rng_for("json")
    out.append(Fixture("kinesis-json.json", "3 records, each one JSON access event", [json_rec(rng, clock) for _ in range(3)]))

    # kinesis-ndjson.json
    rng, clock = rng_for("ndjson")
    nd = [access_event(rng, clock.next()) for _ in range(3)]
    arr = [access_event(rng, clock.next()) for _ in range(2)]
    out.append(
        Fixture(
            "kinesis-ndjson.json",
            "2 records: NDJSON and a JSON array of objects",
            [
                Rec(b"".join(compact(e) + b"\n" for e in nd), nd[0]["user"], "3 NDJSON access events", events=3),
                Rec(compact(arr), arr[0]["user"], "a JSON array of 2 access events", events=2),
            ],
        )
    )

    # kinesis-text.json
    out.append(
        Fixture(
            "kinesis-text.json",
            "1 record of plain text log lines",
            [Rec(("\n".join(TEXT_LINES) + "\n").encode(), "svc-auth", "2 text lines with a blank line between", events=2)],
        )
    )

    # kinesis-kpl.json
    rng, clock = rng_for("kpl")
    users3 = [access_event(rng, clock.next()) for _ in range(3)]
    plain = access_event(rng, clock.next())
    users2 = [access_event(rng, clock.next()) for _ in range(2)]
    pk3, agg3 = kpl([(f"pk-{e['user']}-{i}", compact(e)) for i, e in enumerate(users3)])
    pk2, agg2 = kpl([(f"pk-{e['user']}-{i}", compact(e)) for i, e in enumerate(users2)])
    out.append(
        Fixture(
            "kinesis-kpl.json",
            "KPL aggregated records (aws_kinesis_agg) around a plain JSON record",
            [
                Rec(agg3, pk3, "KPL aggregate of 3 JSON user records with distinct partition keys", events=3),
                Rec(compact(plain), plain["user"], "one plain JSON access event", events=1),
                Rec(agg2, pk2, "KPL aggregate of 2 JSON user records", events=2),
            ],
        )
    )

    # kinesis-kpl-corrupt.json
    rng, clock = rng_for("kpl-corrupt")
    good1 = json_rec(rng, clock)
    pk_a, agg_a = kpl([(f"pk-{i}", compact(access_event(rng, clock.next()))) for i in range(3)])
    flipped = bytearray(agg_a)
    flipped[len(flipped) - 17] ^= 0x20  # last byte of the protobuf body (the last user record's data)
    assert hashlib.md5(bytes(flipped[4:-16])).digest() != bytes(flipped[-16:])
    pk_b, agg_b = kpl([(f"pk-{i}", compact(access_event(rng, clock.next()))) for i in range(2)])
    truncated = agg_b[:10]  # the magic and 6 bytes of the body: no room for the MD5
    good2 = json_rec(rng, clock)
    out.append(
        Fixture(
            "kinesis-kpl-corrupt.json",
            "good JSON, two corrupt KPL containers, good JSON",
            [
                good1,
                Rec(bytes(flipped), pk_a, "KPL aggregate of 3 with one protobuf body byte flipped", quarantine="KPL MD5 mismatch"),
                Rec(truncated, pk_b, "KPL aggregate cut to its first 10 bytes (magic + 6)", quarantine="KPL record too short"),
                good2,
            ],
        )
    )

    # kinesis-cwlogs.json
    rng, _ = rng_for("cwlogs")
    ts = 1732500000123
    app = cwlogs_data(rng, "/aws/lambda/checkout", "2024/11/25/[$LATEST]5d7e1c2b9a8f4e6d8c7b6a5f4e3d2c1b", app_log_messages(rng), ts)
    vpc = cwlogs_data(rng, "vpc-flow-logs", "eni-0a1b2c3d-all", VPC_FLOW_LINES, ts + 60_000)
    pk_app = hashlib.md5(b"/aws/lambda/checkout").hexdigest()
    pk_vpc = hashlib.md5(b"vpc-flow-logs").hexdigest()
    out.append(
        Fixture(
            "kinesis-cwlogs.json",
            "gzip CloudWatch Logs subscription messages",
            [
                Rec(app, pk_app, "DATA_MESSAGE, /aws/lambda/checkout: 1 JSON + 2 text log events", events=3),
                Rec(cwlogs_control(ts), "cwl-control", "CONTROL_MESSAGE (health check)", control=1),
                Rec(vpc, pk_vpc, "DATA_MESSAGE, vpc-flow-logs: 3 v2 flow log lines (ACCEPT, REJECT, NODATA)", events=3),
            ],
        )
    )

    # kinesis-malformed.json
    rng, clock = rng_for("malformed")
    deep = b'{"deep":' + b"[" * 200 + b"]" * 200 + b"}"
    corrupt_gzip = gz(b"x")[:10] + b"\xff" * 16  # valid 10-byte header, then a reserved deflate block type
    bomb = gz(b"\0" * (20 * 1024 * 1024))
    out.append(
        Fixture(
            "kinesis-malformed.json",
            "one poison record of each kind between two good ones",
            [
                json_rec(rng, clock, "good JSON"),
                Rec(b"", "empty", "empty data", quarantine="empty record"),
                Rec(b'{"a": 1, "b": ', "truncated", "truncated JSON", quarantine="invalid JSON (EOF)"),
                Rec(b"\xff\xfe\x41", "not-utf8", "bytes ff fe 41", quarantine="not UTF-8"),
                Rec(deep, "deep", "JSON object holding arrays nested 200 deep", quarantine="JSON nested too deep"),
                Rec(corrupt_gzip, "corrupt-gzip", "gzip magic and header, then garbage", quarantine="corrupt gzip"),
                Rec(bomb, "gzip-bomb", f"gzip bomb: 20 MiB of zeros in {len(bomb)} bytes", quarantine="gzip over the size limit"),
                Rec(b'[{"a":1}, 5]', "array-number", "JSON array holding a number", quarantine="JSON value 1 is not an object"),
                json_rec(rng, clock, "good JSON"),
            ],
        )
    )

    # kinesis-mixed.json
    rng, clock = rng_for("mixed")
    nd = [access_event(rng, clock.next()) for _ in range(3)]
    pk_k, agg_k = kpl([(f"pk-{i}-{e['user']}", compact(e)) for i, e in enumerate(access_event(rng, clock.next()) for _ in range(2))])
    out.append(
        Fixture(
            "kinesis-mixed.json",
            "one record of each kind",
            [
                json_rec(rng, clock, "JSON access event"),
                Rec(b"".join(compact(e) + b"\n" for e in nd), nd[0]["user"], "3 NDJSON access events", events=3),
                Rec(("\n".join(TEXT_LINES) + "\n").encode(), "svc-auth", "2 text lines and a blank one", events=2),
                Rec(agg_k, pk_k, "KPL aggregate of 2 JSON user records", events=2),
                Rec(
                    cwlogs_data(rng, "/aws/lambda/checkout", "2024/11/25/[$LATEST]0f1e2d3c4b5a69788796a5b4c3d2e1f0", app_log_messages(rng), 1732500001000),
                    hashlib.md5(b"/aws/lambda/checkout").hexdigest(),
                    "CloudWatch Logs DATA_MESSAGE: 1 JSON + 2 text log events",
                    events=3,
                ),
                Rec(cwlogs_control(1732500001500), "cwl-control", "CloudWatch Logs CONTROL_MESSAGE", control=1),
                Rec(b"", "empty", "empty data", quarantine="empty record"),
                Rec(b'{"a": 1, "b": ', "truncated", "truncated JSON", quarantine="invalid JSON (EOF)"),
            ],
        )
    )

    # kinesis-window.json, kinesis-window-final.json
    for final in (False, True):
        name = "kinesis-window-final.json" if final else "kinesis-window.json"
        rng = random.Random(f"eddy-fixtures:{name}")
        clock = Clock(rng, WINDOW_START + dt.timedelta(seconds=61))
        out.append(
            Fixture(
                name,
                f"tumbling-window event ({'final invoke' if final else 'not the final invoke'}) with 4 JSON access events",
                [json_rec(rng, clock) for _ in range(4)],
                window={
                    "window": {"start": WINDOW_START.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": WINDOW_END.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    "state": {},
                    "shardId": SHARD,
                    "eventSourceARN": STREAM_ARN,
                    "isFinalInvokeForWindow": final,
                    "isWindowTerminatedEarly": False,
                },
                arrival=WINDOW_START.timestamp() + 61.123,
            )
        )

    for fx in out:
        fx.expected = {
            "records": len(fx.records),
            "events": sum(r.events for r in fx.records),
            "quarantined": sum(1 for r in fx.records if r.quarantine),
            "control_messages": sum(r.control for r in fx.records),
        }
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def readme(fxs: list[Fixture]) -> str:
    lines = [
        "# events/",
        "",
        "Sample Kinesis Lambda events (SAM-shaped), written by `scripts/gen_fixtures.py`: edit the",
        "generator, not these files (`--check` tells whether they are up to date). KPL aggregates are",
        "built with `aws_kinesis_agg`. `expected.json` holds, per file, the counts a correct decoder",
        "produces by DESIGN.md's \"Decoding rules\", with the default guards (gzip output <= 8 MiB,",
        "JSON nesting <= 64). Below: each file, its records in order, and what a decoder does with each.",
        "",
    ]
    for fx in fxs:
        e = fx.expected
        runs: list[list] = []  # [first, last, text]
        for i, r in enumerate(fx.records, 1):
            if r.quarantine:
                outcome = f"quarantined: {r.quarantine}"
            elif r.control:
                outcome = "0 events, counted as a control message"
            else:
                outcome = plural(r.events, "event")
            text = f"{r.what} -> {outcome}"
            if runs and runs[-1][2] == text:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        parts = [f"{a}-{b}. {t}" if a != b else f"{a}. {t}" for a, b, t in runs]
        lines.append(
            f"- `{fx.name}` ({fx.summary}): {'; '.join(parts)}. Expected: {plural(e['records'], 'record')}, "
            f"{plural(e['events'], 'event')}, {e['quarantined']} quarantined, "
            f"{plural(e['control_messages'], 'control message')}."
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- reference decoder


class Quarantine(Exception):
    pass


def ref_decode(data: bytes) -> tuple[int, int]:
    """(events, control messages) of one record by DESIGN.md's rules; raises Quarantine."""
    if not data.strip():
        raise Quarantine("empty record")
    if data.startswith(KPL_MAGIC):
        if len(data) < len(KPL_MAGIC) + 16:
            raise Quarantine("KPL record too short")
        body, digest = data[len(KPL_MAGIC) : -16], data[-16:]
        if hashlib.md5(body).digest() != digest:
            raise Quarantine("KPL MD5 mismatch")
        agg = messages_pb2.AggregatedRecord()
        agg.ParseFromString(body)
        events = control = 0
        for r in agg.records:
            if r.data.startswith(KPL_MAGIC):
                raise Quarantine("nested KPL")
            e, c = ref_decode_user(r.data)
            events, control = events + e, control + c
        return events, control
    return ref_decode_user(data)


def ref_decode_user(data: bytes) -> tuple[int, int]:
    if data.startswith(b"\x1f\x8b"):
        try:
            d = gzip.GzipFile(fileobj=__import__("io").BytesIO(data))
            out = d.read(MAX_DECOMPRESSED_BYTES + 1)
        except (OSError, EOFError, __import__("zlib").error) as err:
            raise Quarantine(f"corrupt gzip: {err}") from None
        if len(out) > MAX_DECOMPRESSED_BYTES:
            raise Quarantine("gzip over the size limit")
        try:
            msg = json.loads(out)
        except ValueError:
            msg = None
        if isinstance(msg, dict) and msg.get("messageType") in ("DATA_MESSAGE", "CONTROL_MESSAGE"):
            if msg["messageType"] == "CONTROL_MESSAGE":
                return 0, 1
            events = 0
            for le in msg["logEvents"]:
                m = le["message"]
                fields = m.split()
                if len(fields) == 14 and fields[0] == "2":
                    events += 1
                    continue
                try:
                    events += ref_text_or_json(m.encode())
                except Quarantine:
                    events += ref_lines(m)
            return events, 0
        data = out
    return ref_text_or_json(data), 0


def ref_text_or_json(data: bytes) -> int:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Quarantine("not UTF-8") from None
    s = text.lstrip()
    if s[:1] in ("{", "["):
        dec = json.JSONDecoder()
        values, pos = [], 0
        try:
            while True:
                while pos < len(s) and s[pos] in " \t\r\n":
                    pos += 1
                if pos == len(s):
                    break
                v, pos = dec.raw_decode(s, pos)
                values.append(v)
        except ValueError as err:
            raise Quarantine(f"invalid JSON: {err}") from None
        if len(values) == 1 and isinstance(values[0], list):
            values = values[0]
            depth_extra = 1
        else:
            depth_extra = 0
        for v in values:
            if not isinstance(v, dict):
                raise Quarantine("JSON value is not an object")
            if depth(v) + depth_extra > MAX_JSON_DEPTH:
                raise Quarantine("JSON nested too deep")
        return len(values)
    return ref_lines(text)


def ref_lines(text: str) -> int:
    return sum(1 for line in text.split("\n") if line.strip())


def depth(v) -> int:
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def cross_check(fx: Fixture) -> None:
    for i, r in enumerate(fx.records):
        try:
            got = ref_decode(r.data)
            q = None
        except Quarantine as err:
            got, q = (0, 0), str(err)
        want = (r.events, r.control)
        if bool(q) != bool(r.quarantine) or got != want:
            raise SystemExit(f"{fx.name} record {i}: declared {want} q={r.quarantine!r}, reference decoder says {got} q={q!r}")


# ----------------------------------------------------------------------------- main


def render() -> dict[str, str]:
    fxs = fixtures()
    files = {}
    for fx in fxs:
        cross_check(fx)
        files[fx.name] = json.dumps(lambda_event(fx), indent=2) + "\n"
    files["expected.json"] = json.dumps({fx.name: fx.expected for fx in fxs}, indent=2) + "\n"
    files["README.md"] = readme(fxs)
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with events/ instead of writing; exit 1 on a difference")
    args = ap.parse_args()
    files = render()
    if args.check:
        stale = [n for n, text in files.items() if not (EVENTS / n).is_file() or (EVENTS / n).read_text() != text]
        for n in stale:
            print(f"events/{n} differs from what scripts/gen_fixtures.py generates", file=sys.stderr)
        return 1 if stale else 0
    EVENTS.mkdir(exist_ok=True)
    for n, text in files.items():
        (EVENTS / n).write_text(text)
        print(f"wrote events/{n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
