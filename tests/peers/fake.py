#!/usr/bin/env python3
"""Strict fakes of the HTTP peers cw2mackerel talks to, for its tests and benchmarks.

    python3 tests/peers/fake.py KIND [--port N] [--no-stdin] [kind options]

KIND is `mackerel` (Mackerel's REST API), `ecs` (the ECS/EKS container credentials endpoint),
`imds` (EC2 instance metadata, IMDSv2 only), `lambda` (the Lambda runtime API), `sts` (STS
AssumeRoleWithWebIdentity, which AWS serves unsigned but moto insists on signing), `proxy`
(an HTTP CONNECT proxy that tunnels to loopback only and records each tunnel) or `tls` (a TLS
front: it makes a CA of its own and a certificate for 127.0.0.1 and localhost signed by it,
writes the CA's PEM to --ca-out, and forwards what each TLS connection carries to --upstream
HOST:PORT, so moto or another fake can be reached over https; it has no control API). The
server binds 127.0.0.1 (--host ::1 for IPv6), prints one line `{"port": N}` once listening, and
exits when its stdin closes (so it dies with the test that started it) unless --no-stdin is
given.
Kind `mackerel` with --unique-custom-identifier refuses a second live host with one
customIdentifier; with --retired-keep-identifiers, a retired host's identifier is taken too.
Its answers are Mackerel's: {"success": true} for metric posts, graph definitions and
retirements, {"id": ...} for a host created or updated, {"hosts": [...]} for a listing,
{"host": {...}} (retired ones too, with isRetired) for GET /api/v0/hosts/<id>; a post to a
retired host is refused with 400. Graph definitions are checked field by field, each metric's
name being its graph's name and one more part (check_graph_def). --stranger-hosts N adds N agent hosts of someone else with
ordinary meta (about 3.9 KB each as JSON) to every full listing (not one by customIdentifier,
name or service), made as they are sent in chunked encoding: a listing of tens of MB costs
the fake nothing ({"strangers": N} on POST /_fake/state sets it too).
Kind `mackerel` takes service metric monitors (POST /api/v0/monitors, checked field by field as
Mackerel's API documents them; other monitor types are refused) and lists them (GET).
Kind `lambda` percent-decodes the request ID in a path, and `/_fake/invoke` takes a
"request_id" to hand out, "size": bytes (the event is padded with blanks to that length, to
hand out one over Lambda's 6 MB payload limit) and "no_request_id": true (the invocation comes
without its Lambda-Runtime-Aws-Request-Id header).

Options for every kind: --latency SECONDS answers each request (not the /_fake/* control API)
only after that long (a float; default 0), to model a peer across a network: the bench runs
Mackerel at 0.15 s. Kind `mackerel` also takes --max-body BYTES (default 102400): a body over
that posted to /api/v0/services/<svc>/tsdb or /api/v0/tsdb is refused with 413 and
{"error":{"message":"Request Entity Too Large"}}, as Mackerel's front end refuses large bodies
(mackerelio/fluent-plugin-mackerel caps its chunks at 100 KB for that reason); the refusal is
recorded in /_fake/requests with status 413 like every other.

Each fake rejects what the real API rejects and can inject faults. Control API (no auth):
  GET  /_fake/requests   every request but /_fake/* seen so far, with "elapsed_ms" from its
                         arrival to its answer (?bodies=0: each body replaced by its length in
                         "body_length", for big runs)
  POST /_fake/reset      forget requests and queued faults
  POST /_fake/faults     queue faults: [{"path": regex, "method", "status", "body", "ctype",
                         "headers", "delay": seconds, "truncate": bool, "close": bool,
                         "count": n}] ("ctype": the answer's Content-Type, application/json
                         unless given: a 200 text/html maintenance page, a 307 with a
                         Location header)
  GET  /_fake/state      what the fake holds (kind-specific);  POST /_fake/state  set it up
                         (mackerel: "received" counts the points accepted: "points", "new"
                         (a name and time not held before), "same" (held with the same value),
                         "changed" (held with another value)); ?points=0 gives the number of
                         points held instead of the points
"""
import argparse
import json
import math
import os
import random
import re
import signal
import string
import sys
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
import socket
from urllib.parse import parse_qs, unquote, urlsplit

import wire

LOCK = threading.Lock()
REQUESTS = []
FAULTS = []


class Reply(Exception):
    """Raised by handlers to answer with a status and a JSON (or raw) body."""

    def __init__(self, status, body=None, headers=None, raw=None, ctype="application/json", stream=None):
        self.status, self.body, self.headers, self.raw, self.ctype = status, body, headers or {}, raw, ctype
        self.stream = stream  # an iterable of bytes, sent chunked (a long answer built as it goes)


def mackerel_error(status, message):
    return Reply(status, {"error": {"message": message}})


class Handler(wire.Handler):
    kind = None  # set in main
    latency = 0.0  # --latency: seconds before answering any request but /_fake/*

    def handle_any(self):
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        if path.startswith("/_fake/"):
            return self.control(path, query, body)
        record = {
            "method": self.command,
            "path": path,
            "query": query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
            "time": time.time(),
            "status": 0,
        }
        with LOCK:
            REQUESTS.append(record)
            fault = wire.take_fault(FAULTS, path, method=self.command)
        if self.wait_or_close(fault, self.latency):
            return
        if fault and "status" in fault:
            default = {"error": {"message": "injected fault"}} if self.kind == "mackerel" else {}
            raw = fault["body"].encode() if "body" in fault else json.dumps(default).encode()
            record["status"] = fault["status"]
            record["elapsed_ms"] = (time.time() - record["time"]) * 1000
            return self.send(fault["status"], raw, fault.get("headers"), fault.get("ctype"),
                             truncate=fault.get("truncate", False))
        try:
            handler = HANDLERS[self.kind]
            result = handler(self, path, query, body)
            reply = result if isinstance(result, Reply) else Reply(200, result)
        except Reply as r:
            reply = r
        if reply.stream is not None:
            record["status"] = reply.status
            self.send_chunks(reply.status, reply.stream, reply.ctype)
            record["elapsed_ms"] = (time.time() - record["time"]) * 1000
            return
        raw = reply.raw if reply.raw is not None else json.dumps(reply.body if reply.body is not None else {}).encode()
        record["status"] = reply.status
        truncate = bool(fault and fault.get("truncate"))
        if truncate:
            record["status"] = 0
        record["elapsed_ms"] = (time.time() - record["time"]) * 1000
        self.send(reply.status, raw, reply.headers, reply.ctype, truncate)

    def control(self, path, query, body):
        data = json.loads(body) if body.strip() else None
        if path == "/_fake/requests":
            with LOCK:
                out = list(REQUESTS)
            if query.get("bodies") == ["0"]:
                out = [dict({k: v for k, v in r.items() if k != "body"}, body_length=len(r["body"].encode()))
                       for r in out]
        elif path == "/_fake/reset":
            with LOCK:
                REQUESTS.clear()
                FAULTS.clear()
            out = {"ok": True}
        elif path == "/_fake/faults":
            with LOCK:
                for f in data or []:
                    f.setdefault("count", 1)
                    FAULTS.append(f)
            out = {"ok": True}
        elif path == "/_fake/state" and self.command == "GET":
            out = STATE_GET[self.kind]()
            if query.get("points") == ["0"] and self.kind == "mackerel":
                for key in ("points", "host_points"):
                    out[key] = sum(len(series) for owner in out[key].values() for series in owner.values())
        elif path == "/_fake/state":
            out = STATE_POST[self.kind](data or {})
        elif path == "/_fake/invoke" and self.kind == "lambda":
            out = lambda_invoke(data or {})
        elif path == "/_fake/wait" and self.kind == "lambda":
            out = lambda_wait(query["id"][0], float(query.get("timeout", ["10"])[0]))
        else:
            return self.send(404, b'{"error":"no such control path"}')
        self.send(200, json.dumps(out).encode())

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def do_CONNECT(self):
        if self.kind != "proxy":
            return self.send(405, b"", ctype="text/plain")
        proxy_connect(self)


# ------------------------------------------------------------------------------------------
# mackerel

class Mackerel:
    keys, services = set(), []
    unique_custom_identifier = False
    retired_keep_identifiers = False
    max_body = 102400
    points, host_points, hosts, graph_defs, dropped = {}, {}, {}, {}, 0
    strangers = 0  # agent hosts of someone else every full listing holds (--stranger-hosts)
    monitors = []
    received = {"points": 0, "new": 0, "same": 0, "changed": 0}


NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
UNITS = {"float", "integer", "percentage", "seconds", "milliseconds", "bytes", "bytes/sec", "bits/sec", "iops"}
HOST_STATUSES = {"working", "standby", "maintenance", "poweroff"}


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v):
    return (is_int(v) or isinstance(v, float)) and math.isfinite(v)


def json_body(h, body):
    if not h.headers.get("Content-Type", "").startswith("application/json"):
        raise mackerel_error(400, "Content-Type must be application/json")
    try:
        return json.loads(body)
    except ValueError:
        raise mackerel_error(400, "invalid JSON")


def check_points(items, keys):
    if not isinstance(items, list) or not items:
        raise mackerel_error(400, "the body must be a non-empty array of metric values")
    for i, it in enumerate(items):
        if not isinstance(it, dict) or set(it) != keys:
            raise mackerel_error(400, f"item {i}: keys must be exactly {sorted(keys)}")
        if not isinstance(it["name"], str) or not NAME.match(it["name"]) or len(it["name"]) > 255:
            raise mackerel_error(400, f"item {i}: invalid metric name {it['name']!r}")
        if not is_int(it["time"]):
            raise mackerel_error(400, f"item {i}: time must be an integer")
        if not is_number(it["value"]):
            raise mackerel_error(400, f"item {i}: value must be a finite number")


def store(table, owner, items):
    cutoff = time.time() - 24 * 3600
    for it in items:
        if it["time"] < cutoff:
            Mackerel.dropped += 1
            continue
        held = table.setdefault(owner, {}).setdefault(it["name"], {})
        key = str(it["time"])
        Mackerel.received["points"] += 1
        Mackerel.received["new" if key not in held else "same" if held[key] == it["value"] else "changed"] += 1
        held[key] = it["value"]


def host_view(h):
    return {k: v for k, v in h.items()}


# What mackerel-agent registers for an ordinary Linux host (about 3.6 KB as JSON): the meta of
# the stranger hosts --stranger-hosts adds to every full listing.
AGENT_META = json.dumps({
    "agent-name": "mackerel-agent/0.84.3 (Revision 1a2b3c4)", "agent-revision": "1a2b3c4", "agent-version": "0.84.3",
    "block_device": {d: {"removable": "0", "size": "209715200"} for d in ("nvme0n1", "nvme1n1", "loop0", "loop1")},
    "cpu": [{"cache_size": "36608 KB", "core_id": str(i), "cores": "4", "family": "6", "mhz": "2899.998",
             "model": "85", "model_name": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
             "physical_id": "0", "stepping": "7", "vendor_id": "GenuineIntel"} for i in range(8)],
    "filesystem": {f"/dev/nvme{i}n1p1": {"kb_available": 31457280, "kb_size": 52428800, "kb_used": 20971520,
                                         "mount": m, "percent_used": "40%", "type": "xfs"}
                   for i, m in enumerate(("/", "/data", "/var/log"))},
    "kernel": {"machine": "x86_64", "name": "Linux", "os": "GNU/Linux", "platform_name": "Amazon Linux",
               "platform_version": "2023", "release": "6.1.102-111.182.amzn2023.x86_64",
               "version": "#1 SMP PREEMPT_DYNAMIC Tue Jul 30 09:21:40 UTC 2026"},
    "memory": {"active": "1877124kB", "anon_pages": "1209432kB", "buffers": "2140kB", "cached": "2466832kB",
               "commit_limit": "4024884kB", "committed_as": "3612344kB", "dirty": "344kB", "free": "3172628kB",
               "inactive": "2227596kB", "mapped": "290528kB", "page_tables": "16524kB", "slab": "256140kB",
               "swap_cached": "0kB", "swap_free": "0kB", "swap_total": "0kB", "total": "8049768kB",
               "vmalloc_total": "34359738367kB", "writeback": "0kB"},
    "cloud": {"provider": "ec2", "metadata": {"ami-id": "ami-0abcdef1234567890", "availability-zone": "us-east-1a",
                                              "instance-type": "m6i.large", "local-hostname": "ip-10-0-0-1.ec2.internal",
                                              "local-ipv4": "10.0.0.1", "region": "us-east-1"}},
})


def host_list(strangers, hosts):
    """The body of a full listing: `strangers` agent hosts of someone else (made as they are
    sent, oldest first), then `hosts`, in chunks of about 256 KB."""
    yield b'{"hosts":['
    chunk = []
    for i in range(strangers):
        chunk.append(
            '{"id":"stranger%06d","name":"ip-10-%d-%d-%d.ec2.internal","displayName":"","status":"working",'
            '"memo":"","roles":{"web":["app"]},"roleFullnames":["web:app"],"isRetired":false,"retiredAt":null,'
            '"createdAt":%d,"interfaces":[{"name":"eth0","ipAddress":"10.%d.%d.%d"}],"meta":%s}'
            % (i, i >> 16, (i >> 8) & 255, i & 255, 1_600_000_000 + i, i >> 16, (i >> 8) & 255, i & 255, AGENT_META))
        if len(chunk) == 64:
            yield (",".join(chunk) + ("," if i + 1 < strangers or hosts else "")).encode()
            chunk = []
    if chunk:
        yield (",".join(chunk) + ("," if hosts else "")).encode()
    yield ",".join(json.dumps(h) for h in hosts).encode() + b"]}"


def check_host_body(data):
    if not isinstance(data, dict):
        raise mackerel_error(400, "the body must be an object")
    allowed = {"name", "displayName", "customIdentifier", "memo", "meta", "interfaces", "roleFullnames", "checks"}
    unknown = set(data) - allowed
    if unknown:
        raise mackerel_error(400, f"unknown keys {sorted(unknown)}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise mackerel_error(400, "name is required")
    if not isinstance(data.get("meta"), dict):
        raise mackerel_error(400, "meta is required")
    for k in ("displayName", "customIdentifier", "memo"):
        if k in data and not isinstance(data[k], str):
            raise mackerel_error(400, f"{k} must be a string")
    roles = data.get("roleFullnames", [])
    if not isinstance(roles, list):
        raise mackerel_error(400, "roleFullnames must be an array")
    for r in roles:
        if not isinstance(r, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]+:[A-Za-z0-9][A-Za-z0-9_-]+$", r):
            raise mackerel_error(400, f"invalid roleFullname {r!r}")
    if "interfaces" in data and not isinstance(data["interfaces"], list):
        raise mackerel_error(400, "interfaces must be an array")


def apply_host_body(host, data):
    # Like Mackerel: unknown services and roles are created; PUT keeps roles it does not name.
    roles = sorted(set(host.get("roleFullnames", [])) | set(data.get("roleFullnames", [])))
    grouped = {}
    for r in roles:
        s, role = r.split(":")
        grouped.setdefault(s, []).append(role)
        if s not in Mackerel.services:
            Mackerel.services.append(s)
    host.update({
        "name": data["name"], "displayName": data.get("displayName", ""),
        "customIdentifier": data.get("customIdentifier"), "memo": data.get("memo", ""),
        "meta": data["meta"], "interfaces": data.get("interfaces", []),
        "roleFullnames": roles, "roles": grouped,
    })


def new_host(fields=None):
    hid = "".join(random.choices(string.ascii_letters + string.digits, k=11))
    host = {"id": hid, "name": "", "displayName": "", "customIdentifier": None, "status": "working", "memo": "",
            "roles": {}, "roleFullnames": [], "meta": {}, "interfaces": [], "createdAt": int(time.time()),
            "isRetired": False, "retiredAt": None}
    host.update(fields or {})
    host["id"] = hid
    Mackerel.hosts[hid] = host
    return host


def live_host(hid):
    h = Mackerel.hosts.get(hid)
    if not h or h["isRetired"]:
        raise mackerel_error(404, "Host not found")
    return h


MONITOR_KEYS = {"type", "name", "memo", "service", "duration", "metric", "operator", "warning", "critical",
                "maxCheckAttempts", "missingDurationWarning", "missingDurationCritical", "notificationInterval",
                "isMute"}


def check_monitor(data):
    """A service metric monitor as Mackerel's API documents it (api-docs/entry/monitors); other
    monitor types are refused, since nothing here models them."""
    if not isinstance(data, dict):
        raise mackerel_error(400, "the body must be an object")
    if data.get("type") != "service":
        raise mackerel_error(400, f"monitor type {data.get('type')!r} is not supported by this fake")
    unknown = set(data) - MONITOR_KEYS
    if unknown:
        raise mackerel_error(400, f"unknown keys {sorted(unknown)}")
    if not isinstance(data.get("name"), str) or not data["name"]:
        raise mackerel_error(400, "name is required")
    if not isinstance(data.get("memo", ""), str) or len(data.get("memo", "")) > 2048:
        raise mackerel_error(400, "memo must be a string of at most 2048 characters")
    if data.get("service") not in Mackerel.services:
        raise mackerel_error(400, f"service {data.get('service')!r} is not registered")
    if not isinstance(data.get("metric"), str) or not data["metric"]:
        raise mackerel_error(400, "metric is required")
    if data.get("operator") not in (">", "<"):
        raise mackerel_error(400, "operator must be > or <")
    ranges = {"duration": (1, 10, True), "maxCheckAttempts": (1, 10, False)}
    for key, (low, high, required) in ranges.items():
        v = data.get(key)
        if v is None and not required:
            continue
        if not is_int(v) or not low <= v <= high:
            raise mackerel_error(400, f"{key} must be an integer from {low} to {high}")
    if not any(k in data for k in ("warning", "critical")):
        raise mackerel_error(400, "warning or critical is required")
    for key in ("warning", "critical"):
        if key in data and not is_number(data[key]):
            raise mackerel_error(400, f"{key} must be a number")
    for key in ("missingDurationWarning", "missingDurationCritical"):
        v = data.get(key)
        if v is not None and (not is_int(v) or v % 10 or not 10 <= v <= 7 * 24 * 60):
            raise mackerel_error(400, f"{key} must be a multiple of 10 minutes, at most a week")
    v = data.get("notificationInterval")
    if v is not None and (not is_int(v) or v < 10):
        raise mackerel_error(400, "notificationInterval must be 10 minutes or more")
    if not isinstance(data.get("isMute", False), bool):
        raise mackerel_error(400, "isMute must be a boolean")


GRAPH_NAME = re.compile(r"^custom\.[a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*$")
GRAPH_PART = re.compile(r"^([a-zA-Z0-9_-]+|\*|#)$")


def check_graph_def(d):
    """A graph definition as Mackerel's API documents it (api-docs/entry/host-metrics, "Create
    graph definitions"): "name" (required) a custom metric name beginning with custom.;
    "displayName" (optional) a string; "unit" (optional) one of Mackerel's units; "metrics"
    (required) objects of "name" (required), "displayName" (optional) and "isStacked"
    (required, a boolean), no other keys. A graph holds the metrics whose names are its own
    name and one more part (the docs: metrics whose names are the same up to the last dot are
    grouped into one graph), a part being a name or the wildcard * or #."""
    if not isinstance(d, dict) or set(d) - {"name", "displayName", "unit", "metrics"}:
        raise mackerel_error(400, f"invalid graph definition {d!r}")
    name = d.get("name")
    if not isinstance(name, str) or not GRAPH_NAME.match(name) or len(name) > 255:
        raise mackerel_error(400, f"invalid graph name {name!r}")
    if not isinstance(d.get("displayName", ""), str) or d.get("unit", "float") not in UNITS:
        raise mackerel_error(400, f"invalid displayName or unit in {name}")
    metrics = d.get("metrics")
    if not isinstance(metrics, list):
        raise mackerel_error(400, f"{name}: metrics must be an array")
    for x in metrics:
        if not isinstance(x, dict) or set(x) - {"name", "displayName", "isStacked"}:
            raise mackerel_error(400, f"{name}: invalid metric {x!r}")
        if not isinstance(x.get("isStacked"), bool) or not isinstance(x.get("displayName", ""), str):
            raise mackerel_error(400, f"{name}: isStacked (a boolean) is required, displayName is a string")
        m = x.get("name")
        if not isinstance(m, str) or not m.startswith(name + ".") or not GRAPH_PART.match(m[len(name) + 1:]):
            raise mackerel_error(400, f"{name}: metric {m!r} is not {name} and one more part")


def mackerel(h, path, query, body):
    parts = path.strip("/").split("/")
    is_tsdb = parts == ["api", "v0", "tsdb"] or (len(parts) == 5 and parts[:3] == ["api", "v0", "services"]
                                                 and parts[4] == "tsdb")
    if is_tsdb and len(body) > Mackerel.max_body:
        raise mackerel_error(413, "Request Entity Too Large")
    if h.headers.get("X-Api-Key") not in Mackerel.keys:
        raise mackerel_error(403, "Authentication failed. Please try again.")
    m, parts = h.command, path.strip("/").split("/")
    if parts[:2] != ["api", "v0"]:
        raise mackerel_error(404, "Not found")
    parts = parts[2:]
    with LOCK:
        if parts == ["services"] and m == "GET":
            return {"services": [{"name": s, "memo": "", "roles": []} for s in Mackerel.services]}
        if len(parts) == 3 and parts[0] == "services" and parts[2] == "tsdb":
            if m != "POST":
                raise mackerel_error(405, "Method not allowed")
            items = json_body(h, body)
            if parts[1] not in Mackerel.services:
                raise mackerel_error(404, "Service not found")
            check_points(items, {"name", "time", "value"})
            store(Mackerel.points, parts[1], items)
            return {"success": True}
        if parts == ["tsdb"]:
            if m != "POST":
                raise mackerel_error(405, "Method not allowed")
            items = json_body(h, body)
            check_points(items, {"hostId", "name", "time", "value"})
            for i, it in enumerate(items):
                if not it["name"].startswith("custom."):
                    raise mackerel_error(400, f"item {i}: host metric names must start with custom.")
                host = Mackerel.hosts.get(it["hostId"]) if isinstance(it["hostId"], str) else None
                if not host or host["isRetired"]:
                    raise mackerel_error(400, f"item {i}: host {it['hostId']!r} not found")
            for it in items:
                store(Mackerel.host_points, it["hostId"], [it])
            return {"success": True}
        if parts == ["hosts"] and m == "GET":
            statuses = query.get("status") or ["working", "standby"]
            out = [h2 for h2 in Mackerel.hosts.values() if not h2["isRetired"] and h2["status"] in statuses]
            for key in ("customIdentifier", "name"):
                if key in query:
                    out = [h2 for h2 in out if h2.get(key) == query[key][0]]
            if "service" in query:
                out = [h2 for h2 in out if query["service"][0] in h2["roles"]]
                if "role" in query:
                    out = [h2 for h2 in out if set(query["role"]) & set(h2["roles"][query["service"][0]])]
            out = [host_view(h2) for h2 in sorted(out, key=lambda x: x["createdAt"])]
            strangers = 0 if set(query) & {"customIdentifier", "name", "service"} or "working" not in statuses \
                else Mackerel.strangers
            if not strangers:
                return {"hosts": out}
            return Reply(200, stream=host_list(strangers, out))
        if parts == ["hosts"] and m == "POST":
            data = json_body(h, body)
            check_host_body(data)
            cid = data.get("customIdentifier")
            if Mackerel.unique_custom_identifier and cid and any(
                    x["customIdentifier"] == cid and (Mackerel.retired_keep_identifiers or not x["isRetired"])
                    for x in Mackerel.hosts.values()):
                raise mackerel_error(400, "customIdentifier already exists")
            host = new_host()
            apply_host_body(host, data)
            return {"id": host["id"]}
        if len(parts) == 2 and parts[0] == "hosts":
            host = Mackerel.hosts.get(parts[1])
            if not host:
                raise mackerel_error(404, "Host not found")
            if m == "GET":
                return {"host": host_view(host)}
            if m == "PUT":
                live_host(parts[1])
                data = json_body(h, body)
                check_host_body(data)
                apply_host_body(host, data)
                return {"id": host["id"]}
            raise mackerel_error(405, "Method not allowed")
        if len(parts) == 3 and parts[0] == "hosts" and m == "POST":
            host = live_host(parts[1])
            if parts[2] == "retire":
                host["isRetired"], host["retiredAt"] = True, int(time.time())
                return {"success": True}
            if parts[2] == "status":
                data = json_body(h, body)
                if not isinstance(data, dict) or data.get("status") not in HOST_STATUSES:
                    raise mackerel_error(400, "invalid status")
                host["status"] = data["status"]
                return {"success": True}
        if parts == ["graph-defs", "create"]:
            if m != "POST":
                raise mackerel_error(405, "Method not allowed")
            defs = json_body(h, body)
            if not isinstance(defs, list) or not defs:
                raise mackerel_error(400, "the body must be a non-empty array")
            for d in defs:
                check_graph_def(d)
            for d in defs:
                Mackerel.graph_defs[d["name"]] = d
            return {"success": True}
        if parts == ["monitors"] and m == "POST":
            data = json_body(h, body)
            check_monitor(data)
            monitor = dict(data, id="".join(random.choices(string.ascii_letters + string.digits, k=11)))
            Mackerel.monitors.append(monitor)
            return monitor
        if parts == ["monitors"] and m == "GET":
            return {"monitors": Mackerel.monitors}
    raise mackerel_error(404, "Not found")


def mackerel_state():
    with LOCK:
        return {"points": Mackerel.points, "host_points": Mackerel.host_points,
                "hosts": list(Mackerel.hosts.values()), "graph_defs": list(Mackerel.graph_defs.values()),
                "dropped": Mackerel.dropped, "received": dict(Mackerel.received),
                "monitors": Mackerel.monitors}


def mackerel_setup(data):
    with LOCK:
        Mackerel.strangers = data.get("strangers", Mackerel.strangers)
        return {"hosts": [new_host(h) for h in data.get("hosts", [])]}


# ------------------------------------------------------------------------------------------
# ecs

class Ecs:
    token = None
    paths = {}
    served = 0


def ecs(h, path, query, body):
    if h.command != "GET":
        raise Reply(405, {"code": "MethodNotAllowed", "message": "GET only"})
    if Ecs.token is not None and h.headers.get("Authorization") != Ecs.token:
        raise Reply(401, {"code": "Unauthorized", "message": "missing or wrong Authorization header"})
    with LOCK:
        creds = Ecs.paths.get(path)
        if creds is None:
            raise Reply(404, {"code": "NotFound", "message": f"no credentials at {path}"})
        Ecs.served += 1
        return dict(creds, RoleArn="arn:aws:iam::123456789012:role/test")


def ecs_setup(data):
    with LOCK:
        Ecs.paths[data["path"]] = data["credentials"]
    return {"ok": True}


# ------------------------------------------------------------------------------------------
# imds

class Imds:
    role, creds, region = None, None, "us-east-1"
    tokens = {}
    served = 0


def imds(h, path, query, body):
    if path == "/latest/api/token":
        if h.command != "PUT":
            raise Reply(405, raw=b"", ctype="text/plain")
        if h.headers.get("X-Forwarded-For"):
            raise Reply(403, raw=b"", ctype="text/plain")
        try:
            ttl = int(h.headers.get("X-aws-ec2-metadata-token-ttl-seconds", ""))
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= 21600:
            raise Reply(400, raw=b"", ctype="text/plain")
        token = uuid.uuid4().hex
        with LOCK:
            Imds.tokens[token] = time.time() + ttl
        return Reply(200, raw=token.encode(), ctype="text/plain",
                     headers={"X-aws-ec2-metadata-token-ttl-seconds": str(ttl)})
    if not path.startswith("/latest/meta-data/"):
        raise Reply(404, raw=b"", ctype="text/plain")
    if h.command != "GET":
        raise Reply(405, raw=b"", ctype="text/plain")
    with LOCK:
        expiry = Imds.tokens.get(h.headers.get("X-aws-ec2-metadata-token", ""))
    if not expiry or expiry < time.time():
        raise Reply(401, raw=b"", ctype="text/plain")
    base = "/latest/meta-data/iam/security-credentials/"
    if path == "/latest/meta-data/placement/region":
        return Reply(200, raw=Imds.region.encode(), ctype="text/plain")
    if path == base:
        if not Imds.role:
            raise Reply(404, raw=b"", ctype="text/plain")
        return Reply(200, raw=Imds.role.encode(), ctype="text/plain")
    if path.startswith(base) and path[len(base):] == Imds.role:
        with LOCK:
            Imds.served += 1
        return dict(Imds.creds, Code="Success", LastUpdated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    Type="AWS-HMAC")
    raise Reply(404, raw=b"", ctype="text/plain")


def imds_setup(data):
    with LOCK:
        Imds.role = data.get("role", Imds.role)
        Imds.creds = data.get("credentials", Imds.creds)
        Imds.region = data.get("region", Imds.region)
    return {"ok": True}


# ------------------------------------------------------------------------------------------
# lambda

class Lambda:
    cond = threading.Condition()
    pending = []   # [(id, payload, timeout_ms, the /_fake/invoke body)]
    open_ids = set()
    responses, errors, init_errors = {}, {}, []


def lambda_invoke(data):
    rid = data.get("request_id") or str(uuid.uuid4())
    with Lambda.cond:
        Lambda.pending.append((rid, data.get("payload", {}), data.get("timeout_ms", 60000), data))
        Lambda.cond.notify_all()
    return {"request_id": rid}


def lambda_wait(rid, timeout):
    deadline = time.time() + timeout
    with Lambda.cond:
        while rid not in Lambda.responses and rid not in Lambda.errors and time.time() < deadline:
            Lambda.cond.wait(0.05)
        return {"done": rid in Lambda.responses or rid in Lambda.errors}


def lambda_api(h, path, query, body):
    prefix = "/2018-06-01/runtime/"
    if not path.startswith(prefix):
        raise Reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
    # Path segments are percent-decoded, as a request ID sent escaped must be.
    rest = [unquote(p) for p in path[len(prefix):].split("/")]
    if rest == ["invocation", "next"] and h.command == "GET":
        with Lambda.cond:
            while not Lambda.pending:
                Lambda.cond.wait(0.1)
            rid, payload, timeout_ms, asked = Lambda.pending.pop(0)
            Lambda.open_ids.add(rid)
        raw = json.dumps(payload).encode()
        raw += b" " * max(0, asked.get("size", 0) - len(raw))
        headers = {
            "Lambda-Runtime-Aws-Request-Id": rid,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + timeout_ms),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:cw2mackerel",
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        }
        if asked.get("no_request_id"):
            del headers["Lambda-Runtime-Aws-Request-Id"]
        return Reply(200, raw=raw, headers=headers)
    if len(rest) == 3 and rest[0] == "invocation" and rest[2] in ("response", "error") and h.command == "POST":
        with Lambda.cond:
            if rest[1] not in Lambda.open_ids:
                raise Reply(400, {"errorMessage": "unknown or answered request id", "errorType": "InvalidRequestID"})
            Lambda.open_ids.discard(rest[1])
            text = body.decode("utf-8", "replace")
            if rest[2] == "response":
                Lambda.responses[rest[1]] = text
            else:
                Lambda.errors[rest[1]] = {"body": text, "type": h.headers.get("Lambda-Runtime-Function-Error-Type")}
            Lambda.cond.notify_all()
        return Reply(202, {"status": "OK"})
    if rest == ["init", "error"] and h.command == "POST":
        with Lambda.cond:
            Lambda.init_errors.append({"body": body.decode("utf-8", "replace"),
                                       "type": h.headers.get("Lambda-Runtime-Function-Error-Type")})
        return Reply(202, {"status": "OK"})
    raise Reply(404, {"errorMessage": "not found", "errorType": "NotFound"})


def lambda_state():
    with Lambda.cond:
        return {"pending": [p[0] for p in Lambda.pending], "responses": Lambda.responses,
                "errors": Lambda.errors, "init_errors": Lambda.init_errors}


# ------------------------------------------------------------------------------------------
# sts: AssumeRoleWithWebIdentity only

class Sts:
    token, role_arn, creds, served = None, None, None, 0


def sts_xml(code, message, status=400):
    return Reply(status, raw=(f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                              f"<Message>{message}</Message></Error></ErrorResponse>").encode(), ctype="text/xml")


def sts(h, path, query, body):
    if h.command != "POST" or path != "/":
        raise sts_xml("InvalidAction", "POST / only", 404)
    if not h.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        raise sts_xml("InvalidRequest", "form body expected")
    if h.headers.get("Authorization"):
        raise sts_xml("InvalidRequest", "AssumeRoleWithWebIdentity is not signed")
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    if form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15":
        raise sts_xml("InvalidAction", "only AssumeRoleWithWebIdentity, version 2011-06-15")
    name = form.get("RoleSessionName", "")
    if not re.match(r"^[\w+=,.@-]{2,64}$", name):
        raise sts_xml("ValidationError", "bad RoleSessionName")
    if form.get("RoleArn") != Sts.role_arn:
        raise sts_xml("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    if form.get("WebIdentityToken") != Sts.token:
        raise sts_xml("InvalidIdentityToken", "The web identity token is not valid")
    Sts.served += 1
    c = Sts.creds
    return Reply(200, ctype="text/xml", raw=(
        '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<AssumeRoleWithWebIdentityResult><Credentials>"
        f"<AccessKeyId>{c['AccessKeyId']}</AccessKeyId><SecretAccessKey>{c['SecretAccessKey']}</SecretAccessKey>"
        f"<SessionToken>{c['Token']}</SessionToken><Expiration>{c['Expiration']}</Expiration>"
        "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>").encode())


def sts_setup(data):
    Sts.token, Sts.role_arn, Sts.creds = data["token"], data["role_arn"], data["credentials"]
    return {"ok": True}


# ------------------------------------------------------------------------------------------
# proxy: an HTTP CONNECT proxy that tunnels to loopback only and records each tunnel


def proxy(h, path, query, body):
    raise Reply(405, {"message": "this proxy only tunnels: CONNECT host:port"})


def proxy_connect(h):
    target = h.path
    host, _, port = target.rpartition(":")
    record = {"method": "CONNECT", "path": target, "query": {}, "headers": {k.lower(): v for k, v in h.headers.items()},
              "body": "", "time": time.time(), "status": 0}
    with LOCK:
        REQUESTS.append(record)
    if host.strip("[]") not in ("127.0.0.1", "::1", "localhost") or not port.isdigit():
        record["status"] = 403
        h.send(403, b"", ctype="text/plain")
        return
    try:
        upstream = socket.create_connection((host.strip("[]"), int(port)))
    except OSError:
        record["status"] = 502
        h.send(502, b"", ctype="text/plain")
        return
    record["status"] = 200
    h.send_response(200, "Connection established")
    h.end_headers()
    h.wfile.flush()
    h.close_connection = True
    client = h.connection

    t = threading.Thread(target=wire.pipe, args=(upstream, client), daemon=True)
    t.start()
    wire.pipe(client, upstream)
    t.join()


# ------------------------------------------------------------------------------------------
# tls: a TLS front with a CA made at start, forwarding to a plain-http upstream


def make_ca_and_certificate(ca_out, directory):
    """Writes a new CA's certificate (PEM) to `ca_out`, and a server certificate for 127.0.0.1
    and localhost that it signed, with its key, into `directory`; returns their paths."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cw2mackerel test CA {uuid.uuid4()}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([
                  x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    with open(ca_out, "wb") as f:
        f.write(ca.public_bytes(pem))
    cert_path, key_path = os.path.join(directory, "server.pem"), os.path.join(directory, "server.key")
    with open(cert_path, "wb") as f:
        f.write(server.public_bytes(pem))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def tls_front(a):
    import ssl
    import tempfile
    if not a.upstream or not a.ca_out:
        sys.exit("tls needs --upstream HOST:PORT and --ca-out FILE")
    up_host, _, up_port = a.upstream.rpartition(":")
    if up_host not in ("127.0.0.1", "localhost"):
        sys.exit("--upstream must be on loopback")
    directory = tempfile.mkdtemp(prefix="cw2m-tls-")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*make_ca_and_certificate(a.ca_out, directory))
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    listener = socket.create_server((a.host, a.port), family=family)

    def serve(client):
        try:
            tls = context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            # The client refused the certificate (or left): nothing to forward.
            client.close()
            return
        try:
            upstream = socket.create_connection((up_host, int(up_port)))
        except OSError:
            tls.close()
            return
        t = threading.Thread(target=wire.pipe, args=(upstream, tls), daemon=True)
        t.start()
        wire.pipe(tls, upstream)
        t.join()

    print(json.dumps({"port": listener.getsockname()[1]}), flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


HANDLERS = {"mackerel": mackerel, "ecs": ecs, "imds": imds, "lambda": lambda_api, "sts": sts, "proxy": proxy,
            "tls": None}
STATE_GET = {"mackerel": mackerel_state, "ecs": lambda: {"paths": Ecs.paths, "served": Ecs.served},
             "imds": lambda: {"role": Imds.role, "credentials": Imds.creds, "region": Imds.region,
                              "tokens_issued": len(Imds.tokens), "served": Imds.served},
             "lambda": lambda_state, "sts": lambda: {"served": Sts.served}, "proxy": lambda: {}}
STATE_POST = {"mackerel": mackerel_setup, "ecs": ecs_setup, "imds": imds_setup, "lambda": lambda d: {"ok": True},
              "sts": sts_setup, "proxy": lambda d: {"ok": True}}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=sorted(HANDLERS))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-stdin", action="store_true", help="do not exit when stdin closes")
    p.add_argument("--latency", type=float, default=0.0,
                   help="seconds to wait before answering each request (not /_fake/*)")
    p.add_argument("--max-body", type=int, default=102400,
                   help="mackerel: bodies over this many bytes posted to a tsdb path get 413")
    p.add_argument("--apikey", action="append", default=[], help="mackerel: an accepted X-Api-Key")
    p.add_argument("--service", action="append", default=[], help="mackerel: a service that exists")
    p.add_argument("--unique-custom-identifier", action="store_true",
                   help="mackerel: refuse a second live host with the same customIdentifier")
    p.add_argument("--retired-keep-identifiers", action="store_true",
                   help="mackerel: with --unique-custom-identifier, a retired host's customIdentifier is taken too")
    p.add_argument("--stranger-hosts", type=int, default=0,
                   help="mackerel: every full host listing also holds this many agent hosts of someone else")
    p.add_argument("--host", default="127.0.0.1", help="the loopback address to bind: 127.0.0.1 or ::1")
    p.add_argument("--token", help="ecs: the Authorization header every request must carry")
    p.add_argument("--upstream", help="tls: the loopback HOST:PORT each connection is forwarded to")
    p.add_argument("--ca-out", help="tls: where to write the PEM of the CA that signed its certificate")
    a = p.parse_args()
    Mackerel.keys, Mackerel.services = set(a.apikey), list(a.service)
    Mackerel.unique_custom_identifier = a.unique_custom_identifier or a.retired_keep_identifiers
    Mackerel.retired_keep_identifiers = a.retired_keep_identifiers
    Mackerel.max_body = a.max_body
    Mackerel.strangers = a.stranger_hosts
    Handler.latency = max(0.0, a.latency)
    Ecs.token = a.token
    Handler.kind = a.kind
    if a.host not in ("127.0.0.1", "::1"):
        sys.exit("--host must be a loopback address")
    if not a.no_stdin:
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    if a.kind == "tls":
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        return tls_front(a)
    server_class = ThreadingHTTPServer
    if ":" in a.host:
        server_class = type("Server6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = server_class((a.host, a.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
