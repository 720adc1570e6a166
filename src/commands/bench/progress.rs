//! A one-line progress bar on stderr for benchmark runs that last, drawn by
//! `indicatif`: only on a terminal, never with `-q`, and only once a run has
//! gone on for a couple of seconds, so short runs and pipes stay clean.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Runs shorter than this never show a bar.
const SHOW_AFTER: Duration = Duration::from_secs(2);
/// Redraws per second at most.
const REDRAWS_PER_SECOND: u8 = 10;
/// The bar's resolution: positions are thousandths of the run.
const STEPS: u64 = 1000;

pub struct Progress {
    enabled: bool,
    start: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            start: Instant::now(),
            bar: None,
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
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(
                Some(STEPS),
                ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SECOND),
            );
            // A fixed template; were it refused, indicatif's default style.
            if let Ok(style) = ProgressStyle::with_template("[{bar:30}] {percent:>3}% {msg}") {
                bar.set_style(style.progress_chars("## "));
            }
            bar
        });
        let fraction = if total > 0.0 {
            (done / total).clamp(0.0, 1.0)
        } else {
            0.0
        };
        bar.set_message(note.to_string());
        bar.set_position((fraction * STEPS as f64).round() as u64);
    }

    /// Erases the bar, if one was drawn.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
