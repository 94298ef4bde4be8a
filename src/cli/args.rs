//! The command line, tokenized: a command word, `--dry-run`, and `--option value` or
//! `--option=value` pairs for the settings of [`super::settings`]. Nothing is interpreted here,
//! but for one thing: the log format asked for is found even on a command line that cannot
//! be read, so that its mistake is logged in that format.

use super::settings::{self, Setting};
use crate::error::{Error, Result};
use std::ffi::{OsStr, OsString};

#[derive(Debug, Default)]
pub struct Args {
    pub command: Option<String>,
    pub dry_run: bool,
    pub full_window: bool,
    pub help: bool,
    pub version: bool,
    /// Every option given, in order, with its setting.
    pub options: Vec<(&'static Setting, String)>,
}

/// A command line that cannot be read: its first mistake, and the last `--log-format` given
/// anywhere on it (read past the mistake), for the line that names it.
#[derive(Debug)]
pub struct Unreadable {
    pub error: Error,
    pub log_format: Option<String>,
}

/// Tokenizes `args` (without the program name), which need not be UTF-8: an argument that is
/// not is a mistake naming its place (1 is the first after the program name). `--help` or
/// `--version` wins over what follows it; a mistake, over everything.
pub fn parse(args: &[OsString]) -> std::result::Result<Args, Unreadable> {
    let mut out = Args::default();
    let mut first = None;
    let mut args = args.iter().zip(1..);
    while let Some((arg, place)) = args.next() {
        match token(text(arg, place), &mut args, &mut out) {
            // After a mistake only the log format is wanted: --help no longer wins.
            Ok(true) if first.is_none() => return Ok(out),
            Ok(_) => {}
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    match first {
        None => Ok(out),
        Some(error) => Err(Unreadable {
            error,
            log_format: out
                .options
                .into_iter()
                .filter(|(s, _)| s.flag == settings::LOG_FORMAT.flag)
                .map(|(_, v)| v)
                .next_back(),
        }),
    }
}

/// Reads one argument into `out`, with its value from `rest` if it is an option that takes
/// one; true for `--help` and `--version`.
fn token<'a>(
    arg: Result<&'a str>,
    rest: &mut impl Iterator<Item = (&'a OsString, usize)>,
    out: &mut Args,
) -> Result<bool> {
    match arg? {
        "-h" | "--help" | "help" => out.help = true,
        "-V" | "--version" => out.version = true,
        "--dry-run" => out.dry_run = true,
        "--full-window" => out.full_window = true,
        a if a.starts_with("--") => {
            let (name, inline) = match a[2..].split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (&a[2..], None),
            };
            let Some(s) = settings::find(name) else {
                return Err(Error::config(format!(
                    "unknown option --{name} (see --help)"
                )));
            };
            let value = match inline {
                Some(v) => Some(v),
                None => rest.next().map(|(v, place)| text(v, place)).transpose()?,
            };
            // An empty value is a mistake, not "unset": `--apikey=` must not send "".
            let value = value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                Error::config(format!("--{name} needs a value: --{name} {}", s.value))
            })?;
            out.options.push((s, value.to_string()));
        }
        a if a.starts_with('-') && a.len() > 1 => {
            return Err(Error::config(format!("unknown option {a} (see --help)")));
        }
        a if out.command.is_none() => out.command = Some(a.to_string()),
        a => {
            return Err(Error::config(format!(
                "unexpected argument {a:?} (see --help)"
            )));
        }
    }
    Ok(out.help || out.version)
}

/// The argument at `place` as text; one that is not UTF-8 is named by its place, not shown.
fn text(arg: &OsStr, place: usize) -> Result<&str> {
    arg.to_str().ok_or_else(|| {
        Error::config(format!(
            "argument {place} is not UTF-8 text; cw2mackerel reads its arguments as UTF-8"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz() {
        crate::fuzz_tests::fuzz(
            "arguments",
            &[b"run --lookback 5m --tag=a=b --dry-run"],
            |b| {
                let args: Vec<OsString> = String::from_utf8_lossy(b)
                    .split(' ')
                    .map(OsString::from)
                    .collect();
                parse(&args).map_or(0, |a| a.options.len())
            },
        );
    }

    fn parse_strs(args: &[&str]) -> std::result::Result<Args, Unreadable> {
        parse(&args.iter().map(OsString::from).collect::<Vec<_>>())
    }

    #[test]
    fn tokens() {
        let a = parse_strs(&["run", "--lookback", "5m", "--service=web", "--dry-run"]).unwrap();
        assert_eq!(a.command.as_deref(), Some("run"));
        assert!(a.dry_run);
        let opts: Vec<(&str, &str)> = a
            .options
            .iter()
            .map(|(s, v)| (s.flag, v.as_str()))
            .collect();
        assert_eq!(opts, [("lookback", "5m"), ("service", "web")]);
        assert!(parse_strs(&["run", "--bogus"]).is_err());
        assert!(parse_strs(&["run", "--service"]).is_err());
        assert!(parse_strs(&["run", "--apikey="]).is_err());
        assert!(parse_strs(&["run", "--apikey", " "]).is_err());
        assert!(parse_strs(&["run", "-x"]).is_err());
        assert!(parse_strs(&["run", "list"]).is_err());
        assert!(
            parse_strs(&["run", "--nope", "--help"]).is_err(),
            "in order"
        );
        assert!(parse_strs(&["--help", "--nope"]).unwrap().help);
    }

    #[test]
    fn an_argument_that_is_not_utf8_is_named_by_its_place() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(b"caf\xe9".to_vec());
        for (args, place) in [
            (vec!["run".into(), bad.clone()], 2),
            (vec![bad.clone(), "run".into()], 1),
            (vec!["run".into(), "--service".into(), bad.clone()], 3),
        ] {
            let e = parse(&args).unwrap_err().error;
            assert_eq!(
                e.to_string(),
                format!(
                    "argument {place} is not UTF-8 text; cw2mackerel reads its arguments as UTF-8"
                )
            );
            assert_eq!(e.exit_code(), 2);
        }
    }

    #[test]
    fn the_log_format_is_read_past_a_mistake() {
        let format = |args: &[&str]| parse_strs(args).unwrap_err().log_format;
        assert_eq!(
            format(&["run", "--nope", "--log-format", "json"]).as_deref(),
            Some("json")
        );
        assert_eq!(
            format(&[
                "--log-format=text",
                "run",
                "x",
                "--log-format=json",
                "--help"
            ])
            .as_deref(),
            Some("json"),
            "the last one, as a setting's last option wins"
        );
        assert_eq!(format(&["run", "--nope"]), None);
        assert_eq!(
            parse_strs(&["run", "--nope", "--log-format", "json"])
                .unwrap_err()
                .error
                .to_string(),
            "unknown option --nope (see --help)",
            "the first mistake is the one named"
        );
    }
}
