//! Latency histograms for the benchmarks: bounded memory whatever the run
//! length (a few thousand counters), about 1.6 % precision, exact maximum.

use std::time::Duration;

/// Values below this are counted exactly; above, each power of two is cut
/// into this many buckets.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
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
            counts: vec![0; bucket(u64::MAX) + 1],
            total: 0,
            max: 0,
        }
    }

    /// Counts one value, in microseconds.
    pub fn record_micros(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn record(&mut self, d: Duration) {
        self.record_micros(d.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` (0 < q ≤ 1), in microseconds; 0 when empty.
    pub fn quantile_micros(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return middle(i).min(self.max);
            }
        }
        self.max
    }

    /// The quantile in milliseconds, for reports.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.quantile_micros(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.max as f64 / 1000.0
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let top = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let shift = top - SUB_BITS;
    ((shift as u64 + 1) * SUB + ((v >> shift) & (SUB - 1))) as usize
}

/// The middle of the values bucket `i` holds.
fn middle(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let low = (SUB + i % SUB) << shift;
    low + ((1u64 << shift) >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_close() {
        let mut last = 0;
        for v in (0..100_000u64).chain([1 << 40, u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            last = b;
            let m = middle(b);
            let err = m.abs_diff(v) as f64 / v.max(1) as f64;
            assert!(err <= 1.0 / SUB as f64, "{v}: bucket middle {m}");
        }
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record_micros(v);
        }
        let near = |got: u64, want: u64| got.abs_diff(want) as f64 / want as f64 <= 0.02;
        assert!(
            near(h.quantile_micros(0.5), 500),
            "{}",
            h.quantile_micros(0.5)
        );
        assert!(near(h.quantile_micros(0.99), 990));
        assert_eq!(h.max, 1000);
        assert_eq!(h.quantile_micros(1.0), 1000);
        let mut other = Histogram::new();
        other.record_micros(5000);
        h.merge(&other);
        assert_eq!((h.count(), h.max), (1001, 5000));
        assert_eq!(Histogram::new().quantile_micros(0.5), 0);
    }
}
