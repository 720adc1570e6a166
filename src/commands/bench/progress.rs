//! A one-line progress bar on stderr for benchmark runs that last: drawn
//! only on a terminal, never with `-q`, and only once a run has gone on for
//! a couple of seconds, so short runs and pipes stay clean.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Runs shorter than this never show a bar.
const SHOW_AFTER: Duration = Duration::from_secs(2);
const REDRAW_EVERY: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

pub struct Progress {
    enabled: bool,
    start: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            start: Instant::now(),
            last: None,
            shown: false,
        }
    }

    /// Restarts the clock that decides when the bar appears.
    pub fn restart(&mut self) {
        self.start = Instant::now();
    }

    /// Draws `done` of `total` with a note such as the current rate.
    pub fn update(&mut self, done: f64, total: f64, note: &str) {
        if !self.enabled || self.start.elapsed() < SHOW_AFTER {
            return;
        }
        if self.last.is_some_and(|t| t.elapsed() < REDRAW_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let fraction = if total > 0.0 {
            (done / total).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let filled = (fraction * WIDTH as f64).round() as usize;
        let mut err = std::io::stderr().lock();
        // A failing stderr only loses the bar.
        let _ = write!(
            err,
            "\r\x1b[K[{}{}] {:3.0}% {note}",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled),
            fraction * 100.0
        );
        let _ = err.flush();
        self.shown = true;
    }

    /// Erases the bar, if one was drawn.
    pub fn finish(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
