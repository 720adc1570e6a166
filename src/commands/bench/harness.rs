//! What the measuring subcommands the scripts call (`bench compare`,
//! `bench top-cost`) share: progress lines on a checked stdout, a file's
//! error naming the file, and stopping at Ctrl-C between two measurements
//! (or during a pause) rather than in the middle of one.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::signal;

/// One line on stdout; a closed stdout ends the run (Error::Output).
pub fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

/// Err(Interrupted) once Ctrl-C was pressed.
pub fn interrupted() -> Result<()> {
    if signal::interrupted() {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// Waits `d` (a measured stretch of time, or the broker settling), cut
/// short by Ctrl-C.
pub fn pause(d: Duration) -> Result<()> {
    pause_until(Instant::now() + d)
}

/// Waits until `t`, cut short by Ctrl-C.
pub fn pause_until(t: Instant) -> Result<()> {
    loop {
        interrupted()?;
        let left = t.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

pub fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Data {
        message: format!("{}: {e}", path.display()),
        hint: None,
    }
}
