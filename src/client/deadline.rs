//! Time limits for every wait on a broker, and Ctrl-C as one more limit on
//! all of them: once the user interrupts, whatever is still waiting gets at
//! most `INTERRUPT_GRACE` more (enough for a healthy broker to answer a
//! commit), so the process exits within a second whatever the broker does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long clean-up (a last commit, a leave notice) may still take after
/// Ctrl-C before every wait gives up.
pub const INTERRUPT_GRACE: Duration = Duration::from_millis(600);

/// The longest slice a blocking wait sleeps before it looks at the clock
/// and the interrupt again.
pub const SLICE: Duration = Duration::from_millis(50);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static INTERRUPTED_AT: OnceLock<Instant> = OnceLock::new();

/// Records that the user asked to stop (called by the signal handler).
pub fn interrupt() {
    INTERRUPTED_AT.get_or_init(Instant::now);
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The moment every wait must be over because of an interrupt, if any.
fn interrupt_cap() -> Option<Instant> {
    if !interrupted() {
        return None;
    }
    INTERRUPTED_AT
        .get()
        .map(|at| at.checked_add(INTERRUPT_GRACE).unwrap_or(*at))
}

/// A point in time after which a wait fails. Built from a duration with
/// saturating arithmetic, so no duration can make it panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

/// Why a wait ended without its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The deadline itself passed.
    TimedOut,
    /// Ctrl-C, and its grace ran out.
    Interrupted,
}

impl Deadline {
    pub fn after(d: Duration) -> Deadline {
        let now = Instant::now();
        // About 30 years: far beyond any wait, and never an overflow.
        Deadline(
            now.checked_add(d)
                .or_else(|| now.checked_add(Duration::from_secs(1 << 30)))
                .unwrap_or(now),
        )
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Deadline) -> Deadline {
        Deadline(self.0.min(other.0))
    }

    /// Time left before this deadline or the interrupt cap, whichever is first.
    pub fn remaining(&self) -> Duration {
        let end = match interrupt_cap() {
            Some(cap) => self.0.min(cap),
            None => self.0,
        };
        end.saturating_duration_since(Instant::now())
    }

    /// Err once no time is left, saying whether time or the user ended it.
    pub fn check(&self) -> Result<Duration, Expired> {
        let left = self.remaining();
        if !left.is_zero() {
            return Ok(left);
        }
        if interrupt_cap().is_some_and(|cap| cap <= Instant::now()) {
            Err(Expired::Interrupted)
        } else {
            Err(Expired::TimedOut)
        }
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Sleeps up to `d`, waking early for the deadline (or the interrupt cap).
    pub fn sleep(&self, d: Duration) {
        let until = Instant::now() + d.min(self.remaining());
        loop {
            let left = until
                .saturating_duration_since(Instant::now())
                .min(self.remaining());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(SLICE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_durations_saturate_instead_of_panicking() {
        let d = Deadline::after(Duration::MAX);
        assert!(d.remaining() > Duration::from_secs(3600));
        assert!(Deadline::after(Duration::ZERO).expired());
        assert_eq!(
            Deadline::after(Duration::ZERO).check(),
            Err(Expired::TimedOut)
        );
    }

    #[test]
    fn the_earlier_deadline_wins() {
        let near = Deadline::after(Duration::from_millis(10));
        let far = Deadline::after(Duration::from_secs(10));
        assert_eq!(near.min(far), near);
        assert_eq!(far.min(near), near);
    }
}
