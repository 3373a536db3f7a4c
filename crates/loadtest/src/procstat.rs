//! CPU time and resident memory of the processes under test, read from
//! `/proc/<pid>/stat` (utime + stime) and `/proc/<pid>/status` (VmRSS), and
//! the whole machine's busy time from `/proc/stat`, per phase of the run.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use procfs::{process::Process, Current, CurrentSI, KernelStats, LoadAverage};

/// A process to watch, by the name the report shows.
#[derive(Clone, Debug)]
pub struct Watched {
    pub label: String,
    pub pid: i32,
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
    pub fn start(watched: Vec<Watched>) -> Self {
        let peaks = Arc::new(Mutex::new(vec![0; watched.len()]));
        let task = {
            let peaks = peaks.clone();
            let pids: Vec<i32> = watched.iter().map(|w| w.pid).collect();
            tokio::spawn(async move {
                loop {
                    let now: Vec<u64> =
                        pids.iter().map(|p| read(*p).map_or(0, |r| r.rss)).collect();
                    if let Ok(mut peaks) = peaks.lock() {
                        for (peak, rss) in peaks.iter_mut().zip(now) {
                            *peak = (*peak).max(rss);
                        }
                    }
                    tokio::time::sleep(SAMPLE_EVERY).await;
                }
            })
        };
        Self {
            watched,
            peaks,
            task,
        }
    }

    pub fn begin(&self) -> Phase {
        if let Ok(mut peaks) = self.peaks.lock() {
            peaks.iter_mut().for_each(|p| *p = 0);
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
                }
            })
            .collect();
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
