//! Shutdown for the daemon: SIGTERM and SIGINT ask the cycle in flight to finish and the
//! daemon to exit 0. The cycle stops retrying at once, and if it still runs after a grace
//! period (a request can hang until its timeout), SIGALRM ends the process with status 0.
//!
//! It also ends a child's process group (a `credential_process` that overran), which the
//! standard library cannot do.
//!
//! The one module with `unsafe`: the handlers are installed through the `libc` crate and only
//! touch an atomic and async-signal-safe functions (`alarm`, `write`, `_exit`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Seconds the cycle in flight gets after the first stop signal.
pub const GRACE_SECS: u32 = 5;

static STOP: AtomicBool = AtomicBool::new(false);
/// The line written when the grace period runs out, rendered before any signal can come.
static LAST_WORDS: OnceLock<Vec<u8>> = OnceLock::new();

extern "C" fn on_stop(_: libc::c_int) {
    if !STOP.swap(true, Ordering::SeqCst) {
        // SAFETY: alarm is async-signal-safe.
        unsafe { libc::alarm(GRACE_SECS) };
    }
}

extern "C" fn on_alarm(_: libc::c_int) {
    if let Some(line) = LAST_WORDS.get() {
        // SAFETY: write is async-signal-safe; the buffer lives for the whole process.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    }
    // SAFETY: _exit is async-signal-safe and ends the process without running Rust code.
    unsafe { libc::_exit(0) }
}

/// Installs the handlers; `last_words` is logged if the grace period runs out.
pub fn install(last_words: String) {
    let _ = LAST_WORDS.set(format!("{last_words}\n").into_bytes());
    let stop = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let alarm = on_alarm as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handlers are `extern "C" fn(c_int)` that only do async-signal-safe work.
    unsafe {
        libc::signal(libc::SIGTERM, stop);
        libc::signal(libc::SIGINT, stop);
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
