//! The command line, tokenized: a command word, `--dry-run`, and `--option value` or
//! `--option=value` pairs for the settings of [`super::settings`]. Nothing is interpreted here.

use super::settings::{self, Setting};
use crate::error::{Error, Result};

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

/// Tokenizes `args` (without the program name). `--help` or `--version` anywhere wins.
pub fn parse(args: &[String]) -> Result<Args> {
    let mut out = Args::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" | "help" => {
                out.help = true;
                return Ok(out);
            }
            "-V" | "--version" => {
                out.version = true;
                return Ok(out);
            }
            "--dry-run" => out.dry_run = true,
            "--full-window" => out.full_window = true,
            a if a.starts_with("--") => {
                let (name, inline) = match a[2..].split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (&a[2..], None),
                };
                let Some(s) = settings::find(name) else {
                    return Err(Error::config(format!(
                        "unknown option --{name} (see --help)"
                    )));
                };
                let value = match inline {
                    Some(v) => Some(v),
                    None => args.next().cloned(),
                };
                // An empty value is a mistake, not "unset": `--apikey=` must not send "".
                let value = value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    Error::config(format!("--{name} needs a value: --{name} {}", s.value))
                })?;
                out.options.push((s, value));
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
    }
    Ok(out)
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
                let args: Vec<String> = String::from_utf8_lossy(b)
                    .split(' ')
                    .map(str::to_string)
                    .collect();
                parse(&args).map_or(0, |a| a.options.len())
            },
        );
    }

    fn parse_strs(args: &[&str]) -> Result<Args> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
}
