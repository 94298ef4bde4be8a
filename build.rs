//! Tells the binary which commit and target it was built from, for `--version`.
//!
//! The commit is `CW2MACKEREL_COMMIT` when set (a build from a source tarball, or one that
//! wants to name its commit itself), else `git rev-parse --short HEAD` when git and the
//! repository are there, else `unknown`. The build script reruns when HEAD or the branch it
//! points at moves, so a new commit never ships with the old hash.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The static builds link with it (Makefile): a change must relink them.
    println!("cargo:rerun-if-changed=static.ld");
    println!("cargo:rerun-if-env-changed=CW2MACKEREL_COMMIT");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=CW2MACKEREL_TARGET={target}");
    let commit = std::env::var("CW2MACKEREL_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CW2MACKEREL_COMMIT={}", commit.trim());
}

/// The short hash of HEAD, and the files whose change means HEAD moved.
fn git_commit() -> Option<String> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    // Only this project's own repository: sources unpacked inside another one have no commit.
    let top = PathBuf::from(git(&dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    // HEAD itself, the branch it names, and packed-refs (where a branch lives after `git gc`);
    // in a worktree these sit in different directories, which `--git-path` resolves. A path
    // that does not exist is left out: cargo would rerun the script on every build.
    for name in ["HEAD", "packed-refs"] {
        watch(&dir, &git(&dir, &["rev-parse", "--git-path", name])?);
    }
    if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        watch(&dir, &git(&dir, &["rev-parse", "--git-path", &branch])?);
    }
    git(&dir, &["rev-parse", "--short", "HEAD"])
}

fn watch(dir: &Path, path: &str) {
    let path = dir.join(path);
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `git ARGS` in `dir`, its trimmed stdout when it succeeded with some.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
