//! What the virtual users share across runs: the clinic the setup created,
//! each patient's tokens, booking turn and booked appointments, and the
//! counters of late sends. Goose users come and go with each run (warm-up,
//! each knee step); patients and their bookings carry over.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::{api::Tokens, plan::SlotPlan};

pub struct Provider {
    pub id: Uuid,
    pub type_id: Uuid,
}

struct Session {
    access: Arc<str>,
    refresh: String,
    renew_at: Instant,
}

pub struct Patient {
    session: RwLock<Session>,
    /// The next booking turn in the slot plan.
    pub next_booking: AtomicU64,
    /// How many provider searches this patient made (varies the query).
    pub searches: AtomicU64,
    /// Booked and not yet cancelled, oldest first.
    pub booked: Mutex<VecDeque<Uuid>>,
}

/// Renew an access token when this much of its lifetime is left.
const RENEW_WHEN_LEFT: f64 = 0.3;

impl Patient {
    pub fn new(tokens: Tokens) -> Self {
        Self {
            session: RwLock::new(Session::from(tokens)),
            next_booking: AtomicU64::new(0),
            searches: AtomicU64::new(0),
            booked: Mutex::new(VecDeque::new()),
        }
    }

    pub fn access_token(&self) -> Arc<str> {
        match self.session.read() {
            Ok(s) => s.access.clone(),
            Err(poisoned) => poisoned.into_inner().access.clone(),
        }
    }

    /// The refresh token when the access token is due for renewal.
    pub fn due_for_renewal(&self, now: Instant) -> Option<String> {
        let s = self.session.read().ok()?;
        (s.renew_at <= now).then(|| s.refresh.clone())
    }

    pub fn renewed(&self, tokens: Tokens) {
        if let Ok(mut s) = self.session.write() {
            *s = Session::from(tokens);
        }
    }

    pub fn remember_booking(&self, id: Uuid) {
        if let Ok(mut q) = self.booked.lock() {
            q.push_back(id);
        }
    }

    pub fn take_oldest_booking(&self) -> Option<Uuid> {
        self.booked.lock().ok()?.pop_front()
    }
}

impl From<Tokens> for Session {
    fn from(t: Tokens) -> Self {
        let lifetime = Duration::from_secs(t.expires_in.max(30));
        Self {
            access: Arc::from(t.access_token),
            refresh: t.refresh_token,
            renew_at: Instant::now() + lifetime.mul_f64(1.0 - RENEW_WHEN_LEFT),
        }
    }
}

/// Sends that left later than their schedule: a user was still waiting for
/// its previous response (the only way an open-loop send is delayed here).
#[derive(Default)]
pub struct Lateness {
    pub sends: AtomicU64,
    /// Later than [`LATE`].
    pub late: AtomicU64,
    pub max_lag_us: AtomicU64,
    /// Cancellations with nothing to cancel (the user's bookings all failed).
    pub cancels_skipped: AtomicU64,
}

/// A send this much after its planned instant counts as late.
pub const LATE: Duration = Duration::from_millis(10);

impl Lateness {
    pub fn record(&self, lag: Duration) {
        self.sends.fetch_add(1, Ordering::Relaxed);
        if lag > LATE {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        self.max_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for c in [
            &self.sends,
            &self.late,
            &self.max_lag_us,
            &self.cancels_skipped,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

pub struct World {
    pub providers: Vec<Provider>,
    pub patients: Vec<Patient>,
    pub plan: SlotPlan,
    /// Distinguishes this run's accounts and idempotency keys from earlier runs'.
    pub tag: String,
    pub lateness: Lateness,
}
