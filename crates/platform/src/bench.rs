//! What the benchmarks share: settings from the environment, nearest-rank
//! percentiles and one results table, so every `scripts/bench-*` prints alike.

use std::time::Duration;

/// A positive count from the environment variable `name`, or `default`.
pub fn setting(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => match v.trim().parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("{name} must be a positive integer, got {v:?}"),
        },
        Err(_) => default,
    }
}

/// Nearest-rank percentile of sorted `samples` (`p` in 0..=100).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    assert!(!sorted.is_empty(), "percentile of no samples");
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

/// One row of the results table.
pub struct Row {
    pub what: String,
    pub n: usize,
    pub p50: String,
    pub p90: String,
    pub p99: String,
    pub max: String,
    pub rate: String,
}

impl Row {
    /// Request latencies in milliseconds, throughput in requests per second.
    pub fn latencies(what: impl Into<String>, samples: Vec<Duration>, wall: Duration) -> Self {
        Self::latencies_with(what, samples, wall, "req", ms)
    }

    /// Latencies shown with `fmt`, throughput in `unit`s per second.
    pub fn latencies_with(
        what: impl Into<String>,
        mut samples: Vec<Duration>,
        wall: Duration,
        unit: &str,
        fmt: fn(Duration) -> String,
    ) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        Self {
            what: what.into(),
            n,
            p50: fmt(percentile(&samples, 50.0)),
            p90: fmt(percentile(&samples, 90.0)),
            p99: fmt(percentile(&samples, 99.0)),
            max: fmt(percentile(&samples, 100.0)),
            rate: format!("{:.1} {unit}/s", n as f64 / wall.as_secs_f64()),
        }
    }
}

pub fn print_table(rows: &[Row]) {
    let header = Row {
        what: "measurement".into(),
        n: 0,
        p50: "p50".into(),
        p90: "p90".into(),
        p99: "p99".into(),
        max: "max".into(),
        rate: "throughput".into(),
    };
    let w = rows
        .iter()
        .chain([&header])
        .map(|r| r.what.chars().count())
        .max()
        .unwrap_or(0);
    let line = |r: &Row, n: &str| {
        println!(
            "{:<w$}  {:>6}  {:>11}  {:>11}  {:>11}  {:>11}  {:>18}",
            r.what, n, r.p50, r.p90, r.p99, r.max, r.rate
        )
    };
    line(&header, "n");
    println!("{}", "-".repeat(w + 2 + 6 + 4 * 13 + 20));
    for r in rows {
        line(r, &r.n.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&s, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&s[..1], 50.0), Duration::from_millis(1));
    }
}
