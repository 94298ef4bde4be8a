#!/usr/bin/env python3
"""Sets up and seeds a moto server for cw2mackerel's tests and benchmarks, with boto3.

    python moto_seed.py --endpoint http://127.0.0.1:PORT COMMAND [options]

moto runs with INITIAL_NO_AUTH_ACTION_COUNT=3: `bootstrap` spends exactly those three
unauthenticated actions creating an admin user and key; everything after is signed and checked
by moto like AWS would. Every command prints one JSON document on stdout.

  bootstrap                 admin, reader (only what cw2mackerel needs), nocloudfront users; a role
  assume-role               STS AssumeRole → {AccessKeyId, SecretAccessKey, Token, Expiration}
  distributions             CreateDistributionWithTags, N of them
  metrics                   PutMetricData into AWS/CloudFront, one datum per minute
  ssm-put                   PutParameter as a SecureString
  ec2-instances             RunInstances with tags (resources the Tagging API finds)
"""
import argparse
import json
import sys
import time
import uuid
from datetime import datetime, timezone

import boto3
from botocore.config import Config

DEFAULT_METRICS = {"Requests": 10.0, "BytesDownloaded": 1000.0, "BytesUploaded": 100.0,
                   "TotalErrorRate": 1.5, "4xxErrorRate": 1.0, "5xxErrorRate": 0.5}

# moto names IAM actions by signing name (monitoring:*); AWS by service prefix (cloudwatch:*).
READER_ACTIONS = ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "monitoring:GetMetricData",
                  "monitoring:ListMetrics", "cloudfront:ListDistributions", "cloudfront:ListTagsForResource",
                  "ssm:GetParameter", "kms:Decrypt", "tag:GetResources", "tagging:GetResources",
                  "sts:AssumeRole"]
CLOUDWATCH_ONLY = ["cloudwatch:GetMetricData", "monitoring:GetMetricData"]


def client(a, service, key=None, secret=None, token=None):
    return boto3.client(
        service, endpoint_url=a.endpoint, region_name=a.region,
        aws_access_key_id=key or getattr(a, "access_key_id", None) or "bootstrap",
        aws_secret_access_key=secret or getattr(a, "secret_access_key", None) or "bootstrap",
        aws_session_token=token,
        # botocore gzips large PutMetricData bodies; moto cannot check the signature of those.
        config=Config(retries={"max_attempts": 1}, disable_request_compression=True),
    )


def policy(actions):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


def user_with_key(iam, name, actions):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=policy(actions))
    k = iam.create_access_key(UserName=name)["AccessKey"]
    return {"access_key_id": k["AccessKeyId"], "secret_access_key": k["SecretAccessKey"]}


def bootstrap(a):
    iam = client(a, "iam")
    # The three unauthenticated actions.
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="admin", PolicyDocument=policy("*"))
    k = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = {"access_key_id": k["AccessKeyId"], "secret_access_key": k["SecretAccessKey"]}
    iam = client(a, "iam", admin["access_key_id"], admin["secret_access_key"])
    out = {"admin": admin,
           "reader": user_with_key(iam, "reader", READER_ACTIONS),
           "nocloudfront": user_with_key(iam, "nocloudfront", CLOUDWATCH_ONLY)}
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"Federated": "*"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    role = iam.create_role(RoleName="cw2mackerel", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName="cw2mackerel", PolicyName="reader", PolicyDocument=policy(READER_ACTIONS))
    out["role_arn"] = role["Arn"]
    return out


def iso(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def assume_role(a):
    sts = client(a, "sts")
    c = sts.assume_role(RoleArn=a.role_arn, RoleSessionName="test", DurationSeconds=a.duration)["Credentials"]
    return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
            "Token": c["SessionToken"], "Expiration": iso(c["Expiration"])}


def distributions(a):
    cf = client(a, "cloudfront")
    tags = [{"Key": k, "Value": v} for k, v in (t.split("=", 1) for t in a.tag)]
    out = []
    for i in range(a.count):
        aliases = [al if a.count == 1 else al.replace(".", f"{i + 1}.", 1) for al in a.alias]
        config = {
            "CallerReference": str(uuid.uuid4()),
            "Comment": a.comment,
            "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{
                "Id": "origin", "DomainName": "origin.example.com",
                "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "origin", "ViewerProtocolPolicy": "redirect-to-https",
                                     "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"},
        }
        if aliases:
            config["Aliases"] = {"Quantity": len(aliases), "Items": aliases}
        d = cf.create_distribution_with_tags(
            DistributionConfigWithTags={"DistributionConfig": config, "Tags": {"Items": tags}})["Distribution"]
        out.append({"id": d["Id"], "arn": d["ARN"], "domain": d["DomainName"], "aliases": aliases,
                    "comment": a.comment, "status": d["Status"]})
    return out


def metrics(a):
    cw = client(a, "cloudwatch")
    values = dict(DEFAULT_METRICS)
    if a.metric:
        values = {k: float(v) for k, v in (m.split("=", 1) for m in a.metric)}
    datums = []
    if a.ids:
        series = [[{"Name": "DistributionId", "Value": d}, {"Name": "Region", "Value": "Global"}]
                  for d in a.ids.split(",")]
    else:
        series = [[{"Name": k, "Value": v} for k, v in [e.split("=", 1)]] for e in a.each] or [[]]
    for dims in series:
        dims = dims + [{"Name": k, "Value": v} for k, v in (d.split("=", 1) for d in a.dimension)]
        for minute in range(a.minutes):
            ts = datetime.fromtimestamp(a.start + 60 * minute, timezone.utc)
            for name, value in values.items():
                datums.append({"MetricName": name, "Timestamp": ts,
                               "Value": value + (minute if a.value_from_minute else 0),
                               "Dimensions": dims})
    calls = 0
    for i in range(0, len(datums), 1000):
        cw.put_metric_data(Namespace=a.namespace, MetricData=datums[i:i + 1000])
        calls += 1
    return {"datums": len(datums), "calls": calls}


def ec2_instances(a):
    ec2 = client(a, "ec2")
    tags = [{"Key": k, "Value": v} for k, v in (t.split("=", 1) for t in a.tag)]
    spec = [{"ResourceType": "instance", "Tags": tags}] if tags else []
    r = ec2.run_instances(ImageId="ami-12c6146b", MinCount=a.count, MaxCount=a.count, InstanceType="t3.micro",
                          TagSpecifications=spec)
    return [i["InstanceId"] for i in r["Instances"]]


def ssm_put(a):
    ssm = client(a, "ssm")
    ssm.put_parameter(Name=a.name, Value=a.value, Type="SecureString", Overwrite=True)
    p = ssm.get_parameter(Name=a.name)["Parameter"]
    return {"name": p["Name"], "arn": p["ARN"], "version": p["Version"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="us-east-1")
    sub = p.add_subparsers(dest="command", required=True)

    def signed(name, fn):
        s = sub.add_parser(name)
        s.add_argument("--access-key-id", required=True)
        s.add_argument("--secret-access-key", required=True)
        s.set_defaults(fn=fn)
        return s

    sub.add_parser("bootstrap").set_defaults(fn=bootstrap)
    s = signed("assume-role", assume_role)
    s.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/cw2mackerel")
    s.add_argument("--duration", type=int, default=900)
    s = signed("distributions", distributions)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--tag", action="append", default=[])
    s.add_argument("--alias", action="append", default=[])
    s.add_argument("--comment", default="")
    s = signed("metrics", metrics)
    s.add_argument("--ids", default="", help="distribution IDs (dimensions DistributionId, Region=Global)")
    s.add_argument("--dimension", action="append", default=[], help="Name=Value, added to every datum")
    s.add_argument("--each", action="append", default=[], help="Name=Value: one series each (without --ids)")
    s.add_argument("--start", type=int, required=True)
    s.add_argument("--minutes", type=int, default=10)
    s.add_argument("--metric", action="append", default=[], help="NAME=VALUE; default: the six default metrics")
    s.add_argument("--value-from-minute", action="store_true", help="add the minute index to each value")
    s.add_argument("--namespace", default="AWS/CloudFront")
    s = signed("ec2-instances", ec2_instances)
    s.add_argument("--count", type=int, default=1)
    s.add_argument("--tag", action="append", default=[])
    s = signed("ssm-put", ssm_put)
    s.add_argument("--name", required=True)
    s.add_argument("--value", required=True)
    a = p.parse_args()
    json.dump(a.fn(a), sys.stdout)
    print()


if __name__ == "__main__":
    main()
