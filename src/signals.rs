//! Shutdown for the daemon: SIGTERM and SIGINT ask the cycle in flight to finish and the
//! daemon to exit 0. The cycle stops retrying at once, and if it still runs after a grace
//! period (a request can hang until its timeout), SIGALRM ends the process with status 0.
//!
//! A few libc calls instead of a crate: the binary links libc anyway, and the handlers only
//! touch an atomic and async-signal-safe functions (`alarm`, `write`, `_exit`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Seconds the cycle in flight gets after the first stop signal.
pub const GRACE_SECS: u32 = 5;

const SIGINT: i32 = 2;
const SIGALRM: i32 = 14;
const SIGTERM: i32 = 15;

static STOP: AtomicBool = AtomicBool::new(false);
/// The line written when the grace period runs out, rendered before any signal can come.
static LAST_WORDS: OnceLock<Vec<u8>> = OnceLock::new();

unsafe extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn alarm(seconds: u32) -> u32;
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    fn _exit(status: i32) -> !;
}

extern "C" fn on_stop(_: i32) {
    if !STOP.swap(true, Ordering::SeqCst) {
        // SAFETY: alarm is async-signal-safe.
        unsafe { alarm(GRACE_SECS) };
    }
}

extern "C" fn on_alarm(_: i32) {
    if let Some(line) = LAST_WORDS.get() {
        // SAFETY: write is async-signal-safe; the buffer lives for the whole process.
        unsafe { write(2, line.as_ptr(), line.len()) };
    }
    // SAFETY: _exit is async-signal-safe and ends the process without running Rust code.
    unsafe { _exit(0) }
}

/// Installs the handlers; `last_words` is logged if the grace period runs out.
pub fn install(last_words: String) {
    let _ = LAST_WORDS.set(format!("{last_words}\n").into_bytes());
    // SAFETY: the handlers are `extern "C" fn(i32)` that only do async-signal-safe work.
    unsafe {
        signal(SIGTERM, on_stop);
        signal(SIGINT, on_stop);
        signal(SIGALRM, on_alarm);
    }
}

/// Whether a stop signal came.
pub fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}
