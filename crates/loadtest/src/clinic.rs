//! The benchmark clinic, built through the public API before the timed run:
//! providers (accounts by the admin; profile, appointment type and daily
//! hours by the front desk) and patients who register, have their address
//! verified (`carebook accounts verify`, as an operator would; the benchmark
//! reads no mail) and log in once.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use futures_util::{stream, StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::{
    api::{Api, Outcome},
    plan::{self, SlotPlan},
    world::{Lateness, Patient, Provider, World},
};

pub struct Settings {
    pub providers: usize,
    pub users: usize,
    /// Setup requests in flight at once.
    pub concurrency: usize,
    pub admin_email: String,
    /// The admin's TOTP secret (base32): admins sign in with a second factor.
    pub admin_totp_secret: String,
    pub staff_email: String,
    pub demo_password: String,
    /// The `carebook` binary that verifies the patients' addresses, run with
    /// the stack's environment.
    pub carebook: PathBuf,
}

/// Password of every benchmark account (setup only; never printed).
const PASSWORD: &str = "Load-benchmark-2026!";
/// How long another service may take to learn of a new account from its event.
const EVENT_PATIENCE: Duration = Duration::from_secs(30);

pub async fn build(api: &Api, s: &Settings) -> anyhow::Result<World> {
    let admin = api
        .login_with_totp(&s.admin_email, &s.demo_password, &s.admin_totp_secret)
        .await
        .context("logging in as the demo admin (is the demo clinic seeded?)")?
        .access_token;
    let staff = api
        .login(&s.staff_email, &s.demo_password)
        .await
        .context("logging in as the demo front desk")?
        .access_token;
    let tag = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let plan = SlotPlan::starting_after(chrono::Utc::now(), s.providers, s.users);

    let started = Instant::now();
    let providers: Vec<Provider> = stream::iter(0..s.providers)
        .map(|i| provider(api, &admin, &staff, &tag, i, &plan))
        .buffered(s.concurrency)
        .try_collect()
        .await?;
    println!(
        "setup: {} providers with daily hours in {:.1}s; room for {} bookings per patient",
        providers.len(),
        started.elapsed().as_secs_f64(),
        plan.bookings_per_user()
    );

    let started = Instant::now();
    let patients: Vec<Patient> = stream::iter(0..s.users)
        .map(|u| patient(api, &s.carebook, &tag, u))
        .buffered(s.concurrency)
        .try_collect()
        .await?;
    println!(
        "setup: {} patients registered, verified and logged in in {:.1}s",
        patients.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(World {
        providers,
        patients,
        plan,
        tag,
        lateness: Lateness::default(),
    })
}

/// Retry `step` while it reports that the event it depends on is not in yet.
async fn when_known<T, F, Fut>(what: &str, mut step: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Outcome<T>>>,
{
    let deadline = Instant::now() + EVENT_PATIENCE;
    loop {
        if let Outcome::Done(v) = step().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("{what}: still unknown after {EVENT_PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn provider(
    api: &Api,
    admin: &str,
    staff: &str,
    tag: &str,
    i: usize,
    plan: &SlotPlan,
) -> anyhow::Result<Provider> {
    let (name, _, specialty) = plan::provider_profile(i);
    let email = format!("load-{tag}-provider{i}@load.carebook.test");
    let account = api
        .create_provider_account(admin, &email, PASSWORD, &name)
        .await?;
    let id = account.provider_id.unwrap_or(account.id);
    when_known("provider profile", || {
        api.put_provider_profile(staff, id, &name, specialty)
    })
    .await?;
    let type_id = when_known("provider calendar", || {
        api.create_appointment_type(staff, id, plan::SLOT_MINUTES, plan::HORIZON_DAYS)
    })
    .await?;
    let hours = |t: chrono::NaiveTime| t.format("%H:%M").to_string();
    api.put_daily_availability(staff, id, &hours(plan::OPENS), &hours(plan::CLOSES))
        .await?;
    // Slots follow the profile's time zone, which scheduling learns from an event.
    let (from, to) = (
        plan.first_day.to_rfc3339(),
        (plan.first_day + chrono::Duration::days(1)).to_rfc3339(),
    );
    let expected = SlotPlan::slots_per_day() as usize;
    let deadline = Instant::now() + EVENT_PATIENCE;
    loop {
        if let Outcome::Done(n) = api.free_slots(staff, id, type_id, &from, &to).await? {
            if n == expected {
                break;
            }
        }
        if Instant::now() > deadline {
            bail!("provider {i}: slots never matched the daily hours");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Provider { id, type_id })
}

async fn patient(api: &Api, carebook: &Path, tag: &str, u: usize) -> anyhow::Result<Patient> {
    let email = format!("load-{tag}-patient{u}@load.carebook.test");
    api.register_patient(&email, PASSWORD, &format!("Load Patient {u}"))
        .await?;
    verify(carebook, &email).await?;
    let tokens = api.login(&email, PASSWORD).await?;
    Ok(Patient::new(tokens))
}

/// `carebook accounts verify --email EMAIL`: the address counts as verified.
async fn verify(carebook: &Path, email: &str) -> anyhow::Result<()> {
    let out = tokio::process::Command::new(carebook)
        .args(["accounts", "verify", "--email", email])
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {} accounts verify", carebook.display()))?;
    if !out.status.success() {
        bail!(
            "{} accounts verify: {} {}",
            carebook.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    Ok(())
}

/// Keep every patient's access token fresh: renew with the refresh token when
/// most of its lifetime has passed (the run may outlast it).
pub fn keep_tokens_fresh(world: Arc<World>, api: Api) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let now = Instant::now();
            for p in &world.patients {
                if let Some(refresh) = p.due_for_renewal(now) {
                    match api.refresh(&refresh).await {
                        Ok(tokens) => p.renewed(tokens),
                        Err(e) => eprintln!("token refresh failed: {e:#}"),
                    }
                }
            }
        }
    })
}
