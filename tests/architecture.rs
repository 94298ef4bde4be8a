//! The shape of `src/`, checked: dependencies run one way through the layers the README's
//! architecture paragraph names, no import circle joins two source files, no file is over 500
//! lines, and `unsafe` lives in the signal module alone. The seams too: no `Result<_, String>`
//! crosses a module boundary and no `Debug` output makes an identity (each but for counted
//! allowances that only shrink), and nothing the tests, `make`, CI or the benchmarks run
//! reads outside the repository. Each check has a test of its own parsing.
// A test's unwrap is its assertion: the lints that deny them in src/ do not apply here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's layer, highest first: a module may import its own layer or lower.
const LAYERS: &[(u8, &str, &[&str])] = &[
    (6, "commands", &["main", "cli", "daemon", "lambda", "list"]),
    (
        5,
        "session/pipeline",
        &[
            "session", "discover", "plan", "fetch", "map", "post", "dry_run", "hosts", "record",
            "state",
        ],
    ),
    (4, "presets", &["presets"]),
    (3, "job model", &["config", "jobs"]),
    (2, "clients", &["aws", "mackerel"]),
    (
        1,
        "base",
        &[
            "transport",
            "retry",
            "url",
            "xml",
            "clock",
            "error",
            "fault",
            "log",
            "files",
            "signals",
        ],
    ),
];

const MAX_LINES: usize = 500;

fn layer(module: &str) -> (u8, &'static str) {
    let top = module.split("::").next().unwrap();
    LAYERS
        .iter()
        .find(|(_, _, mods)| mods.contains(&top))
        .map(|(rank, name, _)| (*rank, *name))
        .unwrap_or_else(|| panic!("module {module} is in no layer: add it to LAYERS"))
}

/// Every source file with its module path (`aws::client`; `main` for the crate root).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            (parts.join("::"), f)
        })
        .collect()
}

/// The code of a file without comments, string contents or its unit tests (a `#[cfg(test)]`
/// item, wherever it stands).
fn code(text: &str) -> String {
    without_tests(text, &scrub(text, false))
}

/// The code of a file without comments or unit tests, string literals kept.
fn code_with_strings(text: &str) -> String {
    without_tests(text, &scrub(text, true))
}

/// `view` (a [`scrub`] of `text`, line for line) without the lines of `#[cfg(test)]` items:
/// the item after the attribute, to the `;` or the brace that closes it.
fn without_tests(text: &str, view: &str) -> String {
    let blank = scrub(text, false);
    let blank: Vec<&str> = blank.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    let lines: Vec<&str> = view.lines().collect();
    while i < lines.len() {
        if blank[i].trim() != "#[cfg(test)]" {
            out += lines[i];
            out.push('\n');
            i += 1;
            continue;
        }
        let mut depth = 0i32;
        let mut opened = false;
        i += 1;
        while i < lines.len() {
            for c in blank[i].chars() {
                match c {
                    '{' => (depth, opened) = (depth + 1, true),
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            let line = blank[i].trim_end();
            i += 1;
            if (opened && depth <= 0) || (!opened && line.ends_with(';')) {
                break;
            }
        }
    }
    out
}

/// `text` with comments blanked, and string and character literals' contents too unless
/// `keep_strings`; every line keeps its place, so the two views of a file line up.
fn scrub(text: &str, keep_strings: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out += "  ";
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out += "  ";
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == '"' || (c == 'r' && matches!(next, Some('"' | '#')) && raw_start(&chars, i))
        {
            // A string: plain (with escapes) or raw (`r"…"`, `r#"…"#`).
            let (mut hashes, raw) = (0, c == 'r');
            if raw {
                out.push('r');
                i += 1;
                while chars[i] == '#' {
                    hashes += 1;
                    out.push('#');
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
            while i < chars.len() {
                let d = chars[i];
                let closes = d == '"' && (0..hashes).all(|h| chars.get(i + 1 + h) == Some(&'#'));
                if closes {
                    out.push('"');
                    out.extend(std::iter::repeat_n('#', hashes));
                    i += 1 + hashes;
                    break;
                }
                let width = if d == '\\' && !raw { 2 } else { 1 };
                for &d in &chars[i..(i + width).min(chars.len())] {
                    out.push(if keep_strings { d } else { blank(d) });
                }
                i += width;
            }
        } else if c == '\'' && char_literal(&chars, i) {
            // `'x'`, `'\''`, `'\\'`, `'\u{41}'`: the closing quote follows the escape.
            let end = match chars[i + 1] {
                '\\' if chars.get(i + 2) == Some(&'u') => (i + 3..chars.len())
                    .find(|&k| chars[k] == '}')
                    .map_or(i, |k| k + 1),
                '\\' => i + 3,
                _ => i + 2,
            };
            out.push('\'');
            for &d in &chars[i + 1..end.min(chars.len())] {
                out.push(if keep_strings { d } else { ' ' });
            }
            out.push('\'');
            i = end + 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `i` starts a raw string (`r"`, `r#"`, `br#"`), not a name's end.
fn raw_start(chars: &[char], i: usize) -> bool {
    let word = |k: usize| chars[k].is_alphanumeric() || chars[k] == '_';
    let prefixed = i > 0 && matches!(chars[i - 1], 'b' | 'c') && (i == 1 || !word(i - 2));
    let after_name = i > 0 && word(i - 1) && !prefixed;
    let mut k = i + 1;
    while chars.get(k) == Some(&'#') {
        k += 1;
    }
    !after_name && chars.get(k) == Some(&'"')
}

/// Whether the `'` at `i` opens a character literal (`'a'`, `'\n'`, `'\u{41}'`), not a
/// lifetime (`'a`, `'static`).
fn char_literal(chars: &[char], i: usize) -> bool {
    matches!(
        (chars.get(i + 1), chars.get(i + 2)),
        (Some('\\'), _) | (Some(_), Some('\''))
    )
}

/// The paths a file names: every `use` tree expanded, and every `a::b` path in its code
/// (which may start with a module a `use` brought in).
fn paths(code: &str) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mut uses = Vec::new();
    let mut rest = code;
    let mut body = String::new();
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        body += &rest[..i];
        rest = &rest[i + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        let tree: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
        expand(&tree, &mut Vec::new(), &mut uses);
        rest = &rest[end..];
    }
    body += rest;
    let mut inline = Vec::new();
    let bytes = body.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if word(bytes[i]) && (i == 0 || !(word(bytes[i - 1]) || bytes[i - 1] == b':')) {
            let start = i;
            while i < bytes.len() && (word(bytes[i]) || bytes[i] == b':') {
                i += 1;
            }
            let text = &body[start..i];
            if text.contains("::") {
                inline.push(
                    text.split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                );
            }
        } else {
            i += 1;
        }
    }
    (uses, inline)
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e` (`self` names the prefix itself).
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim_start_matches("::");
    match tree.find('{') {
        Some(open) if tree.ends_with('}') => {
            let head: Vec<String> = tree[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            let n = prefix.len();
            prefix.extend(head);
            let inner = &tree[open + 1..tree.len() - 1];
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], prefix, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&inner[start..], prefix, out);
            prefix.truncate(n);
        }
        _ => {
            let item = tree.split(" as ").next().unwrap_or(tree);
            let mut path = prefix.clone();
            for seg in item.split("::").filter(|s| !s.is_empty()) {
                if seg != "self" {
                    path.push(seg.to_string());
                }
            }
            if !path.is_empty() {
                out.push(path);
            }
        }
    }
}

/// The module a path names, seen from `from`: the longest module prefix, or `None` for a
/// path outside the crate.
fn resolve(from: &str, path: &[String], known: &BTreeMap<String, PathBuf>) -> Option<String> {
    let here: Vec<&str> = match from {
        "main" => vec![],
        m => m.split("::").collect(),
    };
    let mut abs: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => path[1..].to_vec(),
        Some("super") => {
            let mut base: Vec<String> = here.iter().map(|s| s.to_string()).collect();
            let mut p = path;
            while p.first().is_some_and(|s| s == "super") {
                base.pop();
                p = &p[1..];
            }
            base.extend(p.iter().cloned());
            base
        }
        Some("self") => here
            .iter()
            .map(|s| s.to_string())
            .chain(path[1..].iter().cloned())
            .collect(),
        // A child module named without `self::`, or a top-level one from the crate root.
        Some(first) => {
            let child: Vec<String> = here
                .iter()
                .map(|s| s.to_string())
                .chain([first.to_string()])
                .collect();
            if known.contains_key(&child.join("::")) {
                here.iter()
                    .map(|s| s.to_string())
                    .chain(path.iter().cloned())
                    .collect()
            } else {
                return None;
            }
        }
        None => return None,
    };
    while !abs.is_empty() {
        let m = abs.join("::");
        if known.contains_key(&m) {
            return Some(m);
        }
        abs.pop();
    }
    None
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules();
    let mut edges = BTreeMap::new();
    for (module, file) in &known {
        if module.ends_with("tests") || module.ends_with("fuzz_tests") {
            continue;
        }
        let code = code(&std::fs::read_to_string(file).unwrap());
        let (uses, inline) = paths(&code);
        let mut deps = BTreeSet::new();
        // What a `use` names a module by (`use crate::jobs::{self}` → `jobs`).
        let mut aliases: BTreeMap<String, String> = BTreeMap::new();
        for p in &uses {
            if let Some(m) = resolve(module, p, &known) {
                if m.ends_with(p.last().unwrap().as_str()) {
                    aliases.insert(p.last().unwrap().clone(), m.clone());
                }
                deps.insert(m);
            }
        }
        for p in &inline {
            let m = match aliases.get(&p[0]) {
                Some(base) => {
                    let mut abs: Vec<String> = base.split("::").map(String::from).collect();
                    abs.extend(p[1..].iter().cloned());
                    abs.insert(0, "crate".into());
                    resolve(module, &abs, &known)
                }
                None => resolve(module, p, &known),
            };
            deps.extend(m);
        }
        deps.remove(module);
        edges.insert(module.clone(), deps);
    }
    edges
}

#[test]
fn dependencies_run_one_way_through_the_layers() {
    let mut wrong = Vec::new();
    for (from, deps) in graph() {
        let (rank, name) = layer(&from);
        for to in deps {
            let (to_rank, to_name) = layer(&to);
            if to_rank > rank {
                wrong.push(format!("{from} ({name}) imports {to} ({to_name})"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_import_circle_joins_two_files() {
    let edges = graph();
    // Depth-first search; a back edge closes a circle.
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        circles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == m) {
            let mut c = path[i..].to_vec();
            c.push(m);
            circles.push(c.join(" → "));
            return;
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for d in edges.get(m).into_iter().flatten() {
            visit(d, edges, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_checker_sees_imports() {
    // The checks above are only as good as the parsing: it must see these.
    let edges = graph();
    for (from, to) in [
        ("discover", "presets::cloudfront"),
        ("aws::client", "aws::credentials"),
        ("aws::cloudfront", "aws::client"),
        ("jobs", "jobs::cloudfront"),
        ("presets::cloudfront", "jobs"),
        ("main", "cli"),
        ("main", "daemon"),
        ("cli::build", "jobs::file"),
    ] {
        assert!(
            edges[from].contains(to),
            "{from} → {to} not seen: {:?}",
            edges[from]
        );
    }
    assert_eq!(
        resolve(
            "aws::sts",
            &["super".into(), "keys".into(), "Role".into()],
            &modules()
        ),
        Some("aws::keys".into())
    );
}

#[test]
fn no_file_is_over_500_lines_and_unsafe_is_in_signals_alone() {
    for (module, file) in modules() {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().count();
        assert!(lines <= MAX_LINES, "{} has {lines} lines", file.display());
        let code = code(&text);
        if module != "signals" {
            assert!(
                !code
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .any(|w| w == "unsafe"),
                "{} uses unsafe",
                file.display()
            );
        }
    }
}

/// Files whose functions still hand a bare `String` error across a module boundary, with how
/// many: a count may only go down; at zero the file leaves the list, and the list is empty
/// now: every failure that crosses a module boundary has a type.
const STRING_ERRORS_ALLOWED: &[(&str, usize)] = &[];

/// Files that format a `Debug` form into an identity (a hash, a fingerprint, a cache key),
/// with how many times: renaming a field then changes the identity, and a user's state file
/// with it. The count may only go down; none is left.
const DEBUG_IDENTITIES_ALLOWED: &[(&str, usize)] = &[];

/// The files of `src/` by their path from the repository (`src/aws/client.rs`).
fn source_files() -> Vec<(String, String)> {
    modules()
        .into_values()
        .map(|f| {
            let rel = f.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap();
            (
                rel.display().to_string(),
                std::fs::read_to_string(&f).unwrap(),
            )
        })
        .collect()
}

/// Checks `found` (file → the offending lines) against an allow-list that only shrinks.
fn within_allowance(what: &str, found: BTreeMap<String, Vec<String>>, allowed: &[(&str, usize)]) {
    let mut wrong = Vec::new();
    for (file, hits) in &found {
        let allowance = allowed
            .iter()
            .find(|(f, _)| f == file)
            .map_or(0, |(_, n)| *n);
        if hits.len() > allowance {
            wrong.push(format!(
                "{file}: {} {what} (allowed {allowance}):\n  {}",
                hits.len(),
                hits.join("\n  ")
            ));
        }
    }
    for (file, allowance) in allowed {
        let n = found.get(*file).map_or(0, Vec::len);
        if n < *allowance {
            wrong.push(format!(
                "{file}: {n} {what} now, fewer than the {allowance} allowed: lower its allowance"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The signatures of a file's `pub` functions (`pub`, `pub(crate)`, `pub(super)`): what may
/// be called from another module, from `fn` to the body.
fn pub_signatures(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("pub") {
        let before = rest[..i].chars().last();
        rest = &rest[i + 3..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut after = rest.trim_start();
        if after.starts_with('(') {
            after = after.split_once(')').map_or("", |(_, a)| a).trim_start();
        }
        for q in ["const ", "unsafe ", "extern \"C\" "] {
            after = after.strip_prefix(q).unwrap_or(after).trim_start();
        }
        if let Some(sig) = after.strip_prefix("fn ") {
            let end = sig.find(['{', ';']).unwrap_or(sig.len());
            out.push(sig[..end].split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out
}

/// Whether `text` names a `Result` whose error type is `String`.
fn string_error(text: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find("Result<") {
        let word_before = rest[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        rest = &rest[i + "Result<".len()..];
        if word_before {
            continue;
        }
        // The generic arguments up to the `>` that closes them, split at the top level.
        let (mut depth, mut args, mut arg) = (0, Vec::new(), String::new());
        for c in rest.chars() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' if depth == 0 => break,
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    args.push(std::mem::take(&mut arg));
                    continue;
                }
                _ => {}
            }
            arg.push(c);
        }
        args.push(arg);
        if args.len() == 2 && args[1].trim() == "String" {
            return true;
        }
    }
    false
}

#[test]
fn no_result_string_crosses_a_module_boundary() {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, text) in source_files() {
        for sig in pub_signatures(&code(&text)) {
            if string_error(&sig) {
                found.entry(file.clone()).or_default().push(sig);
            }
        }
    }
    within_allowance(
        "pub functions with a Result<_, String> (give the failure a type: fault::Invalid, fault::Undecodable, transport::Unanswered, error::Error)",
        found,
        STRING_ERRORS_ALLOWED,
    );
}

#[test]
fn the_string_error_check_sees_them() {
    let code = "pub fn a() -> Result<(), String> {}\npub(super) fn b(\n    x: u8,\n) -> Result<(Reply, Result<Vec<u8>, String>), E> {}\nfn private() -> Result<(), String> {}\npub fn c() -> Result<HashMap<String, String>> {}\npub fn d(f: &dyn Fn() -> Result<(), String>) {}\n";
    let hits: Vec<String> = pub_signatures(code)
        .into_iter()
        .filter(|s| string_error(s))
        .collect();
    assert_eq!(hits.len(), 3, "{hits:?}");
    assert!(hits[0].starts_with("a()") && hits[1].starts_with("b(") && hits[2].starts_with("d("));
}

/// The pieces of code (between `;`, `{` and `}`) of a file that make an identity out of
/// `Debug` output: a `format!` whose template has a `{…:?}` placeholder, in a piece whose code
/// (its strings aside) hashes, fingerprints or caches something, or binds it to a key (`let
/// key = format!(…)`, `let wanted = …`, kept to compare with the next time). `code` and
/// `blank` are the file with and without its strings.
fn debug_identities(code: &str, blank: &str) -> Vec<String> {
    const IDENTITY: [&str; 6] = ["fingerprint", "hash", "Hash", "Sha256", "digest", "cache"];
    const BOUND: [&str; 3] = ["key", "wanted", "id"];
    let (code, blank): (Vec<char>, Vec<char>) = (code.chars().collect(), blank.chars().collect());
    assert_eq!(code.len(), blank.len(), "the two views of a file line up");
    let mut out = Vec::new();
    let mut start = 0;
    for end in 0..=blank.len() {
        if end < blank.len() && !matches!(blank[end], ';' | '{' | '}') {
            continue;
        }
        let piece: String = code[start..end].iter().collect();
        let words: String = blank[start..end].iter().collect();
        start = end + 1;
        let debug = piece.split("format!(").skip(1).any(|rest| {
            rest.trim_start()
                .strip_prefix('"')
                .and_then(|t| t.split('"').next())
                .is_some_and(|template| template.contains(":?}"))
        });
        let bound = words
            .trim_start()
            .strip_prefix("let ")
            .and_then(|w| w.split_once('='))
            .is_some_and(|(name, value)| {
                let name = name.trim().trim_start_matches("mut ");
                value.trim_start().starts_with("format!")
                    && BOUND
                        .iter()
                        .any(|b| name == *b || name.ends_with(&format!("_{b}")))
            });
        if debug && (bound || IDENTITY.iter().any(|w| words.contains(w))) {
            out.push(piece.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    out
}

#[test]
fn no_debug_formatting_feeds_an_identity() {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, text) in source_files() {
        let hits = debug_identities(&code_with_strings(&text), &code(&text));
        if !hits.is_empty() {
            found.insert(file, hits);
        }
    }
    within_allowance(
        "Debug forms used as identities (hash a canonical serialization, or key by the value itself)",
        found,
        DEBUG_IDENTITIES_ALLOWED,
    );
}

#[test]
fn the_debug_identity_check_sees_them() {
    let text = concat!(
        "let key = format!(\n    \"{:?}\",\n    (ids, tags),\n);\n",
        "let fp = state::fingerprint(&[&format!(\"{jobs:?}\")]);\n",
        "let m = format!(\"{name:?} is not a key\");\n",
        "let v = settings.get(key).map(|v| format!(\"profile {:?}: {key}\", name));\n",
        "let to = format!(\"{:?}\", self.shown(location));\n",
        "hasher.update(format!(\"{x:?} and {y:?}\"));\n",
        "fn f() { let wanted = format!(\"{:?}\", specs); }\n",
    );
    let hits = debug_identities(&code_with_strings(text), &code(text));
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert!(hits[0].starts_with("let key") && hits[3].starts_with("let wanted"));
}

/// How a file is read for paths: Rust, Python, or shell-like (shell scripts, the Makefile,
/// JavaScript).
#[derive(Clone, Copy, PartialEq)]
enum Lang {
    Rust,
    Python,
    Shell,
}

/// The files the tests, the Makefile, CI and the benchmarks run, by their path from the
/// repository, with how to read them (documentation and recorded results aside).
fn harness_files() -> Vec<(String, Lang, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("Makefile")];
    for dir in ["tests", ".ci", "bench"] {
        walk(&root.join(dir), &mut files);
    }
    let mut out = Vec::new();
    for f in files {
        let ext = f.extension().map(|e| e.to_string_lossy().into_owned());
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let lang = match ext.as_deref() {
            Some("md" | "txt" | "json") => continue,
            Some("rs") => Lang::Rust,
            Some("py") => Lang::Python,
            _ if text.starts_with("#!") && text.lines().next().unwrap().contains("python") => {
                Lang::Python
            }
            _ => Lang::Shell,
        };
        let rel = f.strip_prefix(root).unwrap().display().to_string();
        out.push((rel, lang, text));
    }
    out
}

/// Where `path` (relative, `/`-separated) leads from `base` (a directory of the repository,
/// as its components): `None` when it climbs out of the repository.
fn inside(base: &[&str], path: &str) -> Option<usize> {
    let mut depth = base.len();
    for part in path.split('/') {
        match part {
            ".." if depth == 0 => return None,
            ".." => depth -= 1,
            "" | "." => {}
            _ => depth += 1,
        }
    }
    Some(depth)
}

/// The places of `text` (the file `file`, read as `lang`) that reach outside the repository:
/// a relative path climbing past its root (from the file's own directory for a script's
/// `$(dirname "$0")` or Python's `Path(__file__)`, from the root otherwise, where the tests,
/// `make` and the scripts run), or the root's parent.
fn outside_reads(file: &str, lang: Lang, text: &str) -> Vec<String> {
    let dir: Vec<&str> = file
        .rsplit_once('/')
        .map_or(vec![], |(d, _)| d.split('/').collect());
    let mut out = Vec::new();
    // Python: names bound to a directory from `__file__`, and how deep in the repository.
    let mut dirs: BTreeMap<String, usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |what: &str| format!("{file}:{}: {what}: {}", n + 1, line.trim());
        let path_call = [
            "join(",
            "Path::new(",
            "PathBuf::from(",
            "read_to_string(",
            "File::open(",
            "Command::new(",
            ".arg(",
            ".args(",
            "current_dir(",
            "include_str!(",
            "include_bytes!(",
            "Path(",
            "open(",
            "chdir(",
            "cwd=",
        ]
        .iter()
        .any(|c| line.contains(c));
        // Every `..` that is a step of a path (not a range, a slice or an ellipsis).
        let chars: Vec<char> = line.chars().collect();
        let mut done = 0;
        for i in 0..chars.len().saturating_sub(1) {
            let step = chars[i] == '.' && chars[i + 1] == '.' && i >= done;
            let before = i.checked_sub(1).map(|k| chars[k]);
            let after = chars.get(i + 2).copied();
            let starts = before.is_none_or(|c| "/\"' (=:".contains(c));
            let ends = after.is_none_or(|c| "/\"' )".contains(c));
            if !(step && starts && ends) {
                continue;
            }
            // The path around it.
            let is_path = |c: &char| c.is_alphanumeric() || "_-./".contains(*c);
            let from = (0..i)
                .rev()
                .take_while(|&k| is_path(&chars[k]))
                .last()
                .unwrap_or(i);
            let to = (i..chars.len())
                .take_while(|&k| is_path(&chars[k]))
                .last()
                .unwrap_or(i);
            let path: String = chars[from..=to].iter().collect();
            done = to + 1;
            // From the script's own directory (`$(dirname "$0")/..`, Node's `__dirname`), else
            // from the root.
            let before: String = chars[..from].iter().collect();
            let own_dir = before.ends_with("$(dirname \"$0\")")
                || before.ends_with("$(dirname $0)")
                || line.contains("__dirname");
            let base: &[&str] = if own_dir { &dir } else { &[] };
            let counts = match lang {
                Lang::Shell => true,
                Lang::Rust | Lang::Python => path_call,
            };
            if counts && inside(base, &path).is_none() {
                out.push(at(&format!("{path:?} climbs out of the repository")));
            }
        }
        let code: String = line.split_whitespace().collect();
        if lang == Lang::Rust
            && (code.contains("root().parent()") || code.contains("MANIFEST_DIR\")).parent()"))
        {
            out.push(at("the repository's parent"));
        }
        if lang == Lang::Python {
            python_parents(&code, dir.len(), &mut dirs, &mut || {
                out.push(at("climbs out of the repository"))
            });
        }
    }
    out
}

/// Python's `X.parent.parent` in `code` (one line, without blanks): `X` is `Path(__file__)`
/// (the file, one below its directory, at `file_depth` components from the root) or a name
/// `dirs` knows; a line `Y=X.parent…` teaches it `Y`. Calls `climbs` for a chain that climbs
/// past the root.
fn python_parents(
    code: &str,
    file_depth: usize,
    dirs: &mut BTreeMap<String, usize>,
    climbs: &mut dyn FnMut(),
) {
    let mut at = 0;
    while let Some(i) = code[at..].find(".parent").map(|i| i + at) {
        let mut ups = 0;
        let mut end = i;
        while code[end..].starts_with(".parent")
            && !code[end + 7..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            ups += 1;
            end += 7;
        }
        if ups == 0 {
            at = i + 7;
            continue;
        }
        let name_start = code[..i]
            .rfind(|c: char| !(c.is_alphanumeric() || "_().".contains(c)))
            .map_or(0, |k| k + 1);
        let name = &code[name_start..i];
        let depth = match name.trim_end_matches(".resolve()") {
            "Path(__file__)" => Some(file_depth + 1),
            n => dirs.get(n).copied(),
        };
        match depth.map(|d| d.checked_sub(ups)) {
            Some(None) => climbs(),
            Some(Some(d)) => {
                // `Y=<this chain>` and nothing more binds Y.
                if let Some((var, rhs)) = code.split_once('=')
                    && rhs == &code[name_start..end]
                    && var.chars().all(|c| c.is_alphanumeric() || c == '_')
                {
                    dirs.insert(var.to_string(), d);
                }
            }
            None => {}
        }
        at = end;
    }
}

#[test]
fn no_test_reads_outside_the_repository() {
    let mut found = Vec::new();
    // This file's own samples of what the check finds are not reads.
    for (file, lang, text) in harness_files()
        .into_iter()
        .filter(|(f, _, _)| f != "tests/architecture.rs")
    {
        found.extend(outside_reads(&file, lang, &text));
    }
    assert!(
        found.is_empty(),
        "a clone with nothing beside it must run everything; these reach outside it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_outside_check_sees_them() {
    let rust = concat!(
        "let server = root().join(\"../shared/peers/moto-server\");\n",
        "let up = root().parent().unwrap();\n",
        "let fixtures = root().join(\"tests/peers/../../fixtures\");\n",
        "let evil = json!({\"id\": \"../../services/cdn/tsdb\"});\n",
        "for i in 0..n {}\n",
    );
    let hits = outside_reads("tests/x.rs", Lang::Rust, rust);
    assert_eq!(hits.len(), 2, "{hits:#?}");
    let shell = "cd \"$(dirname \"$0\")/..\"\ncd \"$(dirname \"$0\")/../..\"\nls ../x\n";
    let hits = outside_reads(".ci/run", Lang::Shell, shell);
    assert_eq!(hits.len(), 2, "{hits:#?}");
    let python = concat!(
        "HERE = Path(__file__).resolve().parent\n",
        "ROOT = HERE.parent.parent\n",
        "OUT = ROOT.parent / \"shared\"\n",
        "if seg == \"..\":\n",
        "p = Path(\"../x\")\n",
    );
    let hits = outside_reads("tests/peers/demo.py", Lang::Python, python);
    assert_eq!(hits.len(), 2, "{hits:#?}");
}
