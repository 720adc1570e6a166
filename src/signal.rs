//! Ctrl-C as a flag the long-running commands poll, so producers can flush
//! and consumers commit before exiting 130. A second Ctrl-C exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::ExitCode;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGINT/SIGTERM handler. Failing to install it is not fatal:
/// the default action (terminate) still stops the process.
pub fn install() {
    let result = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(ExitCode::Interrupted.code());
        }
    });
    if let Err(e) = result {
        log::warn!("cannot install the Ctrl-C handler: {e}");
    }
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
