#!/usr/bin/env python3
"""A fast, strict stand-in for the two AWS services cw2mackerel reads, for large N.

    python3 tests/peers/fake_aws.py [--distributions N] [--latency S] [--revise MINUTES]
                                    [--access-key-id AKID --secret-access-key SECRET]
                                    [--tag KEY=VALUE ...] [--tag-every K] [--clock-offset S]
                                    [--port N] [--no-stdin]
    python3 tests/peers/fake_aws.py --check-sigv4 fixtures/sigv4   # the signer against AWS's vectors

moto holds real datums and is far too slow past a few hundred distributions (seconds per
GetMetricData of 500 queries); this fake computes every value from (distribution, metric,
minute), so 5,000 distributions cost nothing to set up. Same conventions as fake.py: it binds
127.0.0.1, prints one line {"port": N} once listening, serves each request in its own (daemon)
thread, and exits when its stdin closes unless --no-stdin is given. Point AWS_ENDPOINT_URL at it.

CloudFront (REST XML, signed for `cloudfront` in us-east-1):
  GET /2020-05-31/distribution?MaxItems=M&Marker=X   ListDistributions (MaxItems default 100;
      the Marker is the ID of the last distribution of the previous page, as AWS does)
  GET /2020-05-31/tagging?Resource=ARN               ListTagsForResource (404 for an unknown ARN)
  The N synthetic distributions: ID "E" + 13 upper-case base-36 characters derived from the
  index, ARN arn:aws:cloudfront::123456789012:distribution/<ID>, DomainName
  d<id in lower case>.cloudfront.net, Deployed, enabled, one origin, no aliases, comment
  "bench <index>"; --tag KEY=VALUE (repeatable) tags every K-th one (--tag-every K, default 1).

CloudWatch (the query protocol: POST / with a form body, or GET /?…; signed for `monitoring`):
  GetMetricData      MetricStat queries only; at most 500 per call, Ids unique and starting with
                     a lower-case letter, Period 1, 5, 10, 20, 30 or a multiple of 60, StartTime <
                     EndTime; ScanBy honoured (AWS's default, TimestampDescending, without it);
                     MaxDatapoints (default 100,800) pages with NextToken as AWS does.
  GetMetricStatistics (what mackerel-plugin-aws-cloudfront calls; at most 1,440 datapoints)
  ListMetrics        Namespace / MetricName / Dimensions filters, pages of 500 with NextToken.
  For namespace AWS/CloudFront in us-east-1 with dimensions DistributionId=<known ID> and
  Region=Global, the six default metrics (Requests, BytesDownloaded, BytesUploaded, read with
  Sum; TotalErrorRate, 4xxErrorRate, 5xxErrorRate, with Average) have one datapoint per
  minute that has ended, its value a function of (index, metric, minute): see `settled()`.
  Any other series answers with no datapoints and StatusCode Complete. With --revise M, the
  values of the newest M minutes (by the wall clock) are still short of their settled value,
  as CloudWatch revises recent CloudFront minutes; 0 (the default) settles them at once.
  Errors have the query protocol's shape:
    <ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>…</Message>
    </Error><RequestId>…</RequestId></ErrorResponse>

Signatures: every AWS request needs X-Amz-Date (YYYYMMDDTHHMMSSZ) and an Authorization header
of the exact form `AWS4-HMAC-SHA256 Credential=<AKID>/<YYYYMMDD>/<region>/<service>/aws4_request,
SignedHeaders=<lower-case;sorted;list with host and x-amz-date>, Signature=<64 hex>`, with the
service and date right: otherwise 403 MissingAuthenticationToken (no Authorization),
IncompleteSignature (malformed) or SignatureDoesNotMatch (wrong scope or date). Given
--access-key-id and --secret-access-key, the key must be that one (else InvalidClientTokenId)
and the signature is verified as SigV4 computes it (else SignatureDoesNotMatch).
X-Amz-Date must be within 5 minutes of the fake's clock, as AWS requires, else 403
SignatureDoesNotMatch "Signature expired: <X-Amz-Date> is now earlier than <now - 5 min> (<now>
- 5 min.)" (or "Signature not yet current: … is still later than …"), the words CloudWatch and
CloudFront answer a skewed clock with. --clock-offset S runs the fake's clock S seconds ahead
of this machine's (behind when negative): its 5-minute window and the Date header of every
answer follow it (the data stays on this machine's time), so a client whose clock is off from
AWS's can be tried without changing its clock.

Every request is answered only after --latency seconds (default 0; the bench uses 0.03).

Control API (no auth, no latency):
  GET  /_fake/requests   every AWS request so far: method, path, query, headers, service, action,
                         queries (GetMetricData), body_length, body (only when under 4 KB),
                         time, elapsed_ms (arrival to answer, --latency included), status
  POST /_fake/reset      forget requests, queued faults and counters
  GET  /_fake/state      configuration, the first 1,000 distribution IDs ("ids") and counters:
                         calls per action, GetMetricData queries
                         and datapoints answered, errors per code
  POST /_fake/state      change {"distributions": N, "revise": M} while running
  POST /_fake/faults     queue faults as fake.py does: [{"path": regex, "method", "action",
                         "status", "body", "headers", "delay": s, "truncate": bool,
                         "close": bool, "count": n}]; "action" matches the CloudWatch Action or
                         the CloudFront operation; the default body is the service's error
                         shape (InternalFailure for 5xx, Throttling otherwise). A fault with
                         "answer" (and no "status") changes a GetMetricData answer the way
                         CloudWatch's own can go wrong: {"omit": [Id…]} leaves queries out,
                         {"partial": [Id…]} cuts their points in half with StatusCode
                         PartialData and no NextToken, {"messages": [{"Code", "Value"}]}
                         adds top-level Messages (MessageData in botocore's model, e.g.
                         MaxMetricsExceeded), {"edit": [{"id", "index", "value": "NaN",
                         "shift": s, "drop": bool}]} rewrites one point of a query.
"""
import argparse
import base64
import hashlib
import hmac
import json
import math
import os
import re
import signal
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote_plus

import wire

ACCOUNT = "123456789012"
CF_NS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"
CW_NS = "http://monitoring.amazonaws.com/doc/2010-08-01/"
CF_API = "/2020-05-31/"

# name: (statistic it is read with, unit, base, per-distribution step, per-minute step, decimals)
METRICS = {
    "Requests": ("Sum", "Count", 1000.0, 10.0, 1.0, 0),
    "BytesDownloaded": ("Sum", "Bytes", 1000000.0, 1000.0, 1.0, 0),
    "BytesUploaded": ("Sum", "Bytes", 10000.0, 10.0, 1.0, 0),
    "TotalErrorRate": ("Average", "Percent", 1.0, 0.01, 0.01, 4),
    "4xxErrorRate": ("Average", "Percent", 0.8, 0.01, 0.01, 4),
    "5xxErrorRate": ("Average", "Percent", 0.2, 0.01, 0.01, 4),
}
METRIC_ORDER = list(METRICS)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
EXTENDED = re.compile(r"^(p|tm|tc|ts|wm|PR|TM|TC|TS|IQM)(\d{1,2}(\.\d{1,10})?|100|\(.*\))?$")
QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/\s,]+)/(\d{8})/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request, "
                  r"SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), Signature=([0-9a-f]{64})$")
AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
MAX_QUERIES = 500
MAX_DATAPOINTS = 100800
PAGE_METRICS = 500
KEEP_BODY = 4096

LOCK = threading.Lock()
REQUESTS = []
FAULTS = []


class World:
    """The synthetic account. IDs and XML fragments are built once and cached."""
    n = 0
    ids, index = [], {}
    revise = 0
    latency = 0.0
    access_key_id = secret = None
    clock_offset = 0.0
    tags, tag_every = [], 1
    summaries = {}
    counters = {}


def make_id(i):
    # A bijection of the index onto 13 base-36 digits (the multiplier is prime to 36), so IDs
    # look like CloudFront's, never collide and are the same in every run.
    x = ((i + 1) * 0x9E3779B97F4A7C15) % 36 ** 13
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out = []
    for _ in range(13):
        x, r = divmod(x, 36)
        out.append(digits[r])
    return "E" + "".join(reversed(out))


def set_distributions(n):
    ids = [make_id(i) for i in range(n)]
    World.n, World.ids, World.index = n, ids, {d: i for i, d in enumerate(ids)}
    World.summaries = {}


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def arn(i):
    return f"arn:aws:cloudfront::{ACCOUNT}:distribution/{World.ids[i]}"


def tags_of(i):
    return World.tags if World.tags and i % World.tag_every == 0 else []


def summary_xml(i):
    cached = World.summaries.get(i)
    if cached is None:
        d = World.ids[i]
        cached = (
            f"<DistributionSummary><Id>{d}</Id><ARN>{arn(i)}</ARN><ETag>E{d[1:]}X</ETag><Status>Deployed</Status>"
            "<LastModifiedTime>2026-01-01T00:00:00.000Z</LastModifiedTime>"
            f"<DomainName>d{d[1:].lower()}.cloudfront.net</DomainName>"
            "<Aliases><Quantity>0</Quantity></Aliases>"
            "<Origins><Quantity>1</Quantity><Items><Origin><Id>origin-1</Id>"
            f"<DomainName>origin{i}.example.com</DomainName><OriginPath></OriginPath>"
            "<CustomHeaders><Quantity>0</Quantity></CustomHeaders>"
            "<CustomOriginConfig><HTTPPort>80</HTTPPort><HTTPSPort>443</HTTPSPort>"
            "<OriginProtocolPolicy>https-only</OriginProtocolPolicy><OriginSslProtocols><Quantity>1</Quantity>"
            "<Items><SslProtocol>TLSv1.2</SslProtocol></Items></OriginSslProtocols>"
            "<OriginReadTimeout>30</OriginReadTimeout><OriginKeepaliveTimeout>5</OriginKeepaliveTimeout>"
            "</CustomOriginConfig><ConnectionAttempts>3</ConnectionAttempts><ConnectionTimeout>10</ConnectionTimeout>"
            "<OriginShield><Enabled>false</Enabled></OriginShield><OriginAccessControlId></OriginAccessControlId>"
            "</Origin></Items></Origins><OriginGroups><Quantity>0</Quantity></OriginGroups>"
            "<DefaultCacheBehavior><TargetOriginId>origin-1</TargetOriginId>"
            "<TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners>"
            "<TrustedKeyGroups><Enabled>false</Enabled><Quantity>0</Quantity></TrustedKeyGroups>"
            "<ViewerProtocolPolicy>redirect-to-https</ViewerProtocolPolicy>"
            "<AllowedMethods><Quantity>2</Quantity><Items><Method>HEAD</Method><Method>GET</Method></Items>"
            "<CachedMethods><Quantity>2</Quantity><Items><Method>HEAD</Method><Method>GET</Method></Items>"
            "</CachedMethods></AllowedMethods><SmoothStreaming>false</SmoothStreaming><Compress>true</Compress>"
            "<LambdaFunctionAssociations><Quantity>0</Quantity></LambdaFunctionAssociations>"
            "<FunctionAssociations><Quantity>0</Quantity></FunctionAssociations>"
            "<FieldLevelEncryptionId></FieldLevelEncryptionId>"
            "<CachePolicyId>658327ea-f89d-4fab-a63d-7e88639e58f6</CachePolicyId></DefaultCacheBehavior>"
            "<CacheBehaviors><Quantity>0</Quantity></CacheBehaviors>"
            "<CustomErrorResponses><Quantity>0</Quantity></CustomErrorResponses>"
            f"<Comment>bench {i}</Comment><PriceClass>PriceClass_All</PriceClass><Enabled>true</Enabled>"
            "<ViewerCertificate><CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate>"
            "<SSLSupportMethod>vip</SSLSupportMethod><MinimumProtocolVersion>TLSv1</MinimumProtocolVersion>"
            "<CertificateSource>cloudfront</CertificateSource></ViewerCertificate>"
            "<Restrictions><GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity>"
            "</GeoRestriction></Restrictions><WebACLId></WebACLId><HttpVersion>http2</HttpVersion>"
            "<IsIPV6Enabled>true</IsIPV6Enabled><Staging>false</Staging></DistributionSummary>")
        World.summaries[i] = cached
    return cached


# ------------------------------------------------------------------------------------------
# values

def settled(i, metric, minute):
    """The final value of `metric` of distribution `i` for the minute starting at epoch
    `minute` (a multiple of 60): base + step × (i % 100) + step × (minute of the hour)."""
    _, _, base, per_dist, per_minute, decimals = METRICS[metric]
    v = base + per_dist * (i % 100) + per_minute * ((minute // 60) % 60)
    return round(v, decimals) if decimals else float(int(v))


def value(i, metric, minute, now_minute):
    """What CloudWatch says now: the settled value, or, for the newest --revise minutes, a
    value still short of it (90% for the newest, nearer 100% as the minute ages)."""
    v = settled(i, metric, minute)
    age = (now_minute - minute) // 60  # 1 for the newest minute that has ended
    if World.revise and age <= World.revise:
        v = v * (0.9 + 0.1 * (age - 1) / World.revise)
        decimals = METRICS[metric][5]
        v = round(v, decimals) if decimals else float(int(v))
    return v


_ISO = {}


def iso(t):
    s = _ISO.get(t)
    if s is None:
        s = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
        if len(_ISO) < 200000:
            _ISO[t] = s
    return s


def parse_time(s):
    try:
        d = datetime.fromisoformat(s.strip())
    except (ValueError, AttributeError):
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def series_points(i, metric, stat, start, end, period, now):
    """[(timestamp, value)] ascending for one known CloudFront series over [start, end)."""
    now_minute = int(now) // 60 * 60
    # Minutes with data have ended: they start before now_minute (and before end).
    last = min(math.ceil(end), now_minute)
    if period % 60 or period == 60:
        # One point per minute (a standard-resolution metric has no finer ones).
        first = math.ceil(start / 60) * 60
        if stat == "SampleCount":
            return [(m, 1.0) for m in range(first, last, 60)]
        return [(m, value(i, metric, m, now_minute)) for m in range(first, last, 60)]
    out = []
    t = math.ceil(start / period) * period
    while t < end:
        minutes = [m for m in range(t, t + period, 60) if start <= m < last]
        if minutes:
            out.append((t, aggregate([value(i, metric, m, now_minute) for m in minutes], stat)))
        t += period
    return out


def aggregate(vals, stat):
    if stat == "Sum":
        v = sum(vals)
    elif stat in ("Average",) or EXTENDED.match(stat):
        v = sum(vals) / len(vals)
    elif stat == "Minimum":
        v = min(vals)
    elif stat == "Maximum":
        v = max(vals)
    elif stat == "SampleCount":
        v = float(len(vals))
    else:
        v = sum(vals) / len(vals)
    return round(v, 6)


def known_series(region, namespace, metric, dims):
    """The distribution index of a known synthetic series, or None."""
    if region != "us-east-1" or namespace != "AWS/CloudFront" or metric not in METRICS:
        return None
    d = dict(dims)
    if len(d) != 2 or len(dims) != 2 or d.get("Region") != "Global":
        return None
    return World.index.get(d.get("DistributionId"))


# ------------------------------------------------------------------------------------------
# errors and signatures

class AwsError(Exception):
    def __init__(self, status, code, message, kind="Sender"):
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind


def error_xml(service, err, rid):
    ns = CF_NS if service == "cloudfront" else CW_NS
    head = '<?xml version="1.0"?>' if service == "cloudfront" else ""
    return (f'{head}<ErrorResponse xmlns="{ns}"><Error><Type>{err.kind}</Type><Code>{esc(err.code)}</Code>'
            f"<Message>{esc(err.message)}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()


def uri_encode(s):
    return quote(s, safe="-_.~")


def canonical_uri(raw_path):
    # Every service but S3: dot segments and repeated slashes normalized, each segment encoded
    # once more (the path on the wire is already encoded once), as aws-sigv4 and botocore do.
    segs = []
    for seg in raw_path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segs:
                segs.pop()
            continue
        segs.append(uri_encode(seg))
    out = "/" + "/".join(segs)
    if segs and raw_path.endswith("/"):
        out += "/"
    return out


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((uri_encode(unquote_plus(k)), uri_encode(unquote_plus(v))))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


_KEYS = {}


def signing_key(secret, date, region, service):
    key = (secret, date, region, service)
    k = _KEYS.get(key)
    if k is None:
        k = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
        for part in (region, service, "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        _KEYS[key] = k
    return k


def expected_signature(secret, method, raw_path, raw_query, headers, body, amz_date, scope, signed):
    """SigV4: `headers` is [(name, value)] as received; `signed` the SignedHeaders list."""
    values = {}
    for name, v in headers:
        values.setdefault(name.lower(), []).append(" ".join(v.strip().split()))
    canonical_headers = "".join(f"{h}:{','.join(values.get(h, []))}\n" for h in signed)
    payload = values.get("x-amz-content-sha256", [None])[0] or hashlib.sha256(body).hexdigest()
    creq = "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query), canonical_headers,
                      ";".join(signed), payload])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    return hmac.new(signing_key(secret, date, region, service), sts.encode(), hashlib.sha256).hexdigest()


def check_signature(service, method, raw_path, raw_query, headers, body):
    """Raises AwsError unless the request is signed in the right form (and, with a key pair
    configured, rightly). Returns the signing region."""
    hv = {}
    for name, v in headers:
        hv.setdefault(name.lower(), v)
    auth = hv.get("authorization")
    if auth is None:
        raise AwsError(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    amz_date = hv.get("x-amz-date")
    if amz_date is None or not AMZ_DATE.match(amz_date):
        raise AwsError(403, "IncompleteSignature", "Authorization header requires existence of a valid "
                       "'X-Amz-Date' header (YYYYMMDDTHHMMSSZ); got " + repr(amz_date))
    m = AUTH.match(auth)
    if not m:
        raise AwsError(403, "IncompleteSignature", "Authorization header must be 'AWS4-HMAC-SHA256 Credential=<key>/"
                       "<date>/<region>/<service>/aws4_request, SignedHeaders=<headers>, Signature=<64 hex>'; got "
                       + repr(auth[:120]))
    akid, date, region, svc, signed_s, signature = m.groups()
    signed = signed_s.split(";")
    if signed != sorted(set(signed)):
        raise AwsError(403, "IncompleteSignature", f"SignedHeaders must be lower-case, sorted and unique: {signed_s}")
    for need in ("host", "x-amz-date"):
        if need not in signed:
            raise AwsError(403, "IncompleteSignature", f"'{need}' must be a 'SignedHeader' in the AWS Authorization.")
    for h in signed:
        if h not in hv:
            raise AwsError(403, "SignatureDoesNotMatch", f"the signed header {h!r} is not in the request")
    want_service = "cloudfront" if service == "cloudfront" else "monitoring"
    if svc != want_service:
        raise AwsError(403, "SignatureDoesNotMatch",
                       f"Credential should be scoped to correct service: '{want_service}'.")
    if service == "cloudfront" and region != "us-east-1":
        raise AwsError(403, "SignatureDoesNotMatch",
                       f"Credential should be scoped to a valid region, not '{region}'; CloudFront signs as us-east-1.")
    if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d+$", region):
        raise AwsError(403, "SignatureDoesNotMatch", f"Credential should be scoped to a valid region, not '{region}'.")
    if date != amz_date[:8]:
        raise AwsError(403, "SignatureDoesNotMatch", f"Date in Credential scope does not match YYYYMMDD from "
                       f"ISO-8601 version of date from HTTP: '{date}' != '{amz_date[:8]}'")
    check_time(amz_date)
    if World.access_key_id is not None and akid != World.access_key_id:
        raise AwsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    if World.secret is not None:
        scope = f"{date}/{region}/{svc}/aws4_request"
        want = expected_signature(World.secret, method, raw_path, raw_query, headers, body, amz_date, scope, signed)
        if not hmac.compare_digest(want, signature):
            raise AwsError(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                           "signature you provided. Check your AWS Secret Access Key and signing method.")
    return region


def amz(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def check_time(amz_date):
    """AWS refuses a request signed more than 5 minutes from its own clock."""
    try:
        signed = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise AwsError(403, "IncompleteSignature", f"X-Amz-Date {amz_date!r} is not a date")
    now = time.time() + World.clock_offset
    if signed < now - 300:
        raise AwsError(403, "SignatureDoesNotMatch", f"Signature expired: {amz_date} is now earlier than "
                       f"{amz(now - 300)} ({amz(now)} - 5 min.)")
    if signed > now + 300:
        raise AwsError(403, "SignatureDoesNotMatch", f"Signature not yet current: {amz_date} is still later than "
                       f"{amz(now + 300)} ({amz(now)} + 5 min.)")


def check_vectors(directory):
    """Checks expected_signature() against the AWS SigV4 test suite (fixtures/sigv4)."""
    ok = bad = 0
    for case in sorted(Path(directory).iterdir()):
        if not case.is_dir():
            continue
        ctx = json.loads((case / "context.json").read_text())
        text = (case / "header-signed-request.txt").read_text()
        head, _, body = text.partition("\n\n")
        lines = head.split("\n")
        method, target, _ = lines[0].split(" ", 2) if lines[0].count(" ") >= 2 else (*lines[0].split(" "), "")
        headers = [tuple(l.split(":", 1)) for l in lines[1:] if ":" in l]
        raw_path, _, raw_query = target.partition("?")
        auth = next(v for k, v in headers if k.lower() == "authorization")
        m = AUTH.match(auth)
        amz_date = next(v for k, v in headers if k.lower() == "x-amz-date")
        akid, date, region, svc, signed_s, signature = m.groups()
        got = expected_signature(ctx["credentials"]["secret_access_key"], method, raw_path, raw_query,
                                 [h for h in headers if h[0].lower() != "authorization"], body.encode(), amz_date,
                                 f"{date}/{region}/{svc}/aws4_request", signed_s.split(";"))
        if got == signature:
            ok += 1
        else:
            bad += 1
            print(f"FAIL {case.name}: {got} != {signature}", file=sys.stderr)
    print(json.dumps({"passed": ok, "failed": bad}))
    return bad == 0 and ok > 0


# ------------------------------------------------------------------------------------------
# CloudFront

def cloudfront(h, raw_path, query):
    if h.command != "GET":
        raise AwsError(405, "MethodNotAllowed", f"{h.command} is not allowed here")
    if raw_path == CF_API + "distribution":
        return "ListDistributions", list_distributions(query)
    if raw_path == CF_API + "tagging":
        return "ListTagsForResource", list_tags(query)
    raise AwsError(404, "UnknownOperationException", f"no operation at {raw_path}")


def list_distributions(query):
    raw = query.get("MaxItems", "100")
    if not re.match(r"^\d+$", raw) or int(raw) < 1:
        raise AwsError(400, "InvalidArgument", f"MaxItems must be a positive integer, not {raw!r}")
    limit = int(raw)
    marker = query.get("Marker", "")
    start = 0
    if marker:
        if marker not in World.index:
            raise AwsError(400, "InvalidArgument", f"The marker {marker!r} is not valid.")
        start = World.index[marker] + 1
    page = range(start, min(World.n, start + limit))
    truncated = start + limit < World.n
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><DistributionList xmlns="{CF_NS}">'
             f"<Marker>{esc(marker)}</Marker>"]
    if truncated:
        parts.append(f"<NextMarker>{World.ids[page[-1]]}</NextMarker>")
    parts.append(f"<MaxItems>{limit}</MaxItems><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
                 f"<Quantity>{len(page)}</Quantity>")
    if len(page):
        parts.append("<Items>")
        parts.extend(summary_xml(i) for i in page)
        parts.append("</Items>")
    parts.append("</DistributionList>")
    return "".join(parts)


def list_tags(query):
    resource = query.get("Resource")
    if not resource:
        raise AwsError(400, "InvalidArgument", "The Resource parameter is required.")
    m = re.match(rf"^arn:aws:cloudfront::{ACCOUNT}:distribution/([A-Z0-9]+)$", resource)
    if not m:
        raise AwsError(400, "InvalidArgument", f"{resource!r} is not a valid distribution ARN.")
    i = World.index.get(m.group(1))
    if i is None:
        raise AwsError(404, "NoSuchResource", "The specified distribution does not exist.")
    tags = tags_of(i)
    items = "".join(f"<Tag><Key>{esc(k)}</Key><Value>{esc(v)}</Value></Tag>" for k, v in tags)
    return f'<?xml version="1.0" encoding="UTF-8"?><Tags xmlns="{CF_NS}"><Items>{items}</Items></Tags>'


# ------------------------------------------------------------------------------------------
# CloudWatch

def members(form, prefix):
    """{index: {rest: value}} of the fields `prefix.member.N.rest` (or `prefix.member.N`)."""
    out = {}
    p = prefix + ".member."
    for k, v in form.items():
        if k.startswith(p):
            num, _, rest = k[len(p):].partition(".")
            if not num.isdigit() or int(num) < 1:
                raise AwsError(400, "ValidationError", f"bad member index in {k!r}")
            out.setdefault(int(num), {})[rest] = v
    return out


def dimensions(fields, prefix):
    dims = members(fields, prefix) if prefix else {}
    out = []
    for n in sorted(dims):
        d = dims[n]
        if "Name" not in d:
            raise AwsError(400, "ValidationError", f"dimension {n} has no Name")
        out.append((d["Name"], d.get("Value")))
    if len(out) > 30:
        raise AwsError(400, "ValidationError", "at most 30 dimensions")
    return out


def check_period(raw, where):
    if raw is None or not re.match(r"^\d+$", raw) or int(raw) < 1:
        raise AwsError(400, "ValidationError", f"{where}: Period must be a positive integer, not {raw!r}")
    p = int(raw)
    # The model (botocore cloudwatch service-2.json, Period): 1, 5, 10, 20, 30, 60, or any
    # multiple of 60.
    if p not in (1, 5, 10, 20, 30) and p % 60:
        raise AwsError(400, "ValidationError",
                       f"{where}: The parameter Period must be 1, 5, 10, 20, 30 or a multiple of 60.")
    return p


def window(form):
    for k in ("StartTime", "EndTime"):
        if k not in form:
            raise AwsError(400, "MissingParameter", f"The parameter {k} is required.")
    start, end = parse_time(form["StartTime"]), parse_time(form["EndTime"])
    if start is None or end is None:
        raise AwsError(400, "InvalidParameterValue", "StartTime and EndTime must be ISO 8601 times.")
    if start >= end:
        raise AwsError(400, "ValidationError", "The parameter StartTime must be less than the parameter EndTime.")
    return start, end


def edit_points(pts, edits):
    """Applies a fault's edits to one query's points: {"index": k} picks the k-th point of the
    answer, then "drop": true leaves it out, "shift": s moves its timestamp by s seconds and
    "value": "NaN" writes that text as its value."""
    pts = list(pts)
    for e in edits:
        k = e["index"]
        if k < len(pts):
            t, v = pts[k]
            pts[k] = None if e.get("drop") else (t + e.get("shift", 0), e.get("value", v))
    return [p for p in pts if p is not None]


def get_metric_data(form, region, now, answer=None):
    queries = members(form, "MetricDataQueries")
    if not queries:
        raise AwsError(400, "MissingParameter", "The parameter MetricDataQueries is required.")
    if len(queries) > MAX_QUERIES:
        raise AwsError(400, "ValidationError",
                       f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    if sorted(queries) != list(range(1, len(queries) + 1)):
        raise AwsError(400, "ValidationError", "MetricDataQueries members must be numbered 1, 2, 3, …")
    start, end = window(form)
    scan = form.get("ScanBy", "TimestampDescending")
    if scan not in ("TimestampAscending", "TimestampDescending"):
        raise AwsError(400, "ValidationError", f"ScanBy must be TimestampAscending or TimestampDescending, not {scan!r}")
    max_points = form.get("MaxDatapoints", str(MAX_DATAPOINTS))
    if not re.match(r"^\d+$", max_points) or int(max_points) < 1:
        raise AwsError(400, "ValidationError", "MaxDatapoints must be a positive integer")
    max_points = int(max_points)
    parsed, seen = [], set()
    for n in range(1, len(queries) + 1):
        q = queries[n]
        qid = q.get("Id")
        if qid is None:
            raise AwsError(400, "MissingParameter", f"MetricDataQueries.member.{n}.Id is required.")
        if not QUERY_ID.match(qid) or len(qid) > 255:
            raise AwsError(400, "ValidationError", f"Invalid metric data query id {qid!r}: an Id must start with a "
                           "lower-case letter and hold only letters, digits and underscores.")
        if qid in seen:
            raise AwsError(400, "ValidationError", f"The values for parameter id in MetricDataQueries are not unique: {qid}")
        seen.add(qid)
        if "Expression" in q:
            raise AwsError(400, "ValidationError", "fake_aws: Expression queries are not implemented")
        where = f"MetricDataQueries.member.{n}"
        for f in ("MetricStat.Metric.Namespace", "MetricStat.Metric.MetricName", "MetricStat.Stat"):
            if not q.get(f):
                raise AwsError(400, "ValidationError", f"{where}: {f} is required with MetricStat.")
        period = check_period(q.get("MetricStat.Period"), where)
        stat = q["MetricStat.Stat"]
        if stat not in STATISTICS and not EXTENDED.match(stat):
            raise AwsError(400, "ValidationError", f"{where}: invalid statistic {stat!r}")
        if q.get("ReturnData", "true") not in ("true", "false"):
            raise AwsError(400, "ValidationError", f"{where}: ReturnData must be true or false")
        dims = dimensions(q, "MetricStat.Metric.Dimensions")
        parsed.append((qid, q.get("Label") or q["MetricStat.Metric.MetricName"], q["MetricStat.Metric.Namespace"],
                       q["MetricStat.Metric.MetricName"], dims, period, stat, q.get("ReturnData", "true") == "true"))
    # Paging: the token says which query and which point of it the page starts at.
    first_q, first_p = 0, 0
    fingerprint = hashlib.sha256(f"{form['StartTime']}|{form['EndTime']}|{scan}|{sorted(seen)}".encode()).hexdigest()[:16]
    if "NextToken" in form:
        try:
            fq, fp, fpr = base64.urlsafe_b64decode(form["NextToken"].encode()).decode().split(":")
            first_q, first_p = int(fq), int(fp)
            assert fpr == fingerprint
        except Exception:
            raise AwsError(400, "InvalidNextToken", "The NextToken is not valid for this request.")
    budget = max_points
    answer = answer or {}
    omit, partial = set(answer.get("omit", [])), set(answer.get("partial", []))
    edits = {}
    for e in answer.get("edit", []):
        edits.setdefault(e["id"], []).append(e)
    out = [f'<GetMetricDataResponse xmlns="{CW_NS}"><GetMetricDataResult><MetricDataResults>']
    next_token = None
    answered = points_total = 0
    descending = scan == "TimestampDescending"
    for qn, (qid, label, namespace, metric, dims, period, stat, ret) in enumerate(parsed):
        if qn < first_q or not ret or qid in omit:
            continue
        i = known_series(region, namespace, metric, dims)
        pts = series_points(i, metric, stat, start, end, period, now) if i is not None else []
        if descending:
            pts.reverse()
        if qn == first_q:
            pts = pts[first_p:]
        status = "Complete"
        if len(pts) > budget:
            next_token = base64.urlsafe_b64encode(
                f"{qn}:{(first_p if qn == first_q else 0) + budget}:{fingerprint}".encode()).decode()
            pts = pts[:budget]
            status = "PartialData"
        budget -= len(pts)
        if qid in partial:
            # More data than this answer holds, and no NextToken to fetch it with.
            pts, status = pts[:len(pts) // 2], "PartialData"
        pts = edit_points(pts, edits.get(qid, []))
        answered += 1
        points_total += len(pts)
        out.append(f"<member><Id>{qid}</Id><Label>{esc(label)}</Label><Timestamps>")
        out.append("".join(f"<member>{iso(t)}</member>" for t, _ in pts))
        out.append("</Timestamps><Values>")
        out.append("".join(f"<member>{v if isinstance(v, str) else repr(v)}</member>" for _, v in pts))
        out.append(f"</Values><StatusCode>{status}</StatusCode></member>")
        if next_token:
            break
    out.append("</MetricDataResults>")
    if next_token:
        out.append(f"<NextToken>{next_token}</NextToken>")
    messages = "".join(f"<member><Code>{esc(m['Code'])}</Code><Value>{esc(m['Value'])}</Value></member>"
                       for m in answer.get("messages", []))
    out.append(f"<Messages>{messages}</Messages></GetMetricDataResult>" if messages else "<Messages/></GetMetricDataResult>")
    with LOCK:
        World.counters["GetMetricData.queries"] = World.counters.get("GetMetricData.queries", 0) + len(parsed)
        World.counters["GetMetricData.datapoints"] = World.counters.get("GetMetricData.datapoints", 0) + points_total
    return out, len(parsed)


def get_metric_statistics(form, region, now):
    for f in ("Namespace", "MetricName", "Period"):
        if not form.get(f):
            raise AwsError(400, "MissingParameter", f"The parameter {f} is required.")
    period = check_period(form["Period"], "GetMetricStatistics")
    start, end = window(form)
    stats = [v[""] for _, v in sorted(members(form, "Statistics").items())]
    extended = [v[""] for _, v in sorted(members(form, "ExtendedStatistics").items())]
    if bool(stats) == bool(extended):
        raise AwsError(400, "InvalidParameterCombination",
                       "Exactly one of the parameters Statistics or ExtendedStatistics must be given.")
    if len(stats) > 5 or len(extended) > 10:
        raise AwsError(400, "InvalidParameterValue", "Too many statistics.")
    for s in stats:
        if s not in STATISTICS:
            raise AwsError(400, "InvalidParameterValue", f"The parameter Statistics.member has an invalid value {s!r}")
    for s in extended:
        if not EXTENDED.match(s):
            raise AwsError(400, "InvalidParameterValue", f"invalid extended statistic {s!r}")
    wanted = (end - start) / period
    if wanted > 1440:
        raise AwsError(400, "InvalidParameterCombination",
                       f"You have requested up to {int(wanted)} datapoints, which exceeds the limit of 1440.")
    metric = form["MetricName"]
    dims = dimensions(form, "Dimensions")
    i = known_series(region, form["Namespace"], metric, dims)
    rows = {}
    if i is not None:
        for s in stats + extended:
            for t, v in series_points(i, metric, s, start, end, period, now):
                rows.setdefault(t, []).append((s, v))
    unit = METRICS[metric][1] if i is not None else "None"
    out = [f'<GetMetricStatisticsResponse xmlns="{CW_NS}"><GetMetricStatisticsResult><Label>{esc(metric)}</Label>'
           "<Datapoints>"]
    for t in sorted(rows):
        out.append(f"<member><Timestamp>{iso(t)}</Timestamp>")
        ext = [(s, v) for s, v in rows[t] if s not in STATISTICS]
        out.extend(f"<{s}>{v!r}</{s}>" for s, v in rows[t] if s in STATISTICS)
        if ext:
            out.append("<ExtendedStatistics>" + "".join(
                f"<entry><key>{esc(s)}</key><value>{v!r}</value></entry>" for s, v in ext) + "</ExtendedStatistics>")
        out.append(f"<Unit>{unit}</Unit></member>")
    out.append("</Datapoints></GetMetricStatisticsResult>")
    return out, 1


def list_metrics(form, region, now):
    rec = form.get("RecentlyActive")
    if rec is not None and rec != "PT3H":
        raise AwsError(400, "InvalidParameterValue", "RecentlyActive must be PT3H.")
    namespace, metric = form.get("Namespace"), form.get("MetricName")
    filters = dimensions(form, "Dimensions")
    fingerprint = hashlib.sha256(f"{region}|{namespace}|{metric}|{filters}".encode()).hexdigest()[:16]
    offset = 0
    if "NextToken" in form:
        try:
            off, fpr = base64.urlsafe_b64decode(form["NextToken"].encode()).decode().split(":")
            offset = int(off)
            assert fpr == fingerprint
        except Exception:
            raise AwsError(400, "InvalidNextToken", "The NextToken is not valid for this request.")
    names = [m for m in METRIC_ORDER if metric in (None, m)]
    if region != "us-east-1" or namespace not in (None, "AWS/CloudFront"):
        names = []
    dist_filter = None
    for name, v in filters:
        if name == "DistributionId":
            dist_filter = v
        elif name == "Region":
            if v not in (None, "Global"):
                names = []
        else:
            names = []
    if dist_filter is not None:
        idx = [World.index[dist_filter]] if dist_filter in World.index else []
    else:
        idx = range(World.n)
    total = len(idx) * len(names)
    page = range(offset, min(total, offset + PAGE_METRICS))
    out = [f'<ListMetricsResponse xmlns="{CW_NS}"><ListMetricsResult><Metrics>']
    for k in page:
        i, m = idx[k // len(names)], names[k % len(names)]
        out.append(f"<member><Namespace>AWS/CloudFront</Namespace><MetricName>{m}</MetricName><Dimensions>"
                   f"<member><Name>DistributionId</Name><Value>{World.ids[i]}</Value></member>"
                   "<member><Name>Region</Name><Value>Global</Value></member></Dimensions></member>")
    out.append("</Metrics>")
    if offset + PAGE_METRICS < total:
        token = base64.urlsafe_b64encode(f"{offset + PAGE_METRICS}:{fingerprint}".encode()).decode()
        out.append(f"<NextToken>{token}</NextToken>")
    out.append("</ListMetricsResult>")
    return out, 0


CW_ACTIONS = {"GetMetricData": get_metric_data, "GetMetricStatistics": get_metric_statistics,
              "ListMetrics": list_metrics}


def cloudwatch(h, form, region):
    action = form.get("Action")
    if not action:
        raise AwsError(400, "MissingAction", "The request must contain the parameter Action.")
    version = form.get("Version")
    if version != "2010-08-01" or action not in CW_ACTIONS:
        raise AwsError(400, "InvalidAction", f"Could not find operation {action} for version "
                       f"{version or 'NO_VERSION_SPECIFIED'}")
    rid = h.request_id
    if action == "GetMetricData":
        parts, nq = get_metric_data(form, region, time.time(), answer=h.answer)
    else:
        parts, nq = CW_ACTIONS[action](form, region, time.time())
    parts.append(f"<ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{action}Response>")
    return "".join(parts), nq


# ------------------------------------------------------------------------------------------
# HTTP

class Handler(wire.Handler):
    content_type = "text/xml"

    def date_time_string(self, timestamp=None):
        # The Date header of every answer, on the fake's clock.
        return super().date_time_string(time.time() + World.clock_offset if timestamp is None else timestamp)

    def handle_any(self):
        raw_path, _, raw_query = self.path.partition("?")
        body = self.read_body()
        if raw_path.startswith("/_fake/"):
            return self.control(raw_path, body)
        self.request_id = str(uuid.uuid4())
        headers = list(self.headers.items())
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        service = "cloudfront" if raw_path.startswith(CF_API) else "cloudwatch"
        form = {}
        if service == "cloudwatch":
            if self.command == "POST" and self.headers.get("Content-Type", "").startswith(
                    "application/x-www-form-urlencoded"):
                form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                                      max_num_fields=100000))
            form.update(query if self.command in ("GET", "POST") else {})
            action = form.get("Action", "")
        else:
            action = {CF_API + "distribution": "ListDistributions",
                      CF_API + "tagging": "ListTagsForResource"}.get(raw_path, "")
        record = {"method": self.command, "path": raw_path,
                  "query": {k: v for k, v in query.items()},
                  "headers": {k.lower(): v for k, v in headers}, "service": service, "action": action,
                  "body_length": len(body), "time": time.time(), "status": 0}
        if len(body) < KEEP_BODY:
            record["body"] = body.decode("utf-8", "replace")
        with LOCK:
            REQUESTS.append(record)
            fault = wire.take_fault(FAULTS, raw_path, method=self.command, action=action)
        if self.wait_or_close(fault, World.latency):
            return
        # A fault with "answer" changes what GetMetricData says instead of replacing it.
        self.answer = fault.get("answer") if fault else None
        if fault and "status" in fault:
            st = fault["status"]
            raw = fault["body"].encode() if "body" in fault else error_xml(
                service, AwsError(st, "InternalFailure" if st >= 500 else "Throttling", "injected fault",
                                  "Receiver" if st >= 500 else "Sender"), self.request_id)
            record["status"] = st
            record["elapsed_ms"] = (time.time() - record["time"]) * 1000
            self.count(action or "unknown", error="injected")
            return self.send(st, raw, dict(fault.get("headers") or {}, **{"x-amzn-RequestId": self.request_id}),
                             truncate=fault.get("truncate", False))
        try:
            region = check_signature(service, self.command, raw_path, raw_query, headers, body)
            if service == "cloudfront":
                action, xml = cloudfront(self, raw_path, query)
                nq = 0
            else:
                if raw_path != "/":
                    raise AwsError(404, "UnknownOperationException", f"no operation at {raw_path}")
                xml, nq = cloudwatch(self, form, region)
            if nq:
                record["queries"] = nq
            status, out = 200, xml.encode()
            self.count(action)
        except AwsError as e:
            status, out = e.status, error_xml(service, e, self.request_id)
            self.count(action or "unknown", error=e.code)
        record["status"] = status
        truncate = bool(fault and fault.get("truncate"))
        if truncate:
            record["status"] = 0
        record["elapsed_ms"] = (time.time() - record["time"]) * 1000
        self.send(status, out, {"x-amzn-RequestId": self.request_id}, truncate=truncate)

    def count(self, action, error=None):
        with LOCK:
            c = World.counters
            c.setdefault("calls", {})
            c["calls"][action] = c["calls"].get(action, 0) + 1
            if error:
                c.setdefault("errors", {})
                c["errors"][error] = c["errors"].get(error, 0) + 1

    def control(self, path, body):
        data = json.loads(body) if body.strip() else None
        if path == "/_fake/requests":
            with LOCK:
                out = list(REQUESTS)
        elif path == "/_fake/reset":
            with LOCK:
                REQUESTS.clear()
                FAULTS.clear()
                World.counters = {}
            out = {"ok": True}
        elif path == "/_fake/faults":
            with LOCK:
                for f in data or []:
                    f.setdefault("count", 1)
                    FAULTS.append(f)
            out = {"ok": True}
        elif path == "/_fake/state" and self.command == "GET":
            with LOCK:
                out = {"distributions": World.n, "revise": World.revise, "latency": World.latency,
                       "calls": dict(World.counters.get("calls", {})),
                       "errors": dict(World.counters.get("errors", {})),
                       "ids": World.ids[:1000],
                       "queries": World.counters.get("GetMetricData.queries", 0),
                       "datapoints": World.counters.get("GetMetricData.datapoints", 0)}
        elif path == "/_fake/state":
            data = data or {}
            with LOCK:
                if "distributions" in data:
                    set_distributions(int(data["distributions"]))
                if "revise" in data:
                    World.revise = int(data["revise"])
            out = {"ok": True}
        else:
            return self.send(404, b'{"error":"no such control path"}', ctype="application/json")
        self.send(200, json.dumps(out).encode(), ctype="application/json")

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-stdin", action="store_true", help="do not exit when stdin closes")
    p.add_argument("--distributions", type=int, default=1, help="how many synthetic distributions")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before answering each AWS request")
    p.add_argument("--revise", type=int, default=0, help="the newest MINUTES minutes are not settled yet")
    p.add_argument("--access-key-id", help="the only access key accepted")
    p.add_argument("--secret-access-key", help="its secret: verify every signature")
    p.add_argument("--tag", action="append", default=[], help="KEY=VALUE on the tagged distributions")
    p.add_argument("--tag-every", type=int, default=1, help="tag distributions whose index is a multiple of K")
    p.add_argument("--clock-offset", type=float, default=0.0,
                   help="seconds the fake's clock runs ahead of this machine's (its Date and signing window)")
    p.add_argument("--check-sigv4", metavar="DIR", help="check the signer against AWS's test vectors and exit")
    a = p.parse_args()
    if a.check_sigv4:
        sys.exit(0 if check_vectors(a.check_sigv4) else 1)
    if (a.access_key_id is None) != (a.secret_access_key is None) and a.secret_access_key is not None:
        p.error("--secret-access-key needs --access-key-id")
    set_distributions(max(0, a.distributions))
    World.latency, World.revise = max(0.0, a.latency), max(0, a.revise)
    World.access_key_id, World.secret = a.access_key_id, a.secret_access_key
    World.clock_offset = a.clock_offset
    World.tags = [tuple(t.split("=", 1)) for t in a.tag]
    World.tag_every = max(1, a.tag_every)
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if not a.no_stdin:
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
