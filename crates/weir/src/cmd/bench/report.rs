//! How a bench result is shown: a two-column summary table for people, one
//! JSON object for machines (`--json`), and the "figure = N% of limit" lines
//! that compare a result with the machine limits cached by `weir bench
//! limits`. Measuring lives in the bench files; this file only formats.

use super::limits::Limits;
use super::{LatencySummary, OutputArgs};
use serde::Serialize;

/// Names of the limits, as they appear in tables and JSON.
pub const SYNCED_WRITE: &str = "fdatasync'd sequential write";
pub const BUFFERED_WRITE: &str = "buffered sequential write";
pub const LOOPBACK_TCP: &str = "loopback TCP";
pub const FDATASYNC_P99: &str = "fdatasync p99";

/// The unit of a figure and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    #[serde(rename = "MB/s")]
    MbPerS,
    #[serde(rename = "us")]
    Micros,
}

/// A figure compared with one of the machine's limits.
#[derive(Debug, Clone, Serialize)]
pub struct Fraction {
    /// What was measured, e.g. `produce` or `produce p99`.
    pub figure: String,
    pub value: f64,
    /// Which limit, e.g. `fdatasync'd sequential write`.
    pub limit: String,
    pub limit_value: f64,
    pub unit: Unit,
    /// value / limit_value.
    pub fraction: f64,
}

impl Fraction {
    pub fn new(figure: &str, value: f64, limit: &str, limit_value: f64, unit: Unit) -> Fraction {
        let fraction = if limit_value > 0.0 {
            value / limit_value
        } else {
            0.0
        };
        Fraction {
            figure: figure.to_string(),
            value,
            limit: limit.to_string(),
            limit_value,
            unit,
            fraction,
        }
    }

    /// `produce 45.0 MB/s = 62% of fdatasync'd sequential write (72.5 MB/s)`
    /// for throughputs; `produce p99 2.10 ms = 1.75× fdatasync p99 (1.20 ms)`
    /// for latencies.
    fn line(&self) -> String {
        match self.unit {
            Unit::Micros => format!(
                "{} {} = {:.2}× {} ({})",
                self.figure,
                micros(self.value as u64),
                self.fraction,
                self.limit,
                micros(self.limit_value as u64)
            ),
            Unit::MbPerS => format!(
                "{} {:.1} MB/s = {:.0}% of {} ({:.1} MB/s)",
                self.figure,
                self.value,
                self.fraction * 100.0,
                self.limit,
                self.limit_value
            ),
        }
    }
}

/// Throughput fractions: `mb_s` against each limit that could bound it.
pub fn throughput_fractions(figure: &str, mb_s: f64, limits: Option<&Limits>) -> Vec<Fraction> {
    let Some(limits) = limits else {
        return Vec::new();
    };
    [
        (SYNCED_WRITE, limits.synced_write_mb_s),
        (BUFFERED_WRITE, limits.buffered_write_mb_s),
        (LOOPBACK_TCP, limits.loopback_tcp_mb_s),
    ]
    .into_iter()
    .map(|(limit, limit_mb_s)| Fraction::new(figure, mb_s, limit, limit_mb_s, Unit::MbPerS))
    .collect()
}

/// `mb_s` against the loopback TCP limit only: what bounds a reader of data
/// already in the page cache.
pub fn network_fraction(figure: &str, mb_s: f64, limits: Option<&Limits>) -> Vec<Fraction> {
    limits
        .map(|limits| {
            Fraction::new(
                figure,
                mb_s,
                LOOPBACK_TCP,
                limits.loopback_tcp_mb_s,
                Unit::MbPerS,
            )
        })
        .into_iter()
        .collect()
}

/// `figure` (a p99 in µs) against the disk's p99 fdatasync latency.
pub fn latency_fraction(figure: &str, p99_us: u64, limits: Option<&Limits>) -> Vec<Fraction> {
    limits
        .map(|limits| {
            Fraction::new(
                figure,
                p99_us as f64,
                FDATASYNC_P99,
                limits.fdatasync_latency.p99_us as f64,
                Unit::Micros,
            )
        })
        .into_iter()
        .collect()
}

/// A summary table: a title and label/value rows.
#[derive(Debug, Default)]
pub struct Table {
    pub title: String,
    pub rows: Vec<(String, String)>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, label: impl Into<String>, value: impl Into<String>) {
        self.rows.push((label.into(), value.into()));
    }

    pub fn latency(&mut self, label: &str, summary: &LatencySummary) {
        self.row(
            label,
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}  ({} samples)",
                micros(summary.p50_us),
                micros(summary.p99_us),
                micros(summary.p999_us),
                micros(summary.max_us),
                summary.count
            ),
        );
    }

    /// One row per fraction, or a hint when no limits are cached.
    pub fn fractions(&mut self, fractions: &[Fraction], limits_found: bool) {
        if !limits_found {
            self.row(
                "vs limits",
                "(no limits file: run `weir bench limits` to compare with this machine)",
            );
        }
        for (i, fraction) in fractions.iter().enumerate() {
            let label = if i == 0 { "vs limits" } else { "" };
            self.row(label, fraction.line());
        }
    }

    fn render(&self) -> String {
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut text = format!("{}\n", self.title);
        for (label, value) in &self.rows {
            text.push_str(&format!("  {label:<width$}  {value}\n"));
        }
        text
    }
}

/// Prints `result` as JSON or `table` as text on stdout, per `--json`.
pub fn emit(output: &OutputArgs, result: &impl Serialize, table: &Table) -> anyhow::Result<()> {
    if output.json {
        println!("{}", serde_json::to_string_pretty(result)?);
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

/// A duration in µs, printed in the unit that reads best.
pub fn micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_lines_read_as_percent_or_multiple() {
        let f = Fraction::new("produce", 45.0, SYNCED_WRITE, 72.5, Unit::MbPerS);
        assert_eq!(
            f.line(),
            "produce 45.0 MB/s = 62% of fdatasync'd sequential write (72.5 MB/s)"
        );
        let f = Fraction::new("produce p99", 2100.0, FDATASYNC_P99, 1200.0, Unit::Micros);
        assert_eq!(
            f.line(),
            "produce p99 2.10 ms = 1.75× fdatasync p99 (1.20 ms)"
        );
        assert_eq!(
            Fraction::new("x", 1.0, "y", 0.0, Unit::MbPerS).fraction,
            0.0
        );
        assert_eq!(micros(999), "999 µs");
        assert_eq!(micros(2_500_000), "2.50 s");
    }
}
