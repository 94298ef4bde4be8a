//! The deployment kit in `deploy/` agrees with the binary: every file parses, is referenced
//! from the README, names only settings the binary knows, runs the commands the binary has,
//! and the Lambda zip holds an executable `bootstrap`.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn deploy(name: &str) -> String {
    std::fs::read_to_string(root().join("deploy").join(name))
        .unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

fn json(name: &str) -> Value {
    serde_json::from_str(&deploy(name)).unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

#[test]
fn every_setting_of_the_binary_is_in_the_readme() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let help = run(cw2mackerel().arg("--help")).stdout;
    let settings: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| {
            w.starts_with("CW2MACKEREL_")
                || w.starts_with("MACKEREL_")
                || (w.starts_with("--") && w.len() > 3)
        })
        .collect();
    assert!(settings.len() > 30, "{settings:?}");
    for s in settings {
        assert!(
            readme.contains(&format!("`{s}")),
            "README.md does not document {s}"
        );
    }
}

/// The command that uses each file of `deploy/`, as the README must show it: a line of one of
/// the README's shell blocks that names the file and starts with this command.
const FILE_COMMANDS: &[(&str, &str)] = &[
    ("cloudformation.yaml", "aws cloudformation deploy"),
    ("cloudwatch-alarm.json", "aws cloudwatch put-metric-alarm"),
    (
        "cloudwatch-metric-filter.json",
        "aws logs put-metric-filter",
    ),
    ("cw2mackerel.cron", "sudo install"),
    ("cw2mackerel.service", "sudo install"),
    ("cw2mackerel.timer", "sudo install"),
    ("ecs-execution-policy.json", "aws iam put-role-policy"),
    ("ecs-scheduled-task.json", "aws scheduler create-schedule"),
    ("ecs-service.json", "aws ecs create-service"),
    (
        "ecs-task-definition.json",
        "aws ecs register-task-definition",
    ),
    ("host-mode-sentinel.json", "cw2mackerel check --config"),
    ("iam-policy.json", "aws iam create-policy"),
    ("lambda-function.json", "aws lambda create-function"),
    ("lambda-schedule.json", "aws scheduler create-schedule"),
    ("mackerel-monitor.json", "curl"),
    ("scheduler-ecs-policy.json", "aws iam put-role-policy"),
    ("scheduler-lambda-policy.json", "aws iam put-role-policy"),
    ("trust-ec2.json", "aws iam create-role"),
    ("trust-ecs-tasks.json", "aws iam create-role"),
    ("trust-lambda.json", "aws iam create-role"),
    ("trust-scheduler.json", "aws iam create-role"),
];

#[test]
fn every_deploy_file_is_in_the_readme_with_its_command() {
    let lines: Vec<String> = readme_sections()
        .into_iter()
        .flat_map(|(_, blocks)| blocks)
        .flat_map(joined)
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(root().join("deploy"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let listed: Vec<&str> = FILE_COMMANDS.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        files, listed,
        "a file in deploy/ without its command here, or the reverse"
    );
    for (file, command) in FILE_COMMANDS {
        assert!(
            lines.iter().any(|l| l.starts_with(command)
                && l.split(|c: char| c.is_whitespace() || c == '@' || c == '=')
                    .any(|w| w.trim_start_matches("file://") == format!("deploy/{file}"))),
            "README.md has no `{command} … deploy/{file}` line in a shell block"
        );
    }
}

/// The README's sections (`##` and `###` headings) with their shell blocks (fenced, no
/// language), each block as its lines.
fn readme_sections() -> Vec<(String, Vec<Vec<String>>)> {
    markdown("README.md")
        .into_iter()
        .filter(|s| (2..=3).contains(&s.level))
        .map(|s| {
            let shell = s.shell();
            (s.heading, shell)
        })
        .collect()
}

/// The shell blocks of the README section whose heading starts with `heading`.
fn blocks(sections: &[(String, Vec<Vec<String>>)], heading: &str) -> Vec<Vec<String>> {
    let found: Vec<_> = sections
        .iter()
        .filter(|(h, _)| h.starts_with(heading))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "README.md: one section `{heading}…` expected"
    );
    assert!(
        !found[0].1.is_empty(),
        "README.md: `{heading}` has no shell block"
    );
    found[0].1.clone()
}

/// Runs `tests/peers/deploy_check.py ARGS…` and returns its JSON answer.
fn deploy_check(args: &[&str]) -> Value {
    let out = std::process::Command::new(python())
        .arg(root().join("tests/peers/deploy_check.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "deploy_check.py {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cli_input_files_match_their_operations_in_botocore() {
    let report = deploy_check(&["shapes", root().join("deploy").to_str().unwrap()]);
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["checked"].as_array().unwrap().len(), 7, "{report:#}");
}

#[test]
fn every_template_is_cfn_lint_clean() {
    let templates: Vec<_> = std::fs::read_dir(root().join("deploy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    assert!(!templates.is_empty());
    // cfn-lint comes with the test peers (tests/peers/requirements.txt), beside their Python.
    let out = std::process::Command::new(python().with_file_name("cfn-lint"))
        .args(&templates)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Lines of the README's deploy blocks that are not AWS calls moto can stand in for: building,
/// pushing, installing on a machine, logging in to ECR; and the Mackerel monitor and the
/// config check, which `the_monitor_*` tests run.
const NOT_RUN_IN_MOTO: &[&str] = &[
    "curl ",
    "cw2mackerel check ",
    "make ",
    "ARCH=arm64 make ",
    "podman ",
    "sudo ",
    "printf ",
    "sed ",
    "aws ecr get-login-password ",
];

#[test]
fn every_deploy_path_in_the_readme_deploys_the_first_time() {
    let moto = Moto::shared();
    let sections = readme_sections();
    let key = blocks(&sections, "Deploy");
    let image = blocks(&sections, "ECS on Fargate: the image");
    let ecs_cli = blocks(&sections, "ECS service with the AWS CLI");
    let ecs_cfn = blocks(
        &sections,
        "ECS service or scheduled task, one CloudFormation stack",
    );
    let machine = blocks(&sections, "cron or systemd");
    let alarms = blocks(&sections, "Know when it stops");
    let instance = moto.seed(&["--region", "ca-central-1", "ec2-instances", "--count", "1"]);
    let cat = |parts: &[&Vec<Vec<String>>]| -> Vec<Vec<String>> {
        parts.iter().flat_map(|p| p.iter().cloned()).collect()
    };
    // Each path in a region of its own, as if in an account of its own (IAM, which is global,
    // is emptied between paths by the helper).
    // Updating the function: the stack's last two commands again, or update-function-code.
    let lambda_cfn = blocks(&sections, "Lambda, one CloudFormation stack");
    let cfn_lines = joined(lambda_cfn[0].clone());
    let lambda_cli = blocks(&sections, "Lambda with the AWS CLI");
    let plan = serde_json::json!([
        {"name": "lambda-cfn", "region": "us-west-2", "blocks": cat(&[&key, &lambda_cfn]),
         "update": cfn_lines[cfn_lines.len() - 2..]},
        {"name": "lambda-cli", "region": "eu-west-1", "blocks": cat(&[&key, &lambda_cli[..1].to_vec()]),
         "update": joined(lambda_cli[1].clone())},
        {"name": "ecs-service-cfn", "region": "ap-northeast-1", "blocks": cat(&[&key, &image, &ecs_cfn])},
        {"name": "ecs-scheduled-task-cfn", "region": "ap-southeast-1",
         "blocks": cat(&[&key, &image, &ecs_cfn]),
         "substitute": {"Runtime=ecs-service": "Runtime=ecs-scheduled-task"}},
        {"name": "ecs-service-cli", "region": "eu-central-1", "blocks": cat(&[&key, &image, &ecs_cli, &alarms])},
        {"name": "ecs-scheduled-task-cli", "region": "us-east-2",
         "blocks": cat(&[&key, &image, &ecs_cli, &blocks(&sections, "ECS scheduled task with the AWS CLI")])},
        {"name": "machine", "region": "ca-central-1", "blocks": cat(&[&key, &machine])},
    ]);
    let mut plan = plan.as_array().unwrap().clone();
    for recipe in &mut plan {
        let region = recipe["region"].as_str().unwrap().to_string();
        let name = recipe["name"].as_str().unwrap().to_string();
        let mut sub = serde_json::json!({
            "ACCOUNT_ID": "123456789012", "REGION": region, "SUBNET_ID": "create",
            "SECURITY_GROUP_ID": "create", "BUCKET": format!("cw2m-{name}"),
            "TOPIC_NAME": "alerts", "INSTANCE_ID": instance[0].clone(),
        });
        if let Some(extra) = recipe.get("substitute") {
            for (k, v) in extra.as_object().unwrap() {
                sub[k] = v.clone();
            }
        }
        recipe["substitute"] = sub;
        recipe["files"] = serde_json::json!(root());
    }
    let plan_file = temp_file("deploy-plan.json", &Value::Array(plan).to_string());
    let (id, secret) = moto.key("admin");
    let report = deploy_check(&[
        "recipes",
        "--endpoint",
        moto.url(),
        "--access-key-id",
        &id,
        "--secret-access-key",
        &secret,
        plan_file.to_str().unwrap(),
    ]);
    for recipe in report.as_array().unwrap() {
        let name = &recipe["name"];
        assert_eq!(
            recipe["problems"],
            serde_json::json!([]),
            "{name}: {recipe:#}"
        );
        assert!(
            recipe["ran"].as_array().unwrap().len() >= 2,
            "{name}: {recipe:#}"
        );
        for line in recipe["skipped"].as_array().unwrap() {
            let line = line.as_str().unwrap();
            assert!(
                NOT_RUN_IN_MOTO.iter().any(|p| line.starts_with(p)),
                "{name}: `{line}` was not run"
            );
        }
    }
}

#[test]
fn deploy_files_use_only_settings_and_commands_the_binary_has() {
    let help = run(cw2mackerel().arg("--help")).stdout;
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("deploy")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("CW2MACKEREL_") || word.starts_with("MACKEREL_") {
                names.insert(word.to_string());
            }
        }
    }
    assert!(names.len() >= 4, "{names:?}");
    for n in &names {
        assert!(
            help.contains(n.as_str()),
            "{n} is in deploy/ but not a setting of the binary"
        );
    }

    let task = json("ecs-task-definition.json");
    let c = &task["containerDefinitions"][0];
    assert_eq!(task["runtimePlatform"]["cpuArchitecture"], "ARM64");
    assert_eq!(task["requiresCompatibilities"][0], "FARGATE");
    assert_eq!(c["command"], serde_json::json!(["daemon"]));
    assert_eq!(
        c["healthCheck"]["command"],
        serde_json::json!(["CMD", "/cw2mackerel", "healthcheck"])
    );
    assert_eq!(c["secrets"][0]["name"], "MACKEREL_APIKEY");
    assert_eq!(c["logConfiguration"]["logDriver"], "awslogs");
    let scheduled: Value = serde_json::from_str(
        json("ecs-scheduled-task.json")["Target"]["Input"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        scheduled["containerOverrides"][0]["command"],
        serde_json::json!(["run"])
    );
    assert_eq!(json("ecs-service.json")["taskDefinition"], "cw2mackerel");
    let lambda = json("lambda-function.json");
    assert_eq!(
        (
            lambda["Runtime"].as_str(),
            lambda["Architectures"][0].as_str()
        ),
        (Some("provided.al2023"), Some("arm64"))
    );
    assert!(
        json("lambda-schedule.json")["Target"]["Arn"]
            .as_str()
            .unwrap()
            .contains(":function:cw2mackerel")
    );
    let policy = json("iam-policy.json");
    let actions: BTreeSet<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "cloudwatch:GetMetricData",
            "cloudfront:ListDistributions",
            "cloudfront:ListTagsForResource",
            "ssm:GetParameter",
            "kms:Decrypt"
        ])
    );
    let unit = deploy("cw2mackerel.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/cw2mackerel run"));
    // A private /tmp is new at every start; the record of what Mackerel took must outlive it.
    assert!(
        unit.contains("StateDirectory=cw2mackerel")
            && unit.contains("CW2MACKEREL_STATE_FILE=/var/lib/cw2mackerel/")
    );
    assert!(deploy("cw2mackerel.timer").contains("OnCalendar="));
    assert!(deploy("cw2mackerel.cron").contains("/usr/local/bin/cw2mackerel run"));
}

#[test]
#[ignore = "needs `make lambda-zip`; `make test` runs it"]
fn the_lambda_zip_holds_an_executable_bootstrap() {
    let zip = root().join("target/lambda/cw2mackerel-lambda.zip");
    assert!(
        zip.exists(),
        "{} is missing: run `make lambda-zip` (or `make test`, which does)",
        zip.display()
    );
    let listing = std::process::Command::new("python3")
        .args(["-c", "import sys,zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, oct(i.external_attr >> 16))"])
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "bootstrap 0o100755"
    );
}

/// `deploy/mackerel-monitor.json` with its placeholder replaced by `id`.
fn monitor_for(id: &str) -> Value {
    serde_json::from_str(&deploy("mackerel-monitor.json").replace("DISTRIBUTIONID", id)).unwrap()
}

/// Creates `monitor` in `mackerel` as the README's curl does; the status and the answer.
fn create_monitor(mackerel: &Fake, monitor: &Value) -> (u16, Value) {
    let mut r = agent()
        .post(format!("{}/api/v0/monitors", mackerel.url()))
        .header("X-Api-Key", MACKEREL_KEY)
        .header("Content-Type", "application/json")
        .send(monitor.to_string())
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap(),
    )
}

#[test]
fn the_monitor_is_accepted_and_watches_a_series_cw2mackerel_posts() {
    let (moto, id) = busy("monitor");
    let mackerel = Fake::mackerel();
    let monitor = monitor_for(&id);
    let (status, answer) = create_monitor(&mackerel, &monitor);
    assert_eq!(status, 200, "{answer}");
    assert!(answer["id"].is_string(), "{answer}");
    // Interruption detection is what the monitor is for.
    assert!(monitor["missingDurationWarning"].as_i64().unwrap() >= 10);

    let ran = run(against(moto, "reader", &mackerel)
        .env("CW2MACKEREL_TAG", "test=monitor")
        .arg("run"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let service = monitor["service"].as_str().unwrap();
    let metric = monitor["metric"].as_str().unwrap();
    assert!(
        series_len(&mackerel, service, metric) > 0,
        "the monitor watches {service}/{metric}, which a run does not post; it posted {:?}",
        service_points(&mackerel, service)
            .keys()
            .collect::<Vec<_>>()
    );
}

#[test]
fn the_fake_refuses_a_monitor_mackerel_would_refuse() {
    let mackerel = Fake::mackerel();
    let good = monitor_for("E2QWRUHAPOMQZL");
    for (key, bad) in [
        ("missingDurationWarning", serde_json::json!(15)),
        ("missingDurationCritical", serde_json::json!(10090)),
        ("duration", serde_json::json!(11)),
        ("service", serde_json::json!("nosuchservice")),
        ("operator", serde_json::json!(">=")),
        ("notificationInterval", serde_json::json!(5)),
        ("scopes", serde_json::json!(["cdn"])),
    ] {
        let mut body = good.clone();
        body[key] = bad;
        let (status, answer) = create_monitor(&mackerel, &body);
        assert_eq!(status, 400, "{key}: {answer}");
    }
    assert_eq!(create_monitor(&mackerel, &good).0, 200);
}

#[test]
fn the_host_mode_sentinel_posts_the_series_the_monitor_watches() {
    let (moto, id) = busy("sentinel");
    let mackerel = Fake::mackerel();
    let config = temp_file(
        "host-mode-sentinel.json",
        &deploy("host-mode-sentinel.json").replace("DISTRIBUTIONID", &id),
    );
    let checked = run(cw2mackerel()
        .env("MACKEREL_APIKEY", MACKEREL_KEY)
        .args(["check", "--config"])
        .arg(&config));
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    let ran = run(against(moto, "reader", &mackerel)
        .env_remove("CW2MACKEREL_SERVICE")
        .env("CW2MACKEREL_CONFIG", &config)
        .arg("run"));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let arn_suffix = format!("distribution/{id}");
    assert!(
        live_hosts(&mackerel)
            .keys()
            .any(|k| k.ends_with(&arn_suffix)),
        "no host for {id}"
    );
    assert!(
        !mackerel.state()["host_points"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    let monitor = monitor_for(&id);
    let metric = monitor["metric"].as_str().unwrap();
    assert!(
        series_len(&mackerel, monitor["service"].as_str().unwrap(), metric) > 0,
        "the sentinel does not post {metric}"
    );
}
