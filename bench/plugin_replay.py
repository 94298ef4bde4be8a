#!/usr/bin/env python3
"""Replays one minute of the setup cw2mackerel replaces, against the same servers.

The pattern: mackerel-agent runs mackerel-plugin-aws-cloudfront once a minute for each
distribution (`-identifier=<id>`, one [plugin.metrics.*] entry each), all plugin runs of the
minute at once. Each run asks CloudWatch GetMetricStatistics once per metric (Requests,
BytesDownloaded, BytesUploaded: Sum; TotalErrorRate, 4xxErrorRate, 5xxErrorRate: Average) for
the last 3 minutes at a 60-second period, one request after the other, and keeps the oldest
datapoint (the plugin's "least recently datapoint, because a most recently datapoint is not
stable"). The agent stamps every value with the time of the minute's collection and posts the
values of every plugin of the minute together, in ONE POST /api/v0/tsdb for its host
(mackerel-agent command/command.go: one PostMetricsValues per collection, no chunking). So one
minute costs 6 GetMetricStatistics per distribution and 1 Mackerel call in all, whatever N.

The plugin's metric names have no per-distribution part (`custom.cloudfront.Requests.Requests`),
so N distributions on one host would overwrite each other; the replay names them as a
per-entry prefix would, `custom.cloudfront-<ID>.<graph>.<metric>`, to post 6N distinct values.

The requests are sent the way the plugin's Go SDK sends them (the query protocol, SigV4 signed
with botocore's signer), over one keep-alive connection per worker thread, with --parallel
plugin runs at a time (the agent starts them all at once; a Python process cannot hold
thousands of threads). The real plugin is a Go binary started by the agent per distribution,
so the CPU time and memory of this Python process are not the plugin's; its calls, bytes and
wall time are the pattern's.

    plugin_replay.py --aws URL --mackerel URL --apikey KEY --host HOST_ID [--parallel P] IDS.json

AWS credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY. Prints one JSON object:
aws_calls, aws_errors, mackerel_calls, datapoints, post_status, post_body_bytes, wall_s, aws_wall_s.
"""
import argparse
import http.client
import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

METRICS = [("Requests", "Sum", "Requests"), ("BytesDownloaded", "Sum", "Transfer"),
           ("BytesUploaded", "Sum", "Transfer"), ("TotalErrorRate", "Average", "ErrorRate"),
           ("4xxErrorRate", "Average", "ErrorRate"), ("5xxErrorRate", "Average", "ErrorRate")]
POINT = re.compile(r"<member><Timestamp>([^<]+)</Timestamp>.*?<(Sum|Average)>([^<]+)</\2>.*?</member>", re.S)


class Worker(threading.local):
    conn = None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--aws", required=True)
    p.add_argument("--mackerel", required=True)
    p.add_argument("--apikey", required=True)
    p.add_argument("--host", required=True, help="the agent's Mackerel host id")
    p.add_argument("--parallel", type=int, default=64, help="plugin runs at a time")
    p.add_argument("ids")
    a = p.parse_args()
    ids = json.load(open(a.ids))
    creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                        os.environ.get("AWS_SESSION_TOKEN"))
    aws = urlsplit(a.aws)
    local = Worker()
    counts = {"calls": 0, "errors": 0}
    lock = threading.Lock()
    collected = int(time.time()) // 60 * 60  # the agent's minute tick

    def call(form):
        req = AWSRequest(method="POST", url=f"{a.aws}/", data=urlencode(form),
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(creds, "monitoring", "us-east-1").add_auth(req)
        if local.conn is None:
            local.conn = http.client.HTTPConnection(aws.hostname, aws.port, timeout=60)
            local.conn.connect()
            local.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = req.body.encode() if isinstance(req.body, str) else req.body
        local.conn.request("POST", "/", body=body, headers=dict(req.headers))
        resp = local.conn.getresponse()
        body = resp.read().decode()
        with lock:
            counts["calls"] += 1
            counts["errors"] += resp.status != 200
        return body if resp.status == 200 else ""

    def plugin_run(dist):
        now = datetime.now(timezone.utc)
        values = []
        for name, stat, graph in METRICS:
            body = call({"Action": "GetMetricStatistics", "Version": "2010-08-01", "Namespace": "AWS/CloudFront",
                         "MetricName": name, "Statistics.member.1": stat, "Period": "60",
                         "StartTime": (now - timedelta(seconds=180)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "EndTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "Dimensions.member.1.Name": "DistributionId", "Dimensions.member.1.Value": dist,
                         "Dimensions.member.2.Name": "Region", "Dimensions.member.2.Value": "Global"})
            points = sorted(POINT.findall(body))
            if points:
                values.append({"hostId": a.host, "name": f"custom.cloudfront-{dist}.{graph}.{name}",
                               "time": collected, "value": float(points[0][2])})
        return values

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(a.parallel, len(ids) or 1))) as pool:
        values = [v for vs in pool.map(plugin_run, ids) for v in vs]
    aws_wall = time.perf_counter() - t0
    body = json.dumps(values).encode()
    status = None
    mackerel_calls = 0
    if values:
        req = urllib.request.Request(f"{a.mackerel}/api/v0/tsdb", data=body,
                                     headers={"X-Api-Key": a.apikey, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        mackerel_calls = 1
    print(json.dumps({"aws_calls": counts["calls"], "aws_errors": counts["errors"], "mackerel_calls": mackerel_calls,
                      "datapoints": len(values), "post_status": status, "post_body_bytes": len(body),
                      "wall_s": time.perf_counter() - t0, "aws_wall_s": aws_wall}))


if __name__ == "__main__":
    main()
