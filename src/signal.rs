//! Ctrl-C as a flag the long-running commands poll, so producers can report
//! what was acknowledged and consumers commit what was delivered before
//! exiting 130. The flag also caps every wait on a broker
//! (client::deadline), so that clean-up takes under a second whatever the
//! broker does. A second Ctrl-C exits at once.

use crate::client::deadline;
use crate::error::ExitCode;

/// Installs the SIGINT/SIGTERM handler. Failing to install it is not fatal:
/// the default action (terminate) still stops the process.
pub fn install() {
    let result = ctrlc::set_handler(|| {
        if deadline::interrupted() {
            std::process::exit(ExitCode::Interrupted.code());
        }
        deadline::interrupt();
    });
    if let Err(e) = result {
        log::warn!("cannot install the Ctrl-C handler: {e}");
    }
}

pub use deadline::interrupted;
