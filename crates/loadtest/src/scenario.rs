//! The goose scenario: one virtual user per patient, each sending on its own
//! fixed schedule (see [`Pacing`]) the weighted operations in a round that
//! starts at its own place ([`Op::for_send`]), so the mix holds at every
//! instant.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use goose::{config::GooseConfiguration, prelude::*};
use gumdrop::Options;
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    plan::{self, Op, Pacing},
    world::World,
};

/// One timed run at a fixed arrival rate.
pub struct Run {
    pub rate: f64,
    pub duration: Duration,
}

/// Everything a transaction needs, shared by all users of one run.
struct Context {
    world: Arc<World>,
    pacing: Pacing,
    duration: Duration,
    /// Sends planned after this are not made: goose lets a user finish the
    /// transaction it is in when the run time is up, which would add a tail
    /// of up to one interval beyond the measured window. Set when the last
    /// user starts, which is when goose resets its metrics and starts
    /// counting the run time.
    last_send: OnceLock<Instant>,
}

/// Per goose user: when its next request is due, and how many it has sent.
struct Schedule {
    next: Instant,
    turn: usize,
}

pub async fn execute(world: Arc<World>, base_url: &str, run: &Run) -> anyhow::Result<GooseMetrics> {
    let users = world.patients.len();
    world.lateness.reset();
    let ctx = Arc::new(Context {
        world,
        pacing: Pacing::new(users, run.rate),
        duration: run.duration,
        last_send: OnceLock::new(),
    });
    // One transaction that sends whichever operation the user's turn names:
    // goose's own weighting would have every user on the same operation at
    // once (all start together), so the load came in bursts of bookings and
    // of cancellations rather than as the mix.
    let scenario = scenario!("patients").register_transaction(mix(ctx.clone()));
    // Goose's own options, as on its command line: all users start within a
    // second, its metrics reset once they have, and it listens on no port.
    let seconds = run.duration.as_secs().max(1).to_string();
    let users_arg = users.to_string();
    let args = [
        "--host",
        base_url,
        "--users",
        &users_arg,
        "--hatch-rate",
        &users_arg,
        "--run-time",
        &seconds,
        "--no-telnet",
        "--no-websocket",
        "--no-print-metrics",
        "--quiet",
    ];
    let config = GooseConfiguration::parse_args_default(&args)
        .map_err(|e| anyhow::anyhow!("goose options: {e}"))?;
    let metrics = GooseAttack::initialize_with_config(config)?
        .register_scenario(scenario)
        .set_scheduler(GooseScheduler::RoundRobin)
        .execute()
        .await?;
    Ok(metrics)
}

fn mix(ctx: Arc<Context>) -> Transaction {
    Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let ctx = ctx.clone();
        Box::pin(async move {
            match pace(&ctx, user).await {
                Some(op) => perform(&ctx, op, user).await,
                None => Ok(()),
            }
        })
    }))
    .set_name("mix")
}

/// Wait until this user's next send is due, then move its schedule on; the
/// operation to send. None when the send falls after the run's end and must
/// not be made.
async fn pace(ctx: &Context, user: &mut GooseUser) -> Option<Op> {
    let index = user.weighted_users_index;
    let now = Instant::now();
    let (due, turn) = match user.get_session_data::<Schedule>() {
        Some(s) => (s.next, s.turn),
        None => {
            if index + 1 == ctx.pacing.users {
                let _ = ctx.last_send.set(now + ctx.duration);
            }
            (now + ctx.pacing.offset(index), 0)
        }
    };
    tokio::time::sleep_until(due).await;
    user.set_session_data(Schedule {
        next: due + ctx.pacing.interval,
        turn: turn + 1,
    });
    if ctx.last_send.get().is_some_and(|last| due > *last) {
        return None;
    }
    ctx.world
        .lateness
        .record(Instant::now().saturating_duration_since(due));
    Some(Op::for_send(index, turn))
}

#[derive(Deserialize)]
struct Booked {
    id: Uuid,
}

async fn perform(ctx: &Context, op: Op, user: &mut GooseUser) -> TransactionResult {
    let world = &ctx.world;
    let index = user.weighted_users_index % world.patients.len();
    let patient = &world.patients[index];
    let home = &world.providers[world.plan.home_provider(index)];
    let token = patient.access_token();
    let (method, path, body, expect) = match op {
        Op::Search => {
            let n = patient
                .searches
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let query = plan::search_query(index, n);
            (
                GooseMethod::Get,
                format!("/api/v1/providers?{query}"),
                None,
                200,
            )
        }
        Op::Slots => {
            let next = patient
                .next_booking
                .load(std::sync::atomic::Ordering::Relaxed);
            let (from, to) = world.plan.search_window(index, next);
            let path = format!(
                "/api/v1/providers/{}/slots?appointment_type_id={}&from={}&to={}",
                home.id,
                home.type_id,
                from.format("%Y-%m-%dT%H:%M:%SZ"),
                to.format("%Y-%m-%dT%H:%M:%SZ"),
            );
            (GooseMethod::Get, path, None, 200)
        }
        Op::OwnAppointments => (
            GooseMethod::Get,
            "/api/v1/appointments".to_owned(),
            None,
            200,
        ),
        Op::Book => {
            let turn = patient
                .next_booking
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = json!({
                "provider_id": home.id,
                "appointment_type_id": home.type_id,
                "start": world.plan.slot(index, turn),
            });
            (
                GooseMethod::Post,
                "/api/v1/appointments".to_owned(),
                Some((body, turn)),
                201,
            )
        }
        Op::Cancel => match patient.take_oldest_booking() {
            Some(id) => (
                GooseMethod::Post,
                format!("/api/v1/appointments/{id}/cancel"),
                Some((json!({ "reason": "load benchmark" }), 0)),
                200,
            ),
            None => {
                world
                    .lateness
                    .cancels_skipped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
        },
    };
    let mut builder = user
        .get_request_builder(&method, &path)?
        .bearer_auth(&*token);
    if let Some((json, turn)) = &body {
        builder = builder.json(json);
        if op == Op::Book {
            builder = builder.header(
                "idempotency-key",
                format!("load-{}-{index}-{turn}", world.tag),
            );
        }
    }
    let request = GooseRequest::builder()
        .set_request_builder(builder)
        .name(op.name())
        .expect_status_code(expect)
        .build();
    let response = user.request(request).await?;
    // Read every body: a connection goes back to the pool only once its body is consumed.
    if let Ok(r) = response.response {
        let created = r.status().as_u16() == 201;
        let body = r.bytes().await.unwrap_or_default();
        if op == Op::Book && created {
            if let Ok(b) = serde_json::from_slice::<Booked>(&body) {
                patient.remember_booking(b.id);
            }
        }
    }
    Ok(())
}
