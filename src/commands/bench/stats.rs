//! Latency histograms for the benchmarks, kept by `hdrhistogram` (the HDR
//! histogram the Java and Go benchmark tools use): bounded memory whatever the
//! run length, three significant digits, exact maximum. This wrapper only
//! fixes the unit (microseconds) and the reports' milliseconds.

use std::time::Duration;

/// Significant decimal digits kept: values within 0.1 % of the truth.
const SIGNIFICANT_DIGITS: u8 = 3;

#[derive(Debug, Clone)]
pub struct Histogram {
    /// None only if the crate refused `SIGNIFICANT_DIGITS` (it takes 0 to
    /// 5): the quantiles then read 0 and the maximum stays exact.
    inner: Option<hdrhistogram::Histogram<u64>>,
    /// The largest value as recorded (the crate's `max` is its bucket's top).
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            // Grows its range as larger values come (auto-resize).
            inner: hdrhistogram::Histogram::new(SIGNIFICANT_DIGITS).ok(),
            max: 0,
        }
    }

    /// Counts one value, in microseconds.
    pub fn record_micros(&mut self, v: u64) {
        self.max = self.max.max(v);
        // Auto-resize takes any u64 but the very top (beyond 2^63 µs, some
        // 290,000 years): saturate there rather than fail.
        if let Some(h) = &mut self.inner {
            if h.record(v).is_err() {
                let _ = h.record(h.high());
            }
        }
    }

    pub fn record(&mut self, d: Duration) {
        self.record_micros(d.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn merge(&mut self, other: &Histogram) {
        // Both auto-resize, so adding cannot run out of range.
        if let (Some(h), Some(o)) = (&mut self.inner, &other.inner) {
            let _ = h.add(o);
        }
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.inner.as_ref().map_or(0, |h| h.len())
    }

    /// The value at quantile `q` (0 < q ≤ 1), in microseconds; 0 when empty.
    pub fn quantile_micros(&self, q: f64) -> u64 {
        match &self.inner {
            Some(h) if !h.is_empty() => h.value_at_quantile(q).min(self.max),
            _ => 0,
        }
    }

    /// The quantile in milliseconds, for reports.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.quantile_micros(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.max as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record_micros(v);
        }
        assert_eq!(h.quantile_micros(0.5), 500);
        assert_eq!(h.quantile_micros(0.99), 990);
        assert_eq!(h.max_ms(), 1.0);
        assert_eq!(h.quantile_micros(1.0), 1000);
        let mut other = Histogram::new();
        other.record_micros(5000);
        h.merge(&other);
        assert_eq!((h.count(), h.max_ms()), (1001, 5.0));
        assert_eq!(Histogram::new().quantile_micros(0.5), 0);
    }

    #[test]
    fn large_values_stay_close_and_the_maximum_exact() {
        let mut h = Histogram::new();
        h.record(Duration::from_secs(3600));
        h.record_micros(123_456_789);
        h.record_micros(u64::MAX);
        let p50 = h.quantile_micros(0.5);
        assert!(
            p50.abs_diff(3_600_000_000) <= 3_600_000,
            "{p50} is not within 0.1 % of an hour"
        );
        assert_eq!((h.count(), h.max), (3, u64::MAX));
    }
}
