//! Test harness: real peers on loopback. moto (started through `tests/peers/moto-server`,
//! verifying every SigV4 signature) stands in for AWS; `tests/peers/fake.py` serves strict
//! fakes of Mackerel, the ECS credentials endpoint, EC2 IMDS and the Lambda runtime API.
//! Every peer dies with the test process (each watches its stdin). A missing peer is a test
//! failure, never a skip.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with moto installed: `CW2MACKEREL_TEST_PYTHON`, else the project's `.venv`,
/// made here from `tests/peers/requirements.txt` when it is missing or stale (as `make venv`
/// makes it), so that `cargo test` needs nothing but Rust and Python 3.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CW2MACKEREL_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(make_venv).clone()
}

fn make_venv() -> PathBuf {
    let venv = root().join(".venv");
    let ready = venv.join("ready");
    let requirements = root().join("tests/peers/requirements.txt");
    let wanted = std::fs::read(&requirements).unwrap();
    // Test binaries may run at once (nextest): one of them makes the venv.
    let lock =
        std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("venv.lock")).unwrap();
    lock.lock().unwrap();
    if std::fs::read(&ready).ok().as_ref() != Some(&wanted) {
        let python3 = std::env::var("PYTHON3").unwrap_or_else(|_| "python3".into());
        let step = |cmd: &mut Command| {
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
            assert!(
                out.status.success(),
                "{cmd:?} failed (the tests need Python 3 with venv and pip):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        step(Command::new(&python3).args(["-m", "venv"]).arg(&venv));
        step(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
        );
        std::fs::write(&ready, &wanted).unwrap();
    }
    venv.join("bin/python")
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A peer process that lives as long as its handle (and dies with the test process, because
/// it exits when its stdin closes).
pub struct Peer {
    child: Child,
    _stdin: ChildStdin,
    pub url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 60s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP client for the control APIs (no proxy, no status errors).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

pub fn get_json(url: &str) -> Value {
    let mut r = agent().get(url).call().unwrap();
    serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap()
}

pub fn post_json(url: &str, body: &Value) -> Value {
    let mut r = agent()
        .post(url)
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    let bytes = r.body_mut().read_to_vec().unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// moto

pub struct Moto {
    peer: Peer,
    /// `bootstrap`'s answer: admin, reader and nocloudfront keys, role ARN.
    pub users: Value,
}

/// Unauthenticated actions moto allows before it checks every signature: exactly what
/// `moto_seed.py bootstrap` uses.
const NO_AUTH_ACTIONS: &str = "3";

impl Moto {
    fn start() -> Moto {
        let server = std::env::var_os("CW2MACKEREL_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("tests/peers/moto-server"));
        assert!(
            server.exists(),
            "{} is missing: the moto launcher is part of the repository",
            server.display()
        );
        let port = free_port();
        // Run the launcher inside a Python that exits when our pipe closes.
        let launcher = format!(
            "import os,runpy,sys,threading\n\
             threading.Thread(target=lambda:(sys.stdin.read(),os._exit(0)),daemon=True).start()\n\
             sys.argv=[{server:?},'-H','127.0.0.1','-p','{port}']\n\
             runpy.run_path({server:?},run_name='__main__')",
            server = server.to_str().unwrap()
        );
        let mut child = Command::new(python())
            .arg("-c")
            .arg(launcher)
            .env("INITIAL_NO_AUTH_ACTION_COUNT", NO_AUTH_ACTIONS)
            // AWS managed policies (AmazonECSTaskExecutionRolePolicy…) exist, as in AWS: the
            // deploy recipes of tests/deploy.rs attach them.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto");
        wait_for_port(port, &mut child, "moto");
        let stdin = child.stdin.take().unwrap();
        let peer = Peer {
            child,
            _stdin: stdin,
            url: format!("http://127.0.0.1:{port}"),
        };
        let users = seed_raw(&peer.url, &["bootstrap"]);
        Moto { peer, users }
    }

    /// One moto per test binary, bootstrapped once.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(Moto::start)
    }

    pub fn url(&self) -> &str {
        &self.peer.url
    }

    pub fn key(&self, user: &str) -> (String, String) {
        let u = &self.users[user];
        (
            u["access_key_id"].as_str().unwrap().into(),
            u["secret_access_key"].as_str().unwrap().into(),
        )
    }

    /// Runs `moto_seed.py COMMAND` signed as the admin user.
    pub fn seed(&self, args: &[&str]) -> Value {
        let (id, secret) = self.key("admin");
        let mut all = args.to_vec();
        all.extend(["--access-key-id", &id, "--secret-access-key", &secret]);
        seed_raw(self.url(), &all)
    }

    /// Temporary credentials (with a session token) for the role, which has exactly the
    /// reader's permissions, as the ECS endpoint serves them.
    pub fn role_credentials(&self) -> Value {
        let role = self.users["role_arn"].as_str().unwrap().to_string();
        self.seed(&["assume-role", "--role-arn", &role])
    }

    /// Creates `count` distributions tagged `test=<tag>` and returns them.
    pub fn distributions(&self, tag: &str, count: usize, extra: &[&str]) -> Vec<Value> {
        let n = count.to_string();
        let t = format!("test={tag}");
        let mut args = vec!["distributions", "--count", &n, "--tag", &t];
        args.extend(extra);
        self.seed(&args).as_array().unwrap().clone()
    }
}

fn seed_raw(endpoint: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(root().join("tests/peers/moto_seed.py"))
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .output()
        .expect("running moto_seed.py");
    assert!(
        out.status.success(),
        "moto_seed.py {:?} failed: {}",
        args.first(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("moto_seed.py output: {e}"))
}

// ---------------------------------------------------------------------------------------------
// fakes

pub struct Fake {
    peer: Peer,
}

impl Fake {
    /// Starts `tests/peers/fake.py KIND ARGS…` and waits for its port.
    pub fn start(kind: &str, args: &[&str]) -> Fake {
        Fake::spawn("fake.py", Some(kind), args)
    }

    /// Starts `tests/peers/fake_aws.py ARGS…`, the fast CloudFront and CloudWatch.
    pub fn aws(args: &[&str]) -> Fake {
        Fake::spawn("fake_aws.py", None, args)
    }

    fn spawn(script: &str, kind: Option<&str>, args: &[&str]) -> Fake {
        let mut child = Command::new(python())
            .arg(root().join("tests/peers").join(script))
            .args(kind)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {script}: {e}"));
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = serde_json::from_str::<Value>(&line)
            .unwrap_or_else(|_| panic!("{script} {kind:?} said {line:?}"))["port"]
            .as_u64()
            .unwrap();
        let host = match args.iter().position(|a| *a == "--host") {
            Some(i) if args[i + 1].contains(':') => format!("[{}]", args[i + 1]),
            _ => "127.0.0.1".to_string(),
        };
        Fake {
            peer: Peer {
                child,
                _stdin: stdin,
                url: format!("http://{host}:{port}"),
            },
        }
    }

    /// A strict Mackerel that knows the key `TEST-KEY` and the service `cdn`.
    pub fn mackerel() -> Fake {
        Fake::mackerel_with(&[])
    }

    /// [`Fake::mackerel`] with more of fake.py's options (`--max-body 2000`, say).
    pub fn mackerel_with(options: &[&str]) -> Fake {
        let mut args = vec!["--apikey", MACKEREL_KEY, "--service", "cdn"];
        args.extend(options);
        Fake::start("mackerel", &args)
    }

    pub fn url(&self) -> &str {
        &self.peer.url
    }

    pub fn requests(&self) -> Vec<Value> {
        get_json(&format!("{}/_fake/requests", self.url()))
            .as_array()
            .unwrap()
            .clone()
    }

    /// Recorded requests whose path matches `needle`.
    pub fn requests_to(&self, needle: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r["path"].as_str().unwrap().contains(needle))
            .collect()
    }

    pub fn state(&self) -> Value {
        get_json(&format!("{}/_fake/state", self.url()))
    }

    pub fn set_state(&self, state: Value) -> Value {
        post_json(&format!("{}/_fake/state", self.url()), &state)
    }

    pub fn faults(&self, faults: Value) {
        post_json(&format!("{}/_fake/faults", self.url()), &faults);
    }

    pub fn reset(&self) {
        post_json(&format!("{}/_fake/reset", self.url()), &json!({}));
    }
}

pub const MACKEREL_KEY: &str = "TEST-KEY-d2a8f1e9";

/// A fake AWS that answers every request with `body` (status 200), recording each.
pub fn answering(body: &str) -> Fake {
    let aws = Fake::start("mackerel", &[]);
    aws.faults(json!([{"status": 200, "body": body, "count": 10_000}]));
    aws
}

/// A GetMetricData answer for queries q0 … q(n-1) with no data: CloudWatch answers every
/// query, an empty one with StatusCode Complete (a query left out is not "no data").
pub fn empty_gmd(n: usize) -> String {
    let members: String = (0..n)
        .map(|i| {
            format!("<member><Id>q{i}</Id><Timestamps/><Values/><StatusCode>Complete</StatusCode></member>")
        })
        .collect();
    format!(
        "<GetMetricDataResponse><GetMetricDataResult><MetricDataResults>{members}\
         </MetricDataResults></GetMetricDataResult></GetMetricDataResponse>"
    )
}

// ---------------------------------------------------------------------------------------------
// the binary

/// `cw2mackerel` with a clean environment: no proxies, no ~/.aws, no EC2 metadata, logs as
/// JSON so tests can read the summary, and a state file of its own (a command run twice
/// shares it, as cron's runs do).
pub fn cw2mackerel() -> Command {
    // CW2MACKEREL_TEST_BIN runs the tests against another build (an older one, say, to see a
    // test fail on the behaviour it guards against).
    let bin = std::env::var_os("CW2MACKEREL_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_cw2mackerel")));
    let mut c = Command::new(bin);
    c.env_clear()
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CW2MACKEREL_LOG_FORMAT", "json")
        .env("CW2MACKEREL_STATE_FILE", fresh_path("state"));
    c
}

/// This test binary's temporary directory, emptied when first asked for: it is named after
/// the process ID, and an earlier test process that had the same ID may have left files
/// there (a state file of another version, say).
fn test_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cw2m-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A path named `name` that no other test uses: in a directory of its own (so the name, and
/// its extension, are as given) in this test binary's temporary directory; nothing is there.
/// Every temporary file and directory of the tests is made here.
pub fn fresh_path(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = test_dir().join(n.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Every (name, time) of the service and host points Mackerel accepted, with how many
/// times each was posted.
pub fn post_counts(mackerel: &Fake) -> std::collections::BTreeMap<(String, i64), usize> {
    let mut out = std::collections::BTreeMap::new();
    for p in accepted_points(mackerel) {
        let host = p["hostId"]
            .as_str()
            .map(|h| format!("{h}/"))
            .unwrap_or_default();
        let key = (
            format!("{host}{}", p["name"].as_str().unwrap()),
            p["time"].as_i64().unwrap(),
        );
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

/// Every point of every tsdb body Mackerel accepted, service and host, in order.
fn accepted_points(mackerel: &Fake) -> Vec<Value> {
    let mut out = Vec::new();
    for r in mackerel.requests_to("/tsdb") {
        if r["status"] == 200 {
            let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            out.extend(body.as_array().unwrap().iter().cloned());
        }
    }
    out
}

/// [`against`] moto as the reader, in host mode for the distributions tagged `test=<tag>`,
/// without a command: one Mackerel host per distribution.
pub fn host_mode(moto: &Moto, mackerel: &Fake, tag: &str) -> Command {
    let mut cmd = against(moto, "reader", mackerel);
    cmd.env_remove("CW2MACKEREL_SERVICE")
        .env("CW2MACKEREL_MODE", "host")
        .env("CW2MACKEREL_TAG", format!("test={tag}"));
    cmd
}

/// [`host_mode`] running one cycle.
pub fn host_run(moto: &Moto, mackerel: &Fake, tag: &str) -> Command {
    let mut cmd = host_mode(moto, mackerel, tag);
    cmd.arg("run");
    cmd
}

/// Whether `ran` came to what a configuration mistake must: exit 2, with a first log line
/// that says every one of `says`. Else what it came to.
pub fn refused_as_mistake(ran: &Ran, says: &[&str]) -> Result<(), String> {
    let msg = ran
        .logs()
        .first()
        .and_then(|l| l["msg"].as_str().map(str::to_string))
        .unwrap_or_default();
    match ran.code == 2 && says.iter().all(|s| msg.contains(s)) {
        true => Ok(()),
        false => Err(format!("exit {}, {msg}", ran.code)),
    }
}

/// Points the binary at moto with static keys of `user` and at `mackerel`.
pub fn against(moto: &Moto, user: &str, mackerel: &Fake) -> Command {
    let (id, secret) = moto.key(user);
    pointed_at(moto.url(), &id, &secret, mackerel)
}

/// Points the binary at the AWS endpoint `aws` with the static keys `id` and `secret`, and
/// at `mackerel`.
pub fn pointed_at(aws: &str, id: &str, secret: &str, mackerel: &Fake) -> Command {
    let mut c = cw2mackerel();
    c.env("AWS_ENDPOINT_URL", aws)
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("MACKEREL_APIBASE", mackerel.url())
        .env("MACKEREL_APIKEY", MACKEREL_KEY)
        .env("CW2MACKEREL_SERVICE", "cdn");
    c
}

pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The log lines, parsed (the binary logs JSON in tests).
    pub fn logs(&self) -> Vec<Value> {
        self.stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON log line: {l}")))
            .collect()
    }

    /// The log lines at `level` (`warn`, `debug`, …) that mention `needle`.
    pub fn said(&self, level: &str, needle: &str) -> Vec<Value> {
        self.logs()
            .into_iter()
            .filter(|l| l["level"] == level && l.to_string().contains(needle))
            .collect()
    }

    /// The one summary line of a run.
    pub fn summary(&self) -> Value {
        let logs = self.logs();
        let runs: Vec<&Value> = logs
            .iter()
            .filter(|l| l["msg"] == "run ok" || l["msg"] == "run failed")
            .collect();
        assert_eq!(
            runs.len(),
            1,
            "expected one summary line, got:\n{}",
            self.stderr
        );
        runs[0].clone()
    }

    /// Fails if any of `secrets` shows in stdout or stderr.
    pub fn assert_no_secret(&self, secrets: &[&str]) {
        for s in secrets {
            assert!(!s.is_empty());
            assert!(
                !self.stdout.contains(s) && !self.stderr.contains(s),
                "a secret leaked:\n{}\n{}",
                self.stdout,
                self.stderr
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the binary in the background: daemons, runs and Lambda runtimes that get signals

/// Starts `cmd` in the background with stderr captured.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn signal(child: &Child, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

/// Waits for `child` to end (at most `limit`) and returns its status code and log lines.
pub fn finish(mut child: Child, limit: Duration) -> (i32, Vec<Value>) {
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let logs = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    (code, logs)
}

/// The `msg` of each log line.
pub fn msgs(logs: &[Value]) -> Vec<&str> {
    logs.iter().map(|l| l["msg"].as_str().unwrap()).collect()
}

/// Polls `check` every 100 ms for up to `limit`.
pub fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What `--version` prints for a build of this checkout for `target`: the version, the commit
/// (`CW2MACKEREL_COMMIT` when set, as the build script reads it, else git's short hash of
/// HEAD) and the target.
pub fn version_line(target: &str) -> String {
    let commit = std::env::var("CW2MACKEREL_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| {
            let out = Command::new("git")
                .arg("-C")
                .arg(root())
                .args(["rev-parse", "--short", "HEAD"])
                .output()
                .expect("running git");
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        });
    format!(
        "cw2mackerel {} ({}, {target})\n",
        env!("CARGO_PKG_VERSION"),
        commit.trim()
    )
}

pub fn run(cmd: &mut Command) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running cw2mackerel");
    Ran {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Writes `text` to a file named `name` at a [`fresh_path`].
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = fresh_path(name);
    std::fs::write(&path, text).unwrap();
    path
}

impl Moto {
    /// Seeds the six default metrics for `ids`, one datum per minute for `minutes` minutes
    /// ending at the current minute; each value is its default plus the minute index.
    pub fn traffic(&self, ids: &[&str], minutes: i64) -> i64 {
        let start = (now() / 60 - minutes) * 60;
        let (ids, start_s, minutes_s) = (ids.join(","), start.to_string(), minutes.to_string());
        self.seed(&[
            "metrics",
            "--ids",
            &ids,
            "--start",
            &start_s,
            "--minutes",
            &minutes_s,
            "--value-from-minute",
        ]);
        start
    }
}

/// The variables that send credential lookups to `ecs` (an [`ecs_endpoint`]) with `token`.
pub fn container_env(ecs: &Fake, token: &str) -> [(&'static str, String); 2] {
    [
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{}/creds", ecs.url()),
        ),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.to_string()),
    ]
}

/// `secs` as ISO 8601 UTC, as AWS writes timestamps (`2026-11-25T01:02:00Z`).
pub fn iso(secs: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap()
        .format(&format)
        .unwrap()
}

/// One distribution tagged `test=<tag>` with 15 minutes of traffic: the shared moto and its ID.
pub fn busy(tag: &str) -> (&'static Moto, String) {
    let moto = Moto::shared();
    let dists = moto.distributions(tag, 1, &[]);
    let id = id_of(&dists[0]).to_string();
    moto.traffic(&[&id], 15);
    (moto, id)
}

/// The ECS credentials endpoint, serving `creds` at `/creds` behind `token`.
pub fn ecs_endpoint(creds: &Value, token: &str) -> Fake {
    let ecs = Fake::start("ecs", &["--token", token]);
    ecs.set_state(json!({"path": "/creds", "credentials": creds}));
    ecs
}

/// Mackerel's stored service points: name → time → value.
pub fn service_points(mackerel: &Fake, service: &str) -> serde_json::Map<String, Value> {
    mackerel.state()["points"][service]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

pub fn id_of(d: &Value) -> &str {
    d["id"].as_str().unwrap()
}

/// Live (non-retired) hosts in the fake Mackerel, by customIdentifier.
pub fn live_hosts(mackerel: &Fake) -> std::collections::BTreeMap<String, Vec<Value>> {
    let mut out: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for h in mackerel.state()["hosts"].as_array().unwrap() {
        if h["isRetired"] == false {
            out.entry(h["customIdentifier"].as_str().unwrap_or("").to_string())
                .or_default()
                .push(h.clone());
        }
    }
    out
}

/// How many points Mackerel holds for service metric `name`.
pub fn series_len(mackerel: &Fake, service: &str, name: &str) -> usize {
    service_points(mackerel, service)
        .get(name)
        .and_then(|s| s.as_object().map(|o| o.len()))
        .unwrap_or(0)
}

/// Every service point Mackerel accepted in the requests it recorded: (name, time) → value.
pub fn posted_points(mackerel: &Fake) -> std::collections::BTreeMap<(String, i64), Value> {
    let mut out = std::collections::BTreeMap::new();
    for p in accepted_points(mackerel) {
        let key = (
            p["name"].as_str().unwrap().to_string(),
            p["time"].as_i64().unwrap(),
        );
        out.insert(key, p["value"].clone());
    }
    out
}

/// The size in bytes of each tsdb body Mackerel accepted, in order.
pub fn body_bytes(mackerel: &Fake) -> Vec<usize> {
    mackerel
        .requests_to("/tsdb")
        .iter()
        .filter(|r| r["status"] == 200)
        .map(|r| r["body"].as_str().unwrap().len())
        .collect()
}

/// The number of datapoints in each tsdb post Mackerel received, in order.
pub fn batch_sizes(mackerel: &Fake) -> Vec<usize> {
    mackerel
        .requests_to("/tsdb")
        .iter()
        .map(|p| {
            serde_json::from_str::<Value>(p["body"].as_str().unwrap())
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        })
        .collect()
}

/// Waits for `child` and returns its output with its peak RSS in kB (VmHWM, sampled every
/// 5 ms until it exits: a memory bound, never a time bound).
pub fn peak_rss(mut child: std::process::Child) -> (Output, u64) {
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak_kb)
}

/// The state file `cmd` uses (each [`cw2mackerel`] command has its own).
pub fn state_path(cmd: &std::process::Command) -> PathBuf {
    cmd.get_envs()
        .find(|(k, _)| *k == "CW2MACKEREL_STATE_FILE")
        .and_then(|(_, v)| v)
        .map(PathBuf::from)
        .unwrap()
}

/// What the state file of `cmd` holds.
pub fn state_of(cmd: &std::process::Command) -> Value {
    serde_json::from_slice(&std::fs::read(state_path(cmd)).unwrap()).unwrap()
}

/// Retires host `id` as a user would, through Mackerel's API.
pub fn retire(mackerel: &Fake, id: &str) {
    let retired = agent()
        .post(format!("{}/api/v0/hosts/{id}/retire", mackerel.url()))
        .header("X-Api-Key", MACKEREL_KEY)
        .header("content-type", "application/json")
        .send("{}")
        .unwrap();
    assert_eq!(retired.status(), 200);
}

/// The log lines at `warn` whose message holds `needle`.
pub fn warnings(ran: &Ran, needle: &str) -> Vec<Value> {
    ran.logs()
        .into_iter()
        .filter(|l| l["level"] == "warn" && l["msg"].as_str().unwrap().contains(needle))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// the READMEs

/// A fenced block of a markdown file: its info string (`""` for the shell blocks, which the
/// READMEs fence with no language) and its lines.
pub struct Fence {
    pub lang: String,
    pub lines: Vec<String>,
}

/// One heading of a markdown file and what follows it up to the next heading of any level:
/// the prose (lines outside fences) and the fenced blocks, in order.
pub struct Section {
    pub level: usize,
    pub heading: String,
    pub prose: Vec<String>,
    pub fences: Vec<Fence>,
}

impl Section {
    /// The shell blocks (fences with no language), each as its lines.
    pub fn shell(&self) -> Vec<Vec<String>> {
        self.fences
            .iter()
            .filter(|f| f.lang.is_empty())
            .map(|f| f.lines.clone())
            .collect()
    }
}

/// The sections of `file` (relative to the repository root), in order; what comes before the
/// first heading is left out. A `#` inside a fence is not a heading.
pub fn markdown(file: &str) -> Vec<Section> {
    let text = std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut out: Vec<Section> = Vec::new();
    let mut fence: Option<Fence> = None;
    for line in text.lines() {
        if let Some(f) = fence.as_mut() {
            if line.starts_with("```") {
                let f = fence.take().unwrap();
                if let Some(s) = out.last_mut() {
                    s.fences.push(f);
                }
            } else {
                f.lines.push(line.to_string());
            }
        } else if let Some(lang) = line.strip_prefix("```") {
            fence = Some(Fence {
                lang: lang.trim().to_string(),
                lines: Vec::new(),
            });
        } else if let Some((hashes, heading)) = line.split_once(' ')
            && !hashes.is_empty()
            && hashes.chars().all(|c| c == '#')
        {
            out.push(Section {
                level: hashes.len(),
                heading: heading.trim().to_string(),
                prose: Vec::new(),
                fences: Vec::new(),
            });
        } else if let Some(s) = out.last_mut() {
            s.prose.push(line.to_string());
        }
    }
    out
}

/// A shell block's lines with `\` continuations joined and runs of blanks made one space.
pub fn joined(block: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in block {
        match line.trim_end().strip_suffix('\\') {
            Some(part) => cur.push_str(part),
            None => {
                cur.push_str(line.trim_end());
                out.push(
                    std::mem::take(&mut cur)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
        }
    }
    out
}
