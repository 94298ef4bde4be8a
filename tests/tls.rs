//! CA bundles, against TLS fronts on loopback whose CA is made when the test starts (so no
//! built-in root trusts it, as with a TLS-inspecting proxy): a certificate from an unknown CA
//! is refused; `AWS_CA_BUNDLE` (or the profile's `ca_bundle`) lets AWS calls and an https
//! container credentials endpoint through, `CW2MACKEREL_CA_BUNDLE` Mackerel's posts, each only
//! its own; a bundle that cannot be used exits 2 before any call.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::path::PathBuf;

/// A TLS front for the peer at `upstream` (an `http://127.0.0.1:PORT` URL): the front, its
/// https URL and the PEM file of its CA.
fn tls_front(upstream: &str) -> (Fake, String, PathBuf) {
    let ca = fresh_path("ca.pem");
    let front = Fake::start(
        "tls",
        &[
            "--upstream",
            upstream.trim_start_matches("http://"),
            "--ca-out",
            ca.to_str().unwrap(),
        ],
    );
    let url = front.url().replace("http://", "https://");
    (front, url, ca)
}

/// Asserts the run failed on the certificate, with a message that says what to set.
fn refused_certificate(ran: &Ran) {
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let error = ran.summary()["error"].as_str().unwrap().to_string();
    assert!(
        error.contains("TLS certificate was refused")
            && error.contains("AWS_CA_BUNDLE")
            && error.contains("CW2MACKEREL_CA_BUNDLE"),
        "{error}"
    );
}

/// One distribution with traffic in moto, a Mackerel, and a TLS front for one of the two:
/// `var` (`AWS_ENDPOINT_URL` or `MACKEREL_APIBASE`) points the run at the front.
struct Fronted {
    mackerel: Fake,
    _front: Fake,
    var: &'static str,
    url: String,
    ca: PathBuf,
    id: String,
}

impl Fronted {
    fn new(tag: &str, var: &'static str) -> Fronted {
        let (moto, id) = busy(tag);
        let mackerel = Fake::mackerel();
        let upstream = match var {
            "MACKEREL_APIBASE" => mackerel.url().to_string(),
            _ => moto.url().to_string(),
        };
        let (_front, url, ca) = tls_front(&upstream);
        Fronted {
            mackerel,
            _front,
            var,
            url,
            ca,
            id,
        }
    }

    /// `run` of the distribution, through the front.
    fn cmd(&self) -> std::process::Command {
        let mut c = against(Moto::shared(), "reader", &self.mackerel);
        c.env(self.var, &self.url)
            .env("CW2MACKEREL_CYCLE_TIMEOUT", "5s")
            .args(["run", "--distributions", &self.id]);
        c
    }

    /// The points Mackerel holds of one of the distribution's series.
    fn posted(&self) -> usize {
        let series = format!("cloudfront.{}.requests.request", self.id);
        series_len(&self.mackerel, "cdn", &series)
    }
}

#[test]
fn aws_ca_bundle_lets_aws_calls_through_and_only_them() {
    let f = Fronted::new("tls-aws", "AWS_ENDPOINT_URL");
    // No built-in root trusts the front's CA, nor does Mackerel's bundle.
    refused_certificate(&run(&mut f.cmd()));
    refused_certificate(&run(f.cmd().env("CW2MACKEREL_CA_BUNDLE", &f.ca)));
    assert_eq!(f.posted(), 0);

    let ran = run(f.cmd().env("AWS_CA_BUNDLE", &f.ca));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(f.posted(), 10);

    // The profile's ca_bundle, where AWS_CA_BUNDLE is not set.
    let config = temp_file(
        "ca-bundle-profile",
        &format!("[default]\nca_bundle = {}\n", f.ca.display()),
    );
    let ran = run(f.cmd().env("AWS_CONFIG_FILE", &config));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn an_https_container_endpoint_takes_the_aws_bundle_too() {
    let (moto, id) = busy("tls-ecs");
    let mackerel = Fake::mackerel();
    let ecs = ecs_endpoint(&moto.role_credentials(), "tls-token");
    let (_front, ecs_url, ecs_ca) = tls_front(ecs.url());
    let mut cmd = cw2mackerel();
    cmd.env("AWS_ENDPOINT_URL", moto.url())
        .envs(container_env(&ecs, "tls-token"))
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("{ecs_url}/creds"),
        )
        .env("MACKEREL_APIBASE", mackerel.url())
        .env("MACKEREL_APIKEY", MACKEREL_KEY)
        .env("CW2MACKEREL_SERVICE", "cdn")
        .env("CW2MACKEREL_CYCLE_TIMEOUT", "5s")
        .args(["run", "--distributions", &id]);
    refused_certificate(&run(&mut cmd));
    let ran = run(cmd.env("AWS_CA_BUNDLE", &ecs_ca));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn mackerel_ca_bundle_lets_the_posts_through_and_only_them() {
    let f = Fronted::new("tls-mackerel", "MACKEREL_APIBASE");
    refused_certificate(&run(&mut f.cmd()));
    refused_certificate(&run(f.cmd().env("AWS_CA_BUNDLE", &f.ca)));
    assert!(f.mackerel.requests_to("/tsdb").is_empty());

    let ran = run(f.cmd().env("CW2MACKEREL_CA_BUNDLE", &f.ca));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(f.posted(), 10);
    let ran = run(f.cmd().args(["--ca-bundle", f.ca.to_str().unwrap()]));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
}

#[test]
fn a_bundle_that_cannot_be_used_exits_2_before_any_call() {
    let mackerel = Fake::mackerel();
    let key_only = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBmmp7mYOJdwZ+ZWsyDTtmdX5n2ZqWRoUEXIQr6IRIMG\n-----END PRIVATE KEY-----\n";
    let not_a_certificate = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
    let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    let files = [
        (fresh_path("missing.pem"), "No such file"),
        (temp_file("empty.pem", ""), "holds no PEM certificate"),
        (
            temp_file("text.pem", "this is not PEM\n"),
            "holds no PEM certificate",
        ),
        (temp_file("key.pem", key_only), "holds no PEM certificate"),
        (
            temp_file("garbage.pem", not_a_certificate),
            "certificate 1 cannot be read",
        ),
        (temp_file("base64.pem", bad_base64), "not valid PEM"),
        (std::env::temp_dir(), "a directory"),
    ];
    for (file, says) in &files {
        let path = file.to_str().unwrap();
        let profile = temp_file(
            "bad-ca-profile",
            &format!("[default]\nca_bundle = {path}\n"),
        );
        for (var, value, from) in [
            ("AWS_CA_BUNDLE", path, "AWS_CA_BUNDLE"),
            ("CW2MACKEREL_CA_BUNDLE", path, "CW2MACKEREL_CA_BUNDLE"),
            (
                "AWS_CONFIG_FILE",
                profile.to_str().unwrap(),
                "profile \"default\": ca_bundle",
            ),
        ] {
            for command in ["run", "check"] {
                let ran = run(cw2mackerel()
                    .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
                    .env("AWS_SECRET_ACCESS_KEY", "secret-key-example")
                    .env("AWS_ENDPOINT_URL", mackerel.url())
                    .env("MACKEREL_APIBASE", mackerel.url())
                    .env("MACKEREL_APIKEY", MACKEREL_KEY)
                    .env("CW2MACKEREL_SERVICE", "cdn")
                    .env(var, value)
                    .arg(command));
                let refused = refused_as_mistake(&ran, &[from, path, says]);
                assert!(refused.is_ok(), "{var} {path} {command}: {refused:?}");
            }
        }
    }
    assert!(mackerel.requests().is_empty());
}
