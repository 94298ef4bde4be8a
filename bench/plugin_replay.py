#!/usr/bin/env python3
"""Replays one minute of the setup cw2mackerel replaces, against the same servers.

The pattern, from the public description of mackerel-plugin-aws-cloudfront and mackerel-agent:
the agent runs the plugin once a minute per distribution (`-identifier=<id>`); each run asks
CloudWatch GetMetricStatistics once per metric (Requests, BytesDownloaded, BytesUploaded:
Sum; TotalErrorRate, 4xxErrorRate, 5xxErrorRate: Average) for the last few minutes at a
60-second period and keeps the newest datapoint, stamped with the current time; the agent
then posts that distribution's values as host metrics, one POST /api/v0/tsdb per
distribution per minute. So one minute costs 6 GetMetricStatistics calls and 1 post per
distribution. (The real plugin is a Go binary started by the agent; this replay runs the
same requests from one Python process with botocore, so its CPU time and memory are not the
plugin's; the call counts and bytes are.)

    plugin_replay.py --aws URL --mackerel URL --apikey KEY --hosts HOSTS.json IDS.json

HOSTS.json maps distribution id to Mackerel host id (registered beforehand, as the agent
does once). Prints {"aws_calls", "mackerel_calls", "datapoints"} as JSON.
"""
import argparse
import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import boto3
from botocore.config import Config

METRICS = [("Requests", "Sum"), ("BytesDownloaded", "Sum"), ("BytesUploaded", "Sum"),
           ("TotalErrorRate", "Average"), ("4xxErrorRate", "Average"), ("5xxErrorRate", "Average")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--aws", required=True)
    p.add_argument("--mackerel", required=True)
    p.add_argument("--apikey", required=True)
    p.add_argument("--hosts", required=True)
    p.add_argument("ids")
    a = p.parse_args()
    ids = json.load(open(a.ids))
    hosts = json.load(open(a.hosts))
    cw = boto3.client("cloudwatch", endpoint_url=a.aws, region_name="us-east-1",
                      config=Config(retries={"max_attempts": 1}))
    now = datetime.now(timezone.utc)
    aws_calls = mackerel_calls = datapoints = 0
    for dist in ids:
        values = []
        for name, stat in METRICS:
            r = cw.get_metric_statistics(
                Namespace="AWS/CloudFront", MetricName=name, Statistics=[stat], Period=60,
                StartTime=now - timedelta(minutes=5), EndTime=now,
                Dimensions=[{"Name": "DistributionId", "Value": dist}, {"Name": "Region", "Value": "Global"}])
            aws_calls += 1
            points = sorted(r["Datapoints"], key=lambda d: d["Timestamp"])
            if points:
                values.append({"hostId": hosts[dist], "name": f"custom.cloudfront.{name}",
                               "time": int(time.time()), "value": points[-1][stat]})
        if values:
            req = urllib.request.Request(f"{a.mackerel}/api/v0/tsdb", data=json.dumps(values).encode(),
                                         headers={"X-Api-Key": a.apikey, "Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
            mackerel_calls += 1
            datapoints += len(values)
    print(json.dumps({"aws_calls": aws_calls, "mackerel_calls": mackerel_calls, "datapoints": datapoints}))


if __name__ == "__main__":
    main()
