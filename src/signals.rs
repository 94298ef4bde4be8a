//! Shutdown for `daemon` and `run`: SIGTERM, SIGINT and SIGHUP ask the cycle in flight to end
//! and the process to exit. Every wait (a `Retry-After`, a backoff, the state file's lock, the
//! daemon's sleep between cycles) sleeps through [`sleep_until`], which the signal cuts short
//! at once; no retry begins after it, and the cycle ends with its summary line and its state
//! write. If the process still runs after a grace period (a request can hang until its
//! timeout), SIGALRM ends it.
//!
//! SIGHUP stops the process like SIGTERM: cw2mackerel reads its configuration once and has
//! nothing to reload, so a hang-up ends it and the orchestrator's restart reads the new
//! configuration, where ignoring it would leave the old one running unseen.
//!
//! It also ends a child's process group (a `credential_process` that overran), which the
//! standard library cannot do.
//!
//! The one module with `unsafe`: the handlers are installed through the `libc` crate and only
//! touch atomics and async-signal-safe functions (`alarm`, `write`, `_exit`). Everywhere else
//! `unsafe_code` is denied (Cargo.toml's `[lints]`).
#![allow(unsafe_code)]

use crate::log;
use serde_json::json;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Instant;

/// Seconds the cycle in flight gets after the first stop signal.
pub const GRACE_SECS: u32 = 5;

static STOP: AtomicBool = AtomicBool::new(false);
/// The first stop signal that came.
static SIGNAL: AtomicI32 = AtomicI32::new(0);
/// The write end of the pipe that wakes [`sleep_until`]; -1 until [`install`].
static WAKE: AtomicI32 = AtomicI32::new(-1);
/// Its read end, polled by [`sleep_until`].
static WOKEN: AtomicI32 = AtomicI32::new(-1);
/// The line written when the grace period runs out, rendered before any signal can come.
static LAST_WORDS: OnceLock<Vec<u8>> = OnceLock::new();
/// The exit status when the grace period runs out.
static LAST_STATUS: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_stop(signal: libc::c_int) {
    if !STOP.swap(true, Ordering::SeqCst) {
        SIGNAL.store(signal, Ordering::SeqCst);
        let fd = WAKE.load(Ordering::SeqCst);
        // SAFETY: alarm and write are async-signal-safe; a full or closed pipe only makes the
        // write fail, and the sleeper wakes on the flag anyway.
        unsafe {
            libc::alarm(GRACE_SECS);
            if fd >= 0 {
                libc::write(fd, [1u8].as_ptr().cast(), 1);
            }
        }
    }
}

extern "C" fn on_alarm(_: libc::c_int) {
    if let Some(line) = LAST_WORDS.get() {
        // SAFETY: write is async-signal-safe; the buffer lives for the whole process.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: _exit is async-signal-safe and ends the process without running Rust code.
    unsafe { libc::_exit(LAST_STATUS.load(Ordering::SeqCst)) }
}

/// Installs the handlers. If a stop signal comes and `what` (the daemon, a run) has not ended
/// [`GRACE_SECS`] later, a warning in `format` says so and the process exits with `status`.
pub fn install(format: log::Format, what: &str, status: i32) {
    let _ = LAST_WORDS.set(
        format!(
            "{}\n",
            log::render(
                format,
                None,
                log::Level::Warn,
                &format!("stop deadline passed; exiting with the {what} unfinished"),
                &[("grace_s", json!(GRACE_SECS))],
            )
        )
        .into_bytes(),
    );
    LAST_STATUS.store(status, Ordering::SeqCst);
    let mut fds = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given. Close-on-exec keeps
    // them from children; non-blocking keeps the handler's write from ever blocking.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } == 0 {
        WOKEN.store(fds[0], Ordering::SeqCst);
        WAKE.store(fds[1], Ordering::SeqCst);
    }
    let stop = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let alarm = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handlers are `extern "C" fn(c_int)` that only do async-signal-safe work.
    unsafe {
        libc::signal(libc::SIGTERM, stop);
        libc::signal(libc::SIGINT, stop);
        libc::signal(libc::SIGHUP, stop);
        libc::signal(libc::SIGALRM, alarm);
    }
}

/// Kills process group `group`: a child started as the leader of its own group, and whatever
/// it started.
pub fn kill_group(group: u32) {
    if let Ok(group) = libc::pid_t::try_from(group) {
        // SAFETY: kill only sends a signal; a group already gone makes it fail harmlessly.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// Whether a stop signal came.
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The name of the stop signal that came, if one did.
pub fn stopped_by() -> Option<&'static str> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGTERM => Some("SIGTERM"),
        libc::SIGINT => Some("SIGINT"),
        libc::SIGHUP => Some("SIGHUP"),
        _ => Some("a signal"),
    }
}

/// Sleeps until `until`, or less: a stop signal ends the sleep at once. `false` if one came
/// (before the call too). Without [`install`] it is a plain sleep.
pub fn sleep_until(until: Instant) -> bool {
    loop {
        if stopping() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        // The handler sets the flag before it writes the pipe, so a signal between the look
        // at the flag and the poll still wakes the poll.
        let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        let mut fd = libc::pollfd {
            fd: WOKEN.load(Ordering::SeqCst),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call; a negative fd (no pipe) is ignored by poll,
        // which then only sleeps. EINTR just loops.
        unsafe { libc::poll(&mut fd, 1, ms) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_sleep_without_a_signal_lasts() {
        let started = Instant::now();
        assert!(sleep_until(started + Duration::from_millis(50)));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(sleep_until(started));
    }
}
