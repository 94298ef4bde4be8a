//! The shape of `src/`, checked: dependencies run one way through the layers the README's
//! architecture paragraph names, no import circle joins two source files, no file is over 500
//! lines, and `unsafe` lives in the signal module alone.
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

/// The code of a file without comments and without its unit tests.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            // A test module in a file of its own (`mod tests;`) is skipped; one inline ends
            // the code.
            match lines.peek().map(|l| l.trim()) {
                Some(m) if m.starts_with("mod ") && m.ends_with(';') => {
                    lines.next();
                    continue;
                }
                _ => break,
            }
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out += line;
        out.push('\n');
    }
    out
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
        ("session", "presets::cloudfront"),
        ("aws::client", "aws::credentials"),
        ("aws::cloudfront", "aws::client"),
        ("jobs", "jobs::cloudfront"),
        ("presets::cloudfront", "jobs"),
        ("main", "cli"),
        ("main", "daemon"),
        ("cli", "jobs::file"),
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
