//! `credential_process`: a profile's command that prints credentials. As botocore does
//! (`credentials.py`, `ProcessProvider`), the command is split like a shell would split it
//! (quotes and backslashes) and run directly, without a shell; it must exit 0 and print
//! `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}` (the AWS
//! CLI's documented format). Without `Expiration` the credentials never expire; with it they
//! are renewed like any temporary ones.

use super::keys::{self, Credentials};
use crate::error::{Error, Result};
use crate::fault::Undecodable;
use crate::signals;
use serde_json::Value;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output read from the process, at most.
const OUTPUT_LIMIT: u64 = 1 << 20;

/// Runs `command` (of profile `profile`) and reads its credentials, waiting at most `limit`.
pub fn run(command: &str, profile: &str, limit: Duration) -> Result<Credentials> {
    let what = format!("credential_process of profile {profile:?}");
    let words = split(command).map_err(|e| Error::runtime(format!("{what}: {e}")))?;
    let Some((program, args)) = words.split_first() else {
        return Err(Error::runtime(format!("{what} is empty")));
    };
    // Its own process group, so an overrun ends whatever it started too.
    let mut child = Command::new(program)
        .args(args)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::runtime(format!("{what}: running {program:?}: {e}")))?;
    let readers = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(OUTPUT_LIMIT).read_to_end(&mut out);
            }
            out
        })
    });
    let until = Instant::now() + limit;
    let overran = |child: &mut std::process::Child| {
        signals::kill_group(child.id());
        let _ = child.wait();
        Error::runtime(format!(
            "{what}: {program:?} did not finish within {}s",
            limit.as_millis().div_ceil(1000)
        ))
    };
    // Done when it has exited and both pipes are closed: something it started may hold them.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) if readers.iter().all(|r| r.is_finished()) => break status,
            Err(e) => return Err(Error::runtime(format!("{what}: {e}"))),
            _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
            _ => return Err(overran(&mut child)),
        }
    };
    let [stdout, stderr] = readers.map(|r| r.join().unwrap_or_default());
    if !status.success() {
        let said: String = String::from_utf8_lossy(&stderr).chars().take(300).collect();
        return Err(Error::runtime(format!(
            "{what}: {program:?} failed ({status}): {}",
            said.trim()
        )));
    }
    parse(&stdout).map_err(|e| Error::runtime(format!("{what}: {e}")))
}

/// The credentials a process printed.
fn parse(out: &[u8]) -> Result<Credentials, Undecodable> {
    let v: Value = serde_json::from_slice(out).map_err(|e| {
        Undecodable::new(format!(
            "its output is not the JSON the AWS CLI documents ({e})"
        ))
    })?;
    if v["Version"].as_u64() != Some(1) {
        return Err(Undecodable::new(format!(
            "its output has Version {}, and only 1 is known",
            v["Version"]
        )));
    }
    keys::from_object(&v, "SessionToken", "its output")
}

/// Splits a command line into words as a POSIX shell would (no expansions): blanks separate
/// words; single quotes keep everything; double quotes keep all but `\"`, `\\`, `\$` and
/// `` \` ``; a backslash outside quotes keeps the next character.
///
/// Not the `shlex` crate's split, though the build has it: it reads `#` as the start of a
/// comment and drops a backslash-newline, where botocore's `shlex.split` (comments off) and
/// this keep both; and it cannot say what is left open.
fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err("the command ends with a backslash".into()),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_as_a_shell_would() {
        assert_eq!(
            split(r#"/usr/bin/get-creds --profile 'my prod' --x "a \"b\" c" d\ e ''"#).unwrap(),
            [
                "/usr/bin/get-creds",
                "--profile",
                "my prod",
                "--x",
                "a \"b\" c",
                "d e",
                ""
            ]
        );
        assert!(split("'open").is_err());
        assert!(split("\"open").is_err());
        assert!(split("end\\").is_err());
    }

    #[test]
    fn an_overrun_ends_within_the_limit_with_all_it_started() {
        let pid_file = std::env::temp_dir().join(format!("cw2m-process-{}", std::process::id()));
        let creds = r#"{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "s"}"#;
        for script in [
            // Prints its credentials and exits, but a child it left holds the pipe open.
            format!(
                "echo '{creds}'; sleep 30 & echo $! > {}",
                pid_file.display()
            ),
            // Never finishes.
            format!("sleep 30 & echo $! > {}; wait", pid_file.display()),
        ] {
            let started = Instant::now();
            let command = format!("sh -c \"{script}\"");
            let e = run(&command, "p", Duration::from_secs(1)).unwrap_err();
            assert!(e.to_string().contains("did not finish within 1s"), "{e}");
            assert!(started.elapsed() < Duration::from_secs(10));
            let pid = std::fs::read_to_string(&pid_file).unwrap();
            // SIGKILL is delivered soon, not at once.
            let ended = (0..100).any(|_| {
                std::thread::sleep(Duration::from_millis(20));
                std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                    .map_or(true, |s| s.contains(") Z "))
            });
            assert!(ended, "the sleep it started still runs");
        }
    }

    #[test]
    fn output_as_the_aws_cli_documents_it() {
        let c = parse(br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T", "Expiration": "2026-11-25T01:02:00Z"}"#).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.expires),
            ("A", Some(1795568520))
        );
        assert!(
            parse(br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S"}"#)
                .unwrap()
                .expires
                .is_none()
        );
        for bad in [
            r#"{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "S"}"#,
            r#"{"Version": "1", "AccessKeyId": "A", "SecretAccessKey": "S"}"#,
            r#"{"Version": 1, "AccessKeyId": "A"}"#,
            r#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "Expiration": "soon"}"#,
            "not json",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "credential_process",
            &[br#"{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": "T", "Expiration": "2026-11-25T01:02:00Z"}"#, b"cmd 'a b' \"c\\\"d\" e\\ f"],
            |b| {
                let _ = split(&String::from_utf8_lossy(b));
                parse(b).map_or(0, |c| c.access_key_id.len())
            },
        );
    }
}
