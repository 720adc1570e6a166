//! The one retry policy: failures a broker coming back would cure (lost or
//! refused connections, timeouts, a moved leader or coordinator) are tried
//! again with a growing backoff until a window runs out, quietly at first
//! and with one warning if the trouble lasts.

use std::time::{Duration, Instant};

use crate::client::deadline::{interrupted, Deadline};
use crate::error::Error;

/// How long a command rides out an unreachable cluster before it gives up
/// (docs/reliability.md): longer than a ZooKeeper session (6 s in the
/// cluster scripts, 18 s by default) or a KRaft broker session (9 s) plus
/// an election and a coordinator's load.
pub const RETRY_FOR: Duration = Duration::from_secs(30);

/// Trouble shorter than this is logged at info level only (a new topic's
/// leaders settling is no news).
const QUIET: Duration = Duration::from_millis(1500);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Our errors that a broker coming back would cure.
pub fn retriable(e: &Error) -> bool {
    matches!(
        e,
        Error::Unreachable { .. } | Error::Timeout { .. } | Error::Protocol { .. }
    )
}

/// One operation's retries.
pub struct Retry {
    deadline: Deadline,
    since: Instant,
    backoff: Duration,
    warned: bool,
}

impl Retry {
    pub fn within(window: Duration) -> Retry {
        Retry {
            deadline: Deadline::after(window),
            since: Instant::now(),
            backoff: FIRST_BACKOFF,
            warned: false,
        }
    }

    /// After a failure (`why`) a retry may cure: waits out the backoff and
    /// says whether to try again (false once the window is spent or on Ctrl-C).
    pub fn again(&mut self, why: &dyn std::fmt::Display) -> bool {
        if interrupted() || self.deadline.remaining() <= self.backoff {
            return false;
        }
        if !self.warned && self.since.elapsed() >= QUIET {
            self.warned = true;
            log::warn!("{why}; retrying");
        } else {
            log::info!("{why}; retrying");
        }
        self.deadline.sleep(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        !interrupted()
    }

    /// Whether the trouble lasted long enough to have been reported.
    pub fn warned(&self) -> bool {
        self.warned
    }
}
