//! The deployment kit in `deploy/` agrees with the binary: every file parses, is referenced
//! from the README, names only settings the binary knows, runs the commands the binary has,
//! and the Lambda zip holds an executable `bootstrap`.

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

#[test]
fn every_deploy_file_is_in_the_readme_with_its_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for entry in std::fs::read_dir(root().join("deploy")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            readme.contains(&format!("deploy/{name}")),
            "README.md does not mention deploy/{name}"
        );
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
