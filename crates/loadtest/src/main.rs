//! `carebook-load`: the load benchmark. Builds a clinic through the public
//! API, then drives an open-loop mix (70 % reads, 20 % bookings, 10 %
//! cancellations) through the gateway with goose at a fixed arrival rate, or
//! steps the rate up to find the knee, and prints latency, errors, and the CPU
//! and memory of every process it is told to watch. `scripts/load` runs it.

mod api;
mod clinic;
mod plan;
mod procstat;
mod report;
mod scenario;
mod totp;
mod world;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::Parser;

use crate::{
    procstat::{Group, Sampler, Usage, Watched},
    report::RunFigures,
    scenario::Run,
    world::World,
};

#[derive(Parser)]
#[command(name = "carebook-load", about = "Carebook load benchmark (goose)")]
struct Cli {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Virtual users, one patient account each.
    #[arg(long, default_value_t = 500)]
    users: usize,
    /// Providers the bookings spread over.
    #[arg(long, default_value_t = 100)]
    providers: usize,
    /// Arrival rate, requests per second (the knee search's first step).
    #[arg(long, default_value_t = 300.0)]
    rate: f64,
    /// Length of the timed run (`300s`, `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    duration: Duration,
    /// Untimed run first, to fill pools and caches.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    warmup: Duration,
    #[arg(long, default_value_t = 100.0)]
    warmup_rate: f64,
    /// Quiet time after the warm-up before idle memory is read.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    settle: Duration,
    /// Step the rate up from --rate until p99 passes --p99-limit-ms or the
    /// error rate passes --error-limit-percent; ends with `knee: N req/s`.
    #[arg(long)]
    knee: bool,
    #[arg(long, default_value_t = 100.0)]
    knee_step: f64,
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    knee_step_duration: Duration,
    #[arg(long, default_value_t = 3000.0)]
    knee_max: f64,
    /// Pause between knee steps, so one step's backlog does not land in the next.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    knee_pause: Duration,
    #[arg(long, default_value_t = 250)]
    p99_limit_ms: usize,
    /// Errors (in percent of a step's requests) past which the step is the knee.
    #[arg(long, default_value_t = 0.1)]
    error_limit_percent: f64,
    /// Idle memory above this is flagged in the process table.
    #[arg(long, default_value_t = 30.0)]
    idle_rss_limit_mib: f64,
    /// Processes to watch, one `name replica pid` per line (`stack_pids` output).
    #[arg(long)]
    pids: Option<PathBuf>,
    /// Another process to watch, `label=pid` (not held to the idle-memory target).
    #[arg(long)]
    watch: Vec<String>,
    /// Count the PostgreSQL backends of databases named with this prefix
    /// (e.g. `cbload_`) as one row.
    #[arg(long)]
    postgres_databases: Option<String>,
    #[arg(long, default_value_t = 8)]
    setup_concurrency: usize,
    #[arg(long, default_value = "admin@demo.carebook.test")]
    admin_email: String,
    /// The admin's TOTP secret (base32; the demo admin's, see README).
    #[arg(
        long,
        env = "CAREBOOK_DEMO_ADMIN_TOTP_SECRET",
        default_value = "INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRW"
    )]
    admin_totp_secret: String,
    #[arg(long, default_value = "staff@demo.carebook.test")]
    staff_email: String,
    /// Password of the demo accounts (see README).
    #[arg(
        long,
        env = "CAREBOOK_DEMO_PASSWORD",
        default_value = "Carebook-demo-2026!"
    )]
    demo_password: String,
    /// The `carebook` binary that verifies the patients' addresses
    /// (`carebook accounts verify`, with this process's environment: the
    /// stack's identity database). Default: `carebook` beside this binary.
    #[arg(long)]
    verify_with: Option<PathBuf>,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?}: expected a number with s, m or ms"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{raw:?}: unit must be ms, s or m")),
    }
}

fn watched(cli: &Cli) -> anyhow::Result<Vec<Watched>> {
    let mut list = Vec::new();
    if let Some(path) = &cli.pids {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [name, replica, pid] = parts[..] else {
                anyhow::bail!(
                    "{}: expected `name replica pid`, got {line:?}",
                    path.display()
                );
            };
            list.push(Watched {
                label: format!("{name} {replica}"),
                pid: pid.parse().with_context(|| format!("pid in {line:?}"))?,
                ours: true,
            });
        }
    }
    for w in &cli.watch {
        let (label, pid) = w
            .split_once('=')
            .with_context(|| format!("--watch {w:?}: expected label=pid"))?;
        list.push(Watched {
            label: label.to_owned(),
            pid: pid.parse().with_context(|| format!("--watch {w:?}"))?,
            ours: false,
        });
    }
    list.push(Watched {
        label: "load generator".to_owned(),
        pid: std::process::id() as i32,
        ours: false,
    });
    Ok(list)
}

async fn timed(
    world: &Arc<World>,
    cli: &Cli,
    sampler: &Sampler,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<(RunFigures, Usage)> {
    let phase = sampler.begin();
    let metrics = scenario::execute(world.clone(), &cli.base_url, &Run { rate, duration }).await?;
    let usage = sampler.end(&phase);
    Ok((
        report::summarize(&metrics, rate, duration.as_secs_f64(), &world.lateness),
        usage,
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.knee && cli.rate > cli.knee_max {
        anyhow::bail!(
            "--rate {} is above --knee-max {}: the knee search would run no step",
            cli.rate,
            cli.knee_max
        );
    }
    let groups = cli
        .postgres_databases
        .iter()
        .map(|prefix| Group {
            label: format!("postgres backends of {prefix}*"),
            database_prefix: prefix.clone(),
        })
        .collect();
    let sampler = Sampler::start(watched(&cli)?, groups);

    let phase = sampler.begin();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fresh = sampler.end(&phase);

    let api = api::Api::new(&cli.base_url)?;
    let world = Arc::new(
        clinic::build(
            &api,
            &clinic::Settings {
                providers: cli.providers,
                users: cli.users,
                concurrency: cli.setup_concurrency,
                admin_email: cli.admin_email.clone(),
                admin_totp_secret: cli.admin_totp_secret.clone(),
                staff_email: cli.staff_email.clone(),
                demo_password: cli.demo_password.clone(),
                carebook: match &cli.verify_with {
                    Some(path) => path.clone(),
                    None => std::env::current_exe()
                        .context("locating carebook-load")?
                        .with_file_name("carebook"),
                },
            },
        )
        .await?,
    );
    let refresher = clinic::keep_tokens_fresh(world.clone(), api.clone());

    if !cli.warmup.is_zero() {
        println!("warm-up: {:.0} req/s for {:?}", cli.warmup_rate, cli.warmup);
        let (warm, _) = timed(&world, &cli, &sampler, cli.warmup_rate, cli.warmup).await?;
        println!(
            "warm-up done: {:.1} req/s, p99 {} ms, errors {:.3} %",
            warm.overall.rps,
            warm.overall.p99_ms,
            warm.overall.error_percent()
        );
    }
    let phase = sampler.begin();
    tokio::time::sleep(cli.settle).await;
    let idle = sampler.end(&phase);

    if cli.knee {
        knee(&world, &cli, &sampler, &fresh, &idle).await?;
    } else {
        println!("timed run: {:.0} req/s for {:?}", cli.rate, cli.duration);
        let (figures, usage) = timed(&world, &cli, &sampler, cli.rate, cli.duration).await?;
        println!("\n## Requests\n\n{}", report::run_table(&figures));
        println!(
            "## Processes\n\n{}",
            report::process_table(&fresh, &idle, &usage, cli.idle_rss_limit_mib)
        );
    }
    refresher.abort();
    Ok(())
}

/// Raise the rate step by step until a step passes the knee rule
/// (`report::passes_knee`); the knee is the first rate that does. Ends with
/// the line `knee: N req/s` (or `knee: >N req/s` when no step up to
/// --knee-max passed it, N the highest rate run).
async fn knee(
    world: &Arc<World>,
    cli: &Cli,
    sampler: &Sampler,
    fresh: &Usage,
    idle: &Usage,
) -> anyhow::Result<()> {
    let mut steps: Vec<(RunFigures, Usage)> = Vec::new();
    let mut rate = cli.rate;
    let mut highest = rate;
    let mut knee_at = None;
    while rate <= cli.knee_max {
        println!(
            "knee step: {rate:.0} req/s for {:?}",
            cli.knee_step_duration
        );
        let (figures, usage) = timed(world, cli, sampler, rate, cli.knee_step_duration).await?;
        println!(
            "  achieved {:.1} req/s, p50 {} ms, p95 {} ms, p99 {} ms, errors {:.3} %, late sends {:.2} %",
            figures.overall.rps,
            figures.overall.p50_ms,
            figures.overall.p95_ms,
            figures.overall.p99_ms,
            figures.overall.error_percent(),
            figures.late_percent()
        );
        let over = report::passes_knee(&figures, cli.p99_limit_ms, cli.error_limit_percent);
        highest = rate;
        steps.push((figures, usage));
        if over {
            knee_at = Some(rate);
            break;
        }
        rate += cli.knee_step;
        tokio::time::sleep(cli.knee_pause).await;
    }
    println!("\n## Knee search\n\n{}", report::knee_table(&steps));
    match knee_at {
        Some(r) if steps.len() > 1 => println!(
            "Knee: p99 passed {} ms or errors passed {} % at {r:.0} req/s; the last step within both was {:.0} req/s.\n",
            cli.p99_limit_ms,
            cli.error_limit_percent,
            r - cli.knee_step
        ),
        Some(r) => println!(
            "Knee: p99 passed {} ms or errors passed {} % already at the first step, {r:.0} req/s (start lower with --rate).\n",
            cli.p99_limit_ms, cli.error_limit_percent
        ),
        None => println!(
            "No knee up to {highest:.0} req/s: p99 stayed within {} ms and errors within {} %.\n",
            cli.p99_limit_ms, cli.error_limit_percent
        ),
    }
    if let Some((figures, usage)) = steps.last() {
        println!("## Last step in detail\n\n{}", report::run_table(figures));
        println!(
            "## Processes (last step)\n\n{}",
            report::process_table(fresh, idle, usage, cli.idle_rss_limit_mib)
        );
    }
    println!("{}", report::knee_line(knee_at, highest));
    Ok(())
}
