//! Figures from goose's metrics and the process readings, as Markdown tables
//! (ready to paste into docs/performance.md).

use std::{collections::BTreeMap, fmt::Write, sync::atomic::Ordering};

use goose::metrics::{GooseMetrics, GooseRequestMetricTimingData};

use crate::{
    plan::Op,
    procstat::Usage,
    world::{Lateness, LATE},
};

/// One operation (or all of them) over one run.
#[derive(Clone, Debug, Default)]
pub struct OpFigures {
    pub name: String,
    pub requests: usize,
    pub rps: f64,
    pub p50_ms: usize,
    pub p95_ms: usize,
    pub p99_ms: usize,
    /// Transport failures and unexpected statuses (409 on a booking excluded).
    pub errors: usize,
    /// 409 `slot-taken` on bookings: a legitimate answer, counted apart.
    pub conflicts: usize,
    /// Status → count, for the error details.
    pub statuses: BTreeMap<u16, usize>,
}

impl OpFigures {
    pub fn error_percent(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 * 100.0 / self.requests as f64
        }
    }
}

/// A run's figures: per operation, overall, and how punctual the sends were.
#[derive(Clone, Debug)]
pub struct RunFigures {
    pub target_rate: f64,
    pub seconds: f64,
    pub ops: Vec<OpFigures>,
    pub overall: OpFigures,
    pub sends: u64,
    pub late_sends: u64,
    pub max_lag_ms: f64,
    pub cancels_skipped: u64,
}

impl RunFigures {
    pub fn late_percent(&self) -> f64 {
        if self.sends == 0 {
            0.0
        } else {
            self.late_sends as f64 * 100.0 / self.sends as f64
        }
    }
}

/// The knee rule: a step is past the knee when its overall p99 passes
/// `p99_limit_ms` or its error rate passes `error_limit_percent` (409
/// `slot-taken` on bookings is an answer, not an error).
pub fn passes_knee(figures: &RunFigures, p99_limit_ms: usize, error_limit_percent: f64) -> bool {
    figures.overall.p99_ms > p99_limit_ms || figures.overall.error_percent() > error_limit_percent
}

/// The knee search's last line: `knee: N req/s` with N the target rate of the
/// first step past the knee, or `knee: >N req/s` with N the highest target
/// rate reached when no step passed it.
pub fn knee_line(knee_at: Option<f64>, highest_rate: f64) -> String {
    match knee_at {
        Some(rate) => format!("knee: {rate:.0} req/s"),
        None => format!("knee: >{highest_rate:.0} req/s"),
    }
}

/// The time `percent` of the counted requests finished within, as goose
/// computes it (its times are whole milliseconds, coarser above 100 ms).
fn percentile(t: &GooseRequestMetricTimingData, percent: f64) -> usize {
    let rank = (t.counter as f64 * percent).round() as usize;
    let mut seen = 0;
    for (ms, count) in &t.times {
        seen += count;
        if seen >= rank {
            return (*ms).clamp(t.minimum_time, t.maximum_time);
        }
    }
    t.maximum_time
}

fn merge(into: &mut GooseRequestMetricTimingData, from: &GooseRequestMetricTimingData) {
    for (ms, count) in &from.times {
        *into.times.entry(*ms).or_insert(0) += count;
    }
    if from.counter > 0 {
        into.minimum_time = match into.minimum_time {
            0 => from.minimum_time,
            m => m.min(from.minimum_time),
        };
    }
    into.maximum_time = into.maximum_time.max(from.maximum_time);
    into.total_time += from.total_time;
    into.counter += from.counter;
}

fn figures(
    name: &str,
    timing: &GooseRequestMetricTimingData,
    statuses: &BTreeMap<u16, usize>,
    conflicts_allowed: bool,
    seconds: f64,
) -> OpFigures {
    let mut errors = 0;
    let mut conflicts = 0;
    for (&status, &count) in statuses {
        match status {
            200..=299 => {}
            409 if conflicts_allowed => conflicts += count,
            _ => errors += count,
        }
    }
    OpFigures {
        name: name.to_owned(),
        requests: timing.counter,
        rps: timing.counter as f64 / seconds,
        p50_ms: percentile(timing, 0.50),
        p95_ms: percentile(timing, 0.95),
        p99_ms: percentile(timing, 0.99),
        errors,
        conflicts,
        statuses: statuses.clone(),
    }
}

pub fn summarize(
    metrics: &GooseMetrics,
    target_rate: f64,
    seconds: f64,
    lateness: &Lateness,
) -> RunFigures {
    let seconds = seconds.max(0.001);
    let mut ops = Vec::new();
    let mut all_timing = GooseRequestMetricTimingData {
        times: BTreeMap::new(),
        minimum_time: 0,
        maximum_time: 0,
        total_time: 0,
        counter: 0,
    };
    let mut all_statuses = BTreeMap::new();
    let mut all_conflicts = 0;
    for op in Op::ALL {
        let Some(agg) = metrics.requests.values().find(|a| a.path == op.name()) else {
            continue;
        };
        let statuses: BTreeMap<u16, usize> = agg
            .status_code_counts
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        let f = figures(op.name(), &agg.raw_data, &statuses, op == Op::Book, seconds);
        merge(&mut all_timing, &agg.raw_data);
        for (k, v) in &statuses {
            *all_statuses.entry(*k).or_insert(0) += v;
        }
        all_conflicts += f.conflicts;
        ops.push(f);
    }
    let mut overall = figures("overall", &all_timing, &all_statuses, false, seconds);
    // Only bookings may answer 409 legitimately.
    overall.errors -= all_conflicts;
    overall.conflicts = all_conflicts;
    RunFigures {
        target_rate,
        seconds,
        ops,
        overall,
        sends: lateness.sends.load(Ordering::Relaxed),
        late_sends: lateness.late.load(Ordering::Relaxed),
        max_lag_ms: lateness.max_lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
        cancels_skipped: lateness.cancels_skipped.load(Ordering::Relaxed),
    }
}

fn op_row(out: &mut String, f: &OpFigures) {
    let _ = writeln!(
        out,
        "| {} | {} | {:.1} | {} | {} | {} | {:.3} % | {} |",
        f.name,
        f.requests,
        f.rps,
        f.p50_ms,
        f.p95_ms,
        f.p99_ms,
        f.error_percent(),
        f.conflicts
    );
}

pub fn run_table(r: &RunFigures) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Target {:.0} req/s for {:.0} s: achieved {:.1} req/s.\n",
        r.target_rate, r.seconds, r.overall.rps
    );
    out.push_str(
        "| operation | requests | req/s | p50 ms | p95 ms | p99 ms | errors | 409 slot-taken |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for f in &r.ops {
        op_row(&mut out, f);
    }
    op_row(&mut out, &r.overall);
    let _ = writeln!(
        out,
        "\nSends later than {} ms after their planned instant: {} of {} ({:.3} %), worst {:.1} ms; cancellations skipped (nothing booked): {}.",
        LATE.as_millis(),
        r.late_sends,
        r.sends,
        r.late_percent(),
        r.max_lag_ms,
        r.cancels_skipped
    );
    let odd: Vec<String> = r
        .overall
        .statuses
        .iter()
        .filter(|(s, _)| !(200..=299).contains(*s))
        .map(|(s, n)| match s {
            0 => format!("no response × {n}"),
            s => format!("{s} × {n}"),
        })
        .collect();
    if !odd.is_empty() {
        let _ = writeln!(out, "Non-2xx answers: {}.", odd.join(", "));
    }
    out
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Per process: idle RSS (fresh, and after warm-up), CPU and peak RSS under load.
pub fn process_table(fresh: &Usage, idle: &Usage, load: &Usage, idle_limit_mib: f64) -> String {
    let mut out = String::new();
    out.push_str("| process | CPU % of a core (load) | CPU % (idle) | RSS fresh MiB | RSS idle after warm-up MiB (private) | RSS peak under load MiB |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for (i, p) in load.processes.iter().enumerate() {
        if p.group {
            // A group (database backends): CPU only, its memory is mostly shared buffers.
            let idle_cpu = idle.processes.get(i).map_or(0.0, |f| f.cpu_percent);
            let _ = writeln!(
                out,
                "| {} | {:.1} | {:.1} | – | – | – |",
                p.label, p.cpu_percent, idle_cpu
            );
            continue;
        }
        let fresh_rss = fresh.processes.get(i).map_or(0, |f| f.rss_end_kib);
        let (idle_rss, idle_anon, idle_cpu) = idle.processes.get(i).map_or((0, 0, 0.0), |f| {
            (f.rss_end_kib, f.rss_anon_end_kib, f.cpu_percent)
        });
        let flag = if mib(idle_rss) > idle_limit_mib && p.ours {
            " ⚠"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1}{flag} ({:.1}) | {:.1} |",
            p.label,
            p.cpu_percent,
            idle_cpu,
            mib(fresh_rss),
            mib(idle_rss),
            mib(idle_anon),
            mib(p.rss_peak_kib)
        );
    }
    let _ = writeln!(
        out,
        "\nMachine under load: {:.0} % of all cores busy (everything on the machine), load average {:.2}.",
        load.machine_busy_percent, load.load_average_1m
    );
    out
}

/// Our servers' CPU together, in percent of one core.
pub fn servers_cpu(u: &Usage) -> f64 {
    u.processes
        .iter()
        .filter(|p| p.ours)
        .map(|p| p.cpu_percent)
        .sum()
}

pub fn knee_table(steps: &[(RunFigures, Usage)]) -> String {
    let mut out = String::new();
    out.push_str("| target req/s | achieved req/s | p50 ms | p95 ms | p99 ms | errors | late sends | servers CPU % | our DB backends CPU % | load gen CPU % | machine busy % |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (r, u) in steps {
        let generator = u
            .processes
            .iter()
            .find(|p| p.label == "load generator")
            .map_or(0.0, |p| p.cpu_percent);
        let database: f64 = u
            .processes
            .iter()
            .filter(|p| p.group)
            .map(|p| p.cpu_percent)
            .sum();
        let _ = writeln!(
            out,
            "| {:.0} | {:.1} | {} | {} | {} | {:.3} % | {:.2} % | {:.0} | {:.0} | {:.0} | {:.0} |",
            r.target_rate,
            r.overall.rps,
            r.overall.p50_ms,
            r.overall.p95_ms,
            r.overall.p99_ms,
            r.overall.error_percent(),
            r.late_percent(),
            servers_cpu(u),
            database,
            generator,
            u.machine_busy_percent
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(times: &[(usize, usize)]) -> GooseRequestMetricTimingData {
        let mut t = GooseRequestMetricTimingData {
            times: BTreeMap::new(),
            minimum_time: 0,
            maximum_time: 0,
            total_time: 0,
            counter: 0,
        };
        for &(ms, n) in times {
            t.times.insert(ms, n);
            t.counter += n;
            t.total_time += ms * n;
            t.maximum_time = t.maximum_time.max(ms);
            if t.minimum_time == 0 || ms < t.minimum_time {
                t.minimum_time = ms;
            }
        }
        t
    }

    #[test]
    fn percentiles_follow_the_counted_times() {
        let t = timing(&[(1, 50), (2, 45), (10, 4), (300, 1)]);
        assert_eq!(percentile(&t, 0.50), 1);
        assert_eq!(percentile(&t, 0.95), 2);
        assert_eq!(percentile(&t, 0.99), 10);
        assert_eq!(percentile(&t, 1.0), 300);
    }

    #[test]
    fn merged_timings_count_every_request() {
        let mut all = timing(&[]);
        merge(&mut all, &timing(&[(3, 10)]));
        merge(&mut all, &timing(&[(1, 10), (200, 1)]));
        assert_eq!(
            (all.counter, all.minimum_time, all.maximum_time),
            (21, 1, 200)
        );
        assert_eq!(all.times[&3], 10);
    }

    fn run(p99_ms: usize, requests: usize, errors: usize) -> RunFigures {
        RunFigures {
            target_rate: 300.0,
            seconds: 60.0,
            ops: Vec::new(),
            overall: OpFigures {
                name: "overall".to_owned(),
                requests,
                p99_ms,
                errors,
                ..OpFigures::default()
            },
            sends: 0,
            late_sends: 0,
            max_lag_ms: 0.0,
            cancels_skipped: 0,
        }
    }

    #[test]
    fn a_step_within_both_limits_is_below_the_knee() {
        assert!(!passes_knee(&run(250, 10_000, 10), 250, 0.1));
        assert!(!passes_knee(&run(40, 0, 0), 250, 0.1));
    }

    #[test]
    fn a_p99_over_the_limit_is_the_knee() {
        assert!(passes_knee(&run(251, 10_000, 0), 250, 0.1));
    }

    #[test]
    fn errors_over_the_limit_are_the_knee_even_when_fast() {
        // 11 of 10,000 is 0.11 %.
        assert!(passes_knee(&run(20, 10_000, 11), 250, 0.1));
        assert!(!passes_knee(&run(20, 10_000, 11), 250, 0.2));
    }

    #[test]
    fn the_knee_line_names_the_knee_or_the_highest_rate_reached() {
        assert_eq!(knee_line(Some(700.0), 700.0), "knee: 700 req/s");
        assert_eq!(knee_line(None, 3000.0), "knee: >3000 req/s");
    }

    #[test]
    fn conflicts_count_apart_from_errors_only_for_bookings() {
        let statuses = BTreeMap::from([(201, 90), (409, 3), (500, 1), (0, 1)]);
        let t = timing(&[(5, 95)]);
        let book = figures("book", &t, &statuses, true, 10.0);
        assert_eq!((book.errors, book.conflicts), (2, 3));
        let other = figures("slots", &t, &statuses, false, 10.0);
        assert_eq!((other.errors, other.conflicts), (5, 0));
        assert!((book.rps - 9.5).abs() < 1e-9);
    }
}
