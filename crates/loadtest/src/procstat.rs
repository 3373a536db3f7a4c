//! CPU time and resident memory of the processes under test, read from
//! `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmRSS), and
//! the whole machine's busy time from `/proc/stat`, per phase of the run.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use procfs::{process::Process, Current, CurrentSI, KernelStats, LoadAverage};

/// A process to watch, by the name the report shows.
#[derive(Clone, Debug)]
pub struct Watched {
    pub label: String,
    pub pid: i32,
    /// One of the system's own processes (not the load generator, the mail
    /// sink or a shared backing service): these the idle-memory target is for.
    pub ours: bool,
}

/// PostgreSQL backends counted together: those serving databases whose name
/// starts with `database_prefix`. PostgreSQL names the database in a backend's
/// title (`postgres: 15/main: postgres cbload_scheduling 127.0.0.1(…) idle`), so
/// our backends are told apart from everyone else's on a shared server.
#[derive(Clone, Debug)]
pub struct Group {
    pub label: String,
    pub database_prefix: String,
}

/// Each member's CPU ticks when the phase began (0 for one that appeared
/// during it) and when last seen.
type Members = HashMap<i32, (u64, u64)>;

fn serves(title: &str, database_prefix: &str) -> bool {
    title.starts_with("postgres: ")
        && title
            .split_whitespace()
            .any(|word| word.starts_with(database_prefix))
}

fn scan(database_prefix: &str) -> Vec<(i32, u64)> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    all.filter_map(Result::ok)
        .filter(|p| {
            p.cmdline()
                .is_ok_and(|args| serves(&args.join(" "), database_prefix))
        })
        .filter_map(|p| Some((p.pid, read(p.pid)?.ticks)))
        .collect()
}

/// Note new members and every member's latest ticks.
fn refresh(members: &mut Members, database_prefix: &str) {
    for (pid, ticks) in scan(database_prefix) {
        members
            .entry(pid)
            .and_modify(|m| m.1 = ticks)
            .or_insert((0, ticks));
    }
}

/// A process's CPU ticks used so far and its resident memory now (KiB).
#[derive(Clone, Copy)]
struct Reading {
    ticks: u64,
    rss: u64,
    /// The private part of `rss` (heap, stacks), without mapped files such as
    /// the binary's code, which every process of the same binary shares.
    anon: u64,
}

/// `None` once the process is gone.
fn read(pid: i32) -> Option<Reading> {
    let p = Process::new(pid).ok()?;
    let stat = p.stat().ok()?;
    let status = p.status().ok()?;
    Some(Reading {
        ticks: stat.utime + stat.stime,
        rss: status.vmrss.unwrap_or(0),
        anon: status.rssanon.unwrap_or(0),
    })
}

/// Busy and total ticks of all CPUs together.
fn machine_ticks() -> (u64, u64) {
    match KernelStats::current() {
        Ok(k) => {
            let t = k.total;
            let idle = t.idle + t.iowait.unwrap_or(0);
            let busy = t.user
                + t.nice
                + t.system
                + t.irq.unwrap_or(0)
                + t.softirq.unwrap_or(0)
                + t.steal.unwrap_or(0);
            (busy, busy + idle)
        }
        Err(_) => (0, 0),
    }
}

/// Samples resident memory every half second in the background, keeping
/// each process's peak since the current phase began.
pub struct Sampler {
    watched: Vec<Watched>,
    peaks: Arc<Mutex<Vec<u64>>>,
    groups: Vec<Group>,
    members: Arc<Mutex<Vec<Members>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Where a phase started.
pub struct Phase {
    started: Instant,
    ticks: Vec<Option<u64>>,
    machine: (u64, u64),
}

/// One process over one phase.
#[derive(Clone, Debug)]
pub struct ProcessUsage {
    pub label: String,
    /// Percent of one core, averaged over the phase.
    pub cpu_percent: f64,
    pub rss_end_kib: u64,
    pub rss_anon_end_kib: u64,
    pub rss_peak_kib: u64,
    pub ours: bool,
    /// Several processes counted together (CPU only).
    pub group: bool,
}

/// Every watched process and the machine over one phase.
#[derive(Clone, Debug)]
pub struct Usage {
    pub processes: Vec<ProcessUsage>,
    /// Percent of all cores busy (everything on the machine, not only ours).
    pub machine_busy_percent: f64,
    pub load_average_1m: f32,
}

const SAMPLE_EVERY: Duration = Duration::from_millis(500);

impl Sampler {
    pub fn start(watched: Vec<Watched>, groups: Vec<Group>) -> Self {
        let peaks = Arc::new(Mutex::new(vec![0; watched.len()]));
        let members = Arc::new(Mutex::new(vec![Members::new(); groups.len()]));
        let task = {
            let peaks = peaks.clone();
            let members = members.clone();
            let pids: Vec<i32> = watched.iter().map(|w| w.pid).collect();
            let needles: Vec<String> = groups.iter().map(|g| g.database_prefix.clone()).collect();
            tokio::spawn(async move {
                loop {
                    let now: Vec<u64> =
                        pids.iter().map(|p| read(*p).map_or(0, |r| r.rss)).collect();
                    if let Ok(mut peaks) = peaks.lock() {
                        for (peak, rss) in peaks.iter_mut().zip(now) {
                            *peak = (*peak).max(rss);
                        }
                    }
                    if let Ok(mut members) = members.lock() {
                        for (m, needle) in members.iter_mut().zip(&needles) {
                            refresh(m, needle);
                        }
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            })
        };
        Self {
            watched,
            peaks,
            groups,
            members,
            task,
        }
    }

    pub fn begin(&self) -> Phase {
        if let Ok(mut peaks) = self.peaks.lock() {
            peaks.iter_mut().for_each(|p| *p = 0);
        }
        if let Ok(mut members) = self.members.lock() {
            for (m, g) in members.iter_mut().zip(&self.groups) {
                m.clear();
                for (pid, ticks) in scan(&g.database_prefix) {
                    m.insert(pid, (ticks, ticks));
                }
            }
        }
        Phase {
            started: Instant::now(),
            ticks: self
                .watched
                .iter()
                .map(|w| read(w.pid).map(|r| r.ticks))
                .collect(),
            machine: machine_ticks(),
        }
    }

    pub fn end(&self, phase: &Phase) -> Usage {
        let seconds = phase.started.elapsed().as_secs_f64().max(0.001);
        let tick = procfs::ticks_per_second() as f64;
        let peaks = self.peaks.lock().map(|p| p.clone()).unwrap_or_default();
        let processes = self
            .watched
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let now = read(w.pid);
                let used = match (phase.ticks[i], now) {
                    (Some(before), Some(r)) => r.ticks.saturating_sub(before),
                    _ => 0,
                };
                let rss_end_kib = now.map_or(0, |r| r.rss);
                ProcessUsage {
                    label: w.label.clone(),
                    cpu_percent: used as f64 / tick / seconds * 100.0,
                    rss_end_kib,
                    rss_anon_end_kib: now.map_or(0, |r| r.anon),
                    rss_peak_kib: peaks.get(i).copied().unwrap_or(0).max(rss_end_kib),
                    ours: w.ours,
                    group: false,
                }
            })
            .collect();
        let mut processes: Vec<ProcessUsage> = processes;
        if let Ok(mut members) = self.members.lock() {
            for (m, g) in members.iter_mut().zip(&self.groups) {
                refresh(m, &g.database_prefix);
                let used: u64 = m
                    .values()
                    .map(|(first, last)| last.saturating_sub(*first))
                    .sum();
                processes.push(ProcessUsage {
                    label: format!("{} ({} processes)", g.label, m.len()),
                    cpu_percent: used as f64 / tick / seconds * 100.0,
                    rss_end_kib: 0,
                    rss_anon_end_kib: 0,
                    rss_peak_kib: 0,
                    ours: false,
                    group: true,
                });
            }
        }
        let (busy, total) = machine_ticks();
        let (busy0, total0) = phase.machine;
        let machine_busy_percent = match total.saturating_sub(total0) {
            0 => 0.0,
            d => busy.saturating_sub(busy0) as f64 / d as f64 * 100.0,
        };
        Usage {
            processes,
            machine_busy_percent,
            load_average_1m: LoadAverage::current().map_or(0.0, |l| l.one),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::serves;

    #[test]
    fn backends_are_told_apart_by_their_database() {
        let ours = "postgres: 15/main: postgres cbload_scheduling 127.0.0.1(50412) idle";
        assert!(serves(ours, "cbload_"));
        assert!(!serves(ours, "carebook_"));
        assert!(!serves("postgres: 15/main: checkpointer", "cbload_"));
        // Not a backend, though its arguments name the prefix.
        assert!(!serves(
            "carebook-load --postgres-databases cbload_",
            "cbload_"
        ));
    }
}
