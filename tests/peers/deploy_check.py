#!/usr/bin/env python3
"""Checks the deploy kit (deploy/ and the README's Deploy section) the way a first-time user
would meet it, against botocore's service models and a moto server.

    python deploy_check.py shapes DEPLOY_DIR
    python deploy_check.py recipes --endpoint URL --access-key-id K --secret-access-key S PLAN.json

`shapes` validates every file given to `--cli-input-json` (and the other JSON the README hands
to the AWS CLI) against its operation's input shape with botocore's ParamValidator, as the CLI
does before it sends anything. Placeholders in capitals are strings, which is what they stand
for.

`recipes` runs README code blocks against moto, as the AWS CLI would run them: each `aws`
command is turned into its API call through botocore's model (the option `--role-name` is the
member `RoleName`, `file://` reads a file, `fileb://` its bytes, `--cli-input-json` the whole
input), plus the CLI's own commands the README uses (`cloudformation deploy`, `s3 mb`, `lambda
create-function --zip-file`). A line that is not an `aws` command (make, podman, sudo) is
reported as skipped, as are the few `aws` commands moto cannot stand in for (`ecr
get-login-password`, `logs tail`, `lambda invoke`: they log in, read logs or run the function).
PLAN.json is a list of recipes, each {"name", "region", "blocks": [[line, ...], ...],
"substitute": {"PLACEHOLDER": "value"}, "files": DIR}: one deploy path, run in a region of its
own, after which the IAM roles, instance profiles and policies it made are removed again (IAM
is global), so the next path starts from an account as empty as a new user's.

After each recipe it checks what a first launch needs, on what moto then holds: every role a
task definition, service, schedule, function or instance profile names exists and trusts the
right service; the execution role can read each secret; the log group exists (or the role may
create it); the schedule's role may start its target and pass its roles; the function's role
may read CloudWatch and the key. Permissions are judged by the roles' own policies (inline and
attached, AWS managed ones included), with wildcards; conditions are not evaluated. It prints
one JSON document: per recipe, the commands run and skipped, and the problems found.
"""
import argparse
import ast
import base64
import fnmatch
import hashlib
import json
import os
import re
import shlex
import sys
import tempfile
import zipfile

import boto3
import botocore.session
import jmespath
from botocore.config import Config
from botocore.validate import ParamValidator
from botocore import xform_name

# The JSON the README hands to the AWS CLI, and the operation that takes it.
CLI_INPUTS = {
    "ecs-task-definition.json": ("ecs", "RegisterTaskDefinition"),
    "ecs-service.json": ("ecs", "CreateService"),
    "ecs-scheduled-task.json": ("scheduler", "CreateSchedule"),
    "lambda-schedule.json": ("scheduler", "CreateSchedule"),
    "lambda-function.json": ("lambda", "CreateFunction"),
    "cloudwatch-metric-filter.json": ("logs", "PutMetricFilter"),
    "cloudwatch-alarm.json": ("cloudwatch", "PutMetricAlarm"),
}
# What the CLI adds to a --cli-input-json from its other options before validating.
CLI_EXTRAS = {"lambda-function.json": {"Code": {"ZipFile": b"PK"}}}
# `aws <name>` → botocore service name, where they differ.
SERVICES = {"s3api": "s3"}
SKIPPED_AWS = {("ecr", "get-login-password"), ("logs", "tail"), ("lambda", "invoke")}


def shapes(deploy_dir):
    session = botocore.session.get_session()
    problems, checked = [], []
    for name, (service, op) in sorted(CLI_INPUTS.items()):
        path = os.path.join(deploy_dir, name)
        with open(path) as f:
            params = json.load(f)
        params.update(CLI_EXTRAS.get(name, {}))
        shape = session.get_service_model(service).operation_model(op).input_shape
        report = ParamValidator().validate(params, shape)
        if report.has_errors():
            problems.append(f"deploy/{name} ({service} {op}): {report.generate_report()}")
        checked.append(name)
    print(json.dumps({"checked": checked, "problems": problems}))


class Failed(Exception):
    pass


class Aws:
    """The AWS CLI, as far as the README uses it, against one endpoint and region."""

    def __init__(self, a, region, files):
        self.a, self.region, self.files = a, region, files
        self.session = botocore.session.get_session()
        self.vars = {}
        self.deployed = {}

    def client(self, service, region=None):
        return boto3.client(
            service, endpoint_url=self.a.endpoint, region_name=region or self.region,
            aws_access_key_id=self.a.access_key_id, aws_secret_access_key=self.a.secret_access_key,
            config=Config(retries={"max_attempts": 1}))

    def path(self, p):
        return p if os.path.isabs(p) else os.path.join(self.files, p)

    def value(self, raw, shape):
        if raw.startswith("file://"):
            with open(self.path(raw[7:])) as f:
                raw = f.read()
        elif raw.startswith("fileb://"):
            with open(self.path(raw[8:]), "rb") as f:
                return f.read()
        kind = shape.type_name
        if kind in ("integer", "long"):
            return int(raw)
        if kind in ("double", "float"):
            return float(raw)
        if kind == "boolean":
            return raw.lower() == "true"
        if kind == "structure":
            if raw.lstrip().startswith("{"):
                return json.loads(raw)
            # The CLI's shorthand, flat: Key=Value,Key=Value
            return dict(kv.split("=", 1) for kv in raw.split(","))
        return raw

    def run(self, argv):
        """Runs `aws ARGV...` (without `aws`); returns the answer, or raises Failed."""
        service, command, args = argv[0], argv[1], argv[2:]
        opts, query, output = {}, None, "json"
        i = 0
        while i < len(args):
            name = args[i]
            if not name.startswith("--"):
                opts.setdefault("", []).append(name)
                i += 1
                continue
            values = []
            i += 1
            while i < len(args) and not args[i].startswith("--"):
                values.append(args[i])
                i += 1
            if name == "--region":
                self.region = values[0]
            elif name == "--query":
                query = values[0]
            elif name == "--output":
                output = values[0]
            else:
                opts[name[2:]] = values
        answer = self.call(service, command, opts)
        if query:
            answer = jmespath.search(query, answer)
        return str(answer) if output == "text" else answer

    def call(self, service, command, opts):
        if (service, command) == ("cloudformation", "deploy"):
            return self.cfn_deploy(opts)
        if (service, command) == ("s3", "mb"):
            return self.s3_mb(opts)
        if "" in opts:
            raise Failed(f"aws {service} {command}: unexpected arguments {opts['']}")
        name = SERVICES.get(service, service)
        model = self.session.get_service_model(name)
        ops = {xform_name(o, "-"): o for o in model.operation_names}
        if command not in ops:
            raise Failed(f"aws {service} {command}: no such operation")
        op = model.operation_model(ops[command])
        members = op.input_shape.members if op.input_shape else {}
        by_option = {xform_name(m, "-"): m for m in members}
        params = {}
        if "cli-input-json" in opts:
            params.update(json.loads(self.value(opts.pop("cli-input-json")[0], _String)))
        if "zip-file" in opts and service == "lambda" and command == "create-function":
            params["Code"] = {"ZipFile": self.value(opts.pop("zip-file")[0], _String)}
        for option, values in opts.items():
            member = by_option.get(option)
            if member is None:
                raise Failed(f"aws {service} {command}: unknown option --{option}")
            shape = members[member]
            if shape.type_name == "list":
                params[member] = [self.value(v, shape.member) for v in values]
            elif (service, command, option) == ("s3api", "put-object", "body"):
                with open(self.path(values[0]), "rb") as f:
                    params[member] = f.read()
            else:
                params[member] = self.value(values[0], shape)
        client = self.client(name)
        try:
            answer = getattr(client, xform_name(ops[command]))(**params)
        except Exception as e:  # botocore's validation and the service's refusals alike
            raise Failed(f"aws {service} {command}: {e}")
        answer.pop("ResponseMetadata", None)
        return answer

    def s3_mb(self, opts):
        """`aws s3 mb s3://BUCKET`: CreateBucket, with the location constraint the CLI adds
        outside us-east-1."""
        bucket = opts[""][0].removeprefix("s3://")
        kwargs = {"Bucket": bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            return self.client("s3").create_bucket(**kwargs)["Location"]
        except Exception as e:
            raise Failed(f"aws s3 mb: {e}")

    def cfn_deploy(self, opts):
        with open(self.path(opts["template-file"][0])) as f:
            body = f.read()
        params = [{"ParameterKey": k, "ParameterValue": v}
                  for k, v in (p.split("=", 1) for p in opts.get("parameter-overrides", []))]
        name = opts["stack-name"][0]
        cfn = self.client("cloudformation")
        kwargs = dict(StackName=name, TemplateBody=body, Parameters=params,
                      Capabilities=opts.get("capabilities", []))
        exists = any(s["StackName"] == name and s["StackStatus"] != "DELETE_COMPLETE"
                     for s in cfn.list_stacks()["StackSummaries"])
        if exists and self.deployed.get(name) == (body, params):
            # CloudFormation compares template and parameters; moto would update regardless.
            raise Failed(f"aws cloudformation deploy: no changes to deploy to stack {name}: "
                         f"the same template and parameters change nothing")
        self.deployed[name] = (body, params)
        try:
            (cfn.update_stack if exists else cfn.create_stack)(**kwargs)
        except Exception as e:
            raise Failed(f"aws cloudformation deploy: {e}")
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise Failed(f"stack {name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
        return {"StackId": stack["StackId"]}


class _String:
    type_name = "string"


def lines_of(block):
    """Shell lines with their continuations joined and comments dropped."""
    out, cur = [], ""
    for line in block:
        line = line.rstrip()
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        cur = re.sub(r"\s+#.*$", "", cur).strip()
        if cur and not cur.startswith("#"):
            out.append(cur)
        cur = ""
    return out


def expand(line, variables):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
                  lambda m: variables.get(m.group(1), m.group(0)), line)


def workdir(recipe):
    """A copy of the repository's deploy/ with the placeholders replaced, as the user replaces
    them, and a stand-in for `make lambda-zip`'s zip."""
    root = tempfile.mkdtemp(prefix="cw2m-deploy-")
    os.makedirs(os.path.join(root, "deploy"))
    src = os.path.join(recipe["files"], "deploy")
    for name in os.listdir(src):
        with open(os.path.join(src, name)) as f:
            text = f.read()
        for k, v in recipe.get("substitute", {}).items():
            text = re.sub(rf"\b{k}\b", v, text)
        with open(os.path.join(root, "deploy", name), "w") as f:
            f.write(text)
    os.makedirs(os.path.join(root, "target", "lambda"))
    with zipfile.ZipFile(os.path.join(root, "target", "lambda", "cw2mackerel-lambda.zip"), "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    return root


def run_lines(aws, recipe, lines, ran, skipped, problems):
    for line in lines:
        for k, v in recipe.get("substitute", {}).items():
            line = re.sub(rf"\b{k}\b", v, line)
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=\$\((aws .*)\)$", line)
        target, command = (m.group(1), m.group(2)) if m else (None, line)
        words = command.split()
        if words[0] != "aws" or "|" in command or tuple(words[1:3]) in SKIPPED_AWS:
            skipped.append(line)
            continue
        try:
            answer = aws.run(shlex.split(expand(command, aws.vars))[1:])
        except Failed as e:
            problems.append(f"{line}: {e}")
            continue
        if target:
            aws.vars[target] = str(answer)
        ran.append(line)


def network(a, recipe):
    """Replaces the values "create" of SUBNET_ID and SECURITY_GROUP_ID with a subnet and a
    security group made in the recipe's region (ECS checks that they exist)."""
    sub = recipe.get("substitute", {})
    if "create" not in (sub.get("SUBNET_ID"), sub.get("SECURITY_GROUP_ID")):
        return
    ec2 = Aws(a, recipe["region"], ".").client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    sub["SUBNET_ID"] = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sub["SECURITY_GROUP_ID"] = ec2.create_security_group(
        GroupName="cw2mackerel", Description="cw2mackerel", VpcId=vpc)["GroupId"]


def run_recipe(a, recipe):
    network(a, recipe)
    aws = Aws(a, recipe["region"], workdir(recipe))
    before = iam_names(aws.client("iam"))
    ran, skipped, problems = [], [], []
    for block in recipe["blocks"]:
        run_lines(aws, recipe, lines_of(block), ran, skipped, problems)
    if recipe.get("update"):
        # A new zip, deployed by the update lines, must become the function's code.
        zip_path = os.path.join(aws.files, "target", "lambda", "cw2mackerel-lambda.zip")
        with zipfile.ZipFile(zip_path, "w") as z:
            z.writestr("bootstrap", "#!/bin/sh\n# the next release\n")
        with open(zip_path, "rb") as f:
            want = base64.b64encode(hashlib.sha256(f.read()).digest()).decode()
        run_lines(aws, recipe, recipe["update"], ran, skipped, problems)
        for fn in aws.client("lambda").list_functions()["Functions"]:
            if fn["CodeSha256"] != want:
                problems.append(f"function {fn['FunctionName']}: the update left the old code in place")
    problems += first_launch_problems(aws)
    cleanup_iam(aws, before)
    return {"name": recipe["name"], "ran": ran, "skipped": skipped, "problems": problems}


# ------------------------------------------------------------------------------------------
# What a first launch needs, judged on what moto holds

def statements(iam, role):
    docs = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        docs.append(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
    for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        pol = iam.get_policy(PolicyArn=p["PolicyArn"])["Policy"]
        ver = iam.get_policy_version(PolicyArn=p["PolicyArn"], VersionId=pol["DefaultVersionId"])
        docs.append(ver["PolicyVersion"]["Document"])
    out = []
    for d in docs:
        d = document(d)
        st = d["Statement"]
        out += st if isinstance(st, list) else [st]
    return out


def document(d):
    """A policy document as moto gives it: an object, JSON text, or (for the policies a stack
    made) the text of a Python dict."""
    if not isinstance(d, str):
        return d
    try:
        return json.loads(d)
    except ValueError:
        return ast.literal_eval(d)


def listed(v):
    return v if isinstance(v, list) else [v]


def allows(iam, role, action, resource):
    for s in statements(iam, role):
        if s.get("Effect") != "Allow":
            continue
        if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listed(s.get("Action", []))) and \
                any(fnmatch.fnmatchcase(resource, r) for r in listed(s.get("Resource", []))):
            return True
    return False


def role_name(arn):
    return arn.rsplit("/", 1)[-1]


def trusting(iam, arn, service, problems, what):
    """The role's name when it exists and trusts `service`; None (and a problem) otherwise."""
    name = role_name(arn)
    try:
        doc = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    except Exception:
        problems.append(f"{what}: role {arn} does not exist")
        return None
    doc = document(doc)
    principals = [p for s in listed(doc["Statement"]) if s.get("Effect") == "Allow"
                  for p in listed(s.get("Principal", {}).get("Service", []))]
    if service not in principals:
        problems.append(f"{what}: role {name} does not trust {service} (it trusts {principals})")
    return name


def first_launch_problems(aws):
    iam, problems = aws.client("iam"), []
    account = "123456789012"
    ecs, logs, ssm = aws.client("ecs"), aws.client("logs"), aws.client("ssm")
    groups = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
    # moto leaves the roles out of a task definition a stack registers: take them from the stack.
    cfn = aws.client("cloudformation")
    stacks = {}
    for st in cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])["StackSummaries"]:
        stacks[st["StackName"]] = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in
                                   cfn.list_stack_resources(StackName=st["StackName"])["StackResourceSummaries"]}
    stack_roles = {}
    for res in stacks.values():
        if "TaskDefinition" in res:
            stack_roles[res["TaskDefinition"]] = {
                k: f"arn:aws:iam::{account}:role/{res[logical]}"
                for k, logical in (("executionRoleArn", "ExecutionRole"), ("taskRoleArn", "TaskRole"))}
    families = {}
    for arn in ecs.list_task_definitions()["taskDefinitionArns"]:
        td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        for k, v in stack_roles.get(arn, {}).items():
            td.setdefault(k, v)
        families[td["family"]] = td
        what = f"task definition {td['family']}"
        ex = trusting(iam, td.get("executionRoleArn", "arn:none/none"), "ecs-tasks.amazonaws.com", problems, what)
        task = trusting(iam, td.get("taskRoleArn", "arn:none/none"), "ecs-tasks.amazonaws.com", problems, what)
        if task and not allows(iam, task, "cloudwatch:GetMetricData", "*"):
            problems.append(f"{what}: task role {task} may not call cloudwatch:GetMetricData")
        for c in td["containerDefinitions"]:
            repo = c["image"].split("/", 1)[-1].split(":")[0]
            if ".dkr.ecr." in c["image"] and repo not in {
                    r["repositoryName"] for r in aws.client("ecr").describe_repositories()["repositories"]}:
                problems.append(f"{what}: no ECR repository {repo} to pull {c['image']} from")
            for s in c.get("secrets", []):
                param = s["valueFrom"].split(":parameter", 1)[-1]
                try:
                    ssm.get_parameter(Name=param)
                except Exception:
                    problems.append(f"{what}: secret {s['name']}: no SSM parameter {param}")
                if ex and not allows(iam, ex, "ssm:GetParameters", s["valueFrom"]):
                    problems.append(f"{what}: execution role {ex} may not ssm:GetParameters {s['valueFrom']}")
            lc = c.get("logConfiguration", {})
            if lc.get("logDriver") == "awslogs":
                group = lc["options"]["awslogs-group"]
                creates = lc["options"].get("awslogs-create-group") == "true"
                if group not in groups and not (creates and ex and allows(iam, ex, "logs:CreateLogGroup", "*")):
                    problems.append(f"{what}: log group {group} does not exist and the execution role "
                                    f"may not create it: the first task fails to start")
    clusters = set(ecs.list_clusters()["clusterArns"])
    for cluster in clusters:
        for sarn in ecs.list_services(cluster=cluster)["serviceArns"]:
            svc = ecs.describe_services(cluster=cluster, services=[sarn])["services"][0]
            family = svc["taskDefinition"].split("/")[-1].split(":")[0]
            if family not in families:
                problems.append(f"service {svc['serviceName']}: task definition {family} not registered")
    lam = aws.client("lambda")
    functions = {f["FunctionArn"]: f for f in lam.list_functions()["Functions"]}
    for f in functions.values():
        what = f"function {f['FunctionName']}"
        r = trusting(iam, f["Role"], "lambda.amazonaws.com", problems, what)
        if not r:
            continue
        group_arn = f"arn:aws:logs:{aws.region}:{account}:log-group:/aws/lambda/{f['FunctionName']}:log-stream:x"
        for action, resource in (("cloudwatch:GetMetricData", "*"), ("logs:PutLogEvents", group_arn)):
            if not allows(iam, r, action, resource):
                problems.append(f"{what}: role {r} may not {action} {resource}")
        param = f.get("Environment", {}).get("Variables", {}).get("MACKEREL_APIKEY_SSM")
        if param:
            parn = f"arn:aws:ssm:{aws.region}:{account}:parameter{param}"
            if not allows(iam, r, "ssm:GetParameter", parn):
                problems.append(f"{what}: role {r} may not ssm:GetParameter {parn}")
            try:
                ssm.get_parameter(Name=param)
            except Exception:
                problems.append(f"{what}: no SSM parameter {param}")
        group = f"/aws/lambda/{f['FunctionName']}"
        if group not in groups and not allows(iam, r, "logs:CreateLogGroup", "*"):
            problems.append(f"{what}: log group {group} does not exist and the role may not create it")
    sched = aws.client("scheduler")
    for s in sched.list_schedules()["Schedules"]:
        full = sched.get_schedule(Name=s["Name"], GroupName=s["GroupName"])
        t, what = full["Target"], f"schedule {s['Name']}"
        r = trusting(iam, t["RoleArn"], "scheduler.amazonaws.com", problems, what)
        if ":lambda:" in t["Arn"]:
            if t["Arn"] not in functions:
                problems.append(f"{what}: no function {t['Arn']}")
            if r and not allows(iam, r, "lambda:InvokeFunction", t["Arn"]):
                problems.append(f"{what}: role {r} may not lambda:InvokeFunction {t['Arn']}")
        else:
            if t["Arn"] not in clusters:
                problems.append(f"{what}: no cluster {t['Arn']}")
            tdarn = t["EcsParameters"]["TaskDefinitionArn"]
            family = tdarn.split("/")[-1].split(":")[0]
            td = families.get(family)
            if td is None:
                problems.append(f"{what}: task definition {family} not registered")
                continue
            full_arn = td["taskDefinitionArn"]
            if r and not allows(iam, r, "ecs:RunTask", full_arn):
                problems.append(f"{what}: role {r} may not ecs:RunTask {full_arn}")
            for key in ("executionRoleArn", "taskRoleArn"):
                if r and not allows(iam, r, "iam:PassRole", td[key]):
                    problems.append(f"{what}: role {r} may not iam:PassRole {td[key]}")
    # moto does not create AWS::Scheduler::Schedule: judge a stack's schedule role by what the
    # schedule would start, the stack's function or task definition.
    for name, res in stacks.items():
        if "SchedulerRole" not in res:
            continue
        r = res["SchedulerRole"]
        what = f"stack {name}: schedule role {r}"
        if "Function" in res:
            fn = lam.get_function(FunctionName=res["Function"])["Configuration"]
            if not allows(iam, r, "lambda:InvokeFunction", fn["FunctionArn"]):
                problems.append(f"{what} may not lambda:InvokeFunction {fn['FunctionArn']}")
        if "TaskDefinition" in res:
            td = families[res["TaskDefinition"].split("/")[-1].split(":")[0]]
            if not allows(iam, r, "ecs:RunTask", td["taskDefinitionArn"]):
                problems.append(f"{what} may not ecs:RunTask {td['taskDefinitionArn']}")
            for key in ("executionRoleArn", "taskRoleArn"):
                if not allows(iam, r, "iam:PassRole", td[key]):
                    problems.append(f"{what} may not iam:PassRole {td[key]}")
    for p in iam.list_instance_profiles()["InstanceProfiles"]:
        for role in p["Roles"]:
            what = f"instance profile {p['InstanceProfileName']}"
            r = trusting(iam, role["Arn"], "ec2.amazonaws.com", problems, what)
            if r and not allows(iam, r, "cloudwatch:GetMetricData", "*"):
                problems.append(f"{what}: role {r} may not call cloudwatch:GetMetricData")
    return problems


def iam_names(iam):
    return ({p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]},
            {r["RoleName"] for r in iam.list_roles()["Roles"]},
            {p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]})


def cleanup_iam(aws, before):
    """Removes the instance profiles, roles and customer policies made since `before`."""
    iam = aws.client("iam")
    profiles, roles, policies = (now - old for now, old in zip(iam_names(iam), before))
    for name in profiles:
        for r in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]:
            iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=r["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=name)
    for name in roles:
        for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=p)
        for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
        iam.delete_role(RoleName=name)
    for arn in policies:
        iam.delete_policy(PolicyArn=arn)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("shapes")
    s.add_argument("deploy_dir")
    r = sub.add_parser("recipes")
    r.add_argument("--endpoint", required=True)
    r.add_argument("--access-key-id", required=True)
    r.add_argument("--secret-access-key", required=True)
    r.add_argument("plan")
    a = p.parse_args()
    if a.cmd == "shapes":
        shapes(a.deploy_dir)
        return
    with open(a.plan) as f:
        plan = json.load(f)
    print(json.dumps([run_recipe(a, recipe) for recipe in plan]))


if __name__ == "__main__":
    sys.exit(main())
