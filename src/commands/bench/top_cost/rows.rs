//! `bench top-cost`'s table: OUT's rows (metric, value, unit, how),
//! written as they are measured and printed as aligned columns at the end,
//! and the arithmetic of its values.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Result;

use super::super::harness::{interrupted, io_error};

/// CPU seconds over a stretch of seconds as a percentage of one core.
pub fn percent_of_core(cpu_s: f64, over_s: f64) -> f64 {
    cpu_s / over_s * 100.0
}

/// `min / median / max` of `v`, rounded to whole numbers; the median of
/// an even count is the lower middle one. None for no value.
pub fn min_median_max(v: &[f64]) -> Option<String> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let (min, max) = (v.first()?, v.last()?);
    let median = v[v.len().div_ceil(2) - 1];
    Some(format!("{min:.0} / {median:.0} / {max:.0}"))
}

/// OUT: a header, then one row per measurement, written as it is made (an
/// interrupted run keeps what it measured).
pub struct Rows {
    path: PathBuf,
    file: File,
}

impl Rows {
    pub fn create(path: &Path) -> Result<Rows> {
        let file = File::create(path).map_err(|e| io_error(path, e))?;
        let mut rows = Rows {
            path: path.to_path_buf(),
            file,
        };
        rows.line("metric\tvalue\tunit\thow")?;
        Ok(rows)
    }

    pub fn row(&mut self, metric: &str, value: &str, unit: &str, how: &str) -> Result<()> {
        self.line(&format!("{metric}\t{value}\t{unit}\t{how}"))?;
        interrupted()
    }

    fn line(&mut self, line: &str) -> Result<()> {
        writeln!(self.file, "{line}").map_err(|e| io_error(&self.path, e))
    }
}

/// Tab-separated lines as aligned columns two spaces apart (as `column -t`
/// printed them), the last column unpadded; empty fields are kept.
pub fn table(tsv: &str) -> String {
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| {
        rows.iter()
            .filter_map(|r| r.get(c))
            .map(|f| unicode_width::UnicodeWidthStr::width(*f))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (c, field) in row.iter().enumerate() {
            line.push_str(field);
            if c + 1 < row.len() {
                let pad = widths[c] - unicode_width::UnicodeWidthStr::width(*field) + 2;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_print_as_columns_with_empty_fields_kept() {
        let tsv = "metric\tvalue\tunit\thow\n\
            web peak RSS\t9604\tKB\tmeasured: VmHWM\n\
            /metrics size\t18443 bytes, 225 series\t\tmeasured: the last scrape\n";
        assert_eq!(
            table(tsv),
            "metric         value                    unit  how\n\
             web peak RSS   9604                     KB    measured: VmHWM\n\
             /metrics size  18443 bytes, 225 series        measured: the last scrape\n"
        );
    }

    #[test]
    fn min_median_max_takes_the_lower_middle() {
        assert_eq!(
            min_median_max(&[30.4, 5.2, 10.0, 7.0]).as_deref(),
            Some("5 / 7 / 30")
        );
        assert_eq!(min_median_max(&[9.6]).as_deref(), Some("10 / 10 / 10"));
        assert_eq!(min_median_max(&[]), None);
    }

    #[test]
    fn the_broker_cpu_added_is_per_second_of_each_stretch() {
        // 2.05 s over a 60.1 s top run against 0.91 s over 60 s idle
        let added = percent_of_core(2.05, 60.1) - percent_of_core(0.91, 60.0);
        assert_eq!(format!("{added:.1}"), "1.9");
    }
}
