//! The sign-in throttle around every check of a secret a guesser could try
//! (a password, a second-factor code): checked before, counted after a
//! failure, cleared after a full sign-in. The rules are `domain::lockout`'s.

use std::net::IpAddr;

use contracts::identity::SigninAlert;
use sha2::{Digest, Sha256};

use crate::{
    domain::{
        client::throttle_network,
        lockout::{self, AlertStep, Verdict},
    },
    error::Error,
    events,
    store::{self, throttle, UserRow},
    AppState,
};

/// One sign-in attempt's counters: the (account, address) pair and the address.
pub struct Attempt {
    account_key: Vec<u8>,
    address_key: Vec<u8>,
    pair_key: Vec<u8>,
}

fn hash(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().to_vec()
}

impl Attempt {
    /// The attempt on the account of `email` (as typed, normalized or not:
    /// known and unknown emails are keyed alike) from `client`.
    pub fn new(email: &str, client: IpAddr) -> Self {
        let account_key = hash(&[b"account", email.trim().to_lowercase().as_bytes()]);
        let address_key = hash(&[b"address", throttle_network(client).as_bytes()]);
        let pair_key = hash(&[b"pair", &account_key, &address_key]);
        Self {
            account_key,
            address_key,
            pair_key,
        }
    }
}

/// Refuse the attempt while its pair or its address must wait.
pub async fn check(state: &AppState, attempt: &Attempt) -> Result<(), Error> {
    let now = state.clock.now();
    let pair = throttle::counter(&state.db, &attempt.pair_key).await?;
    let address = throttle::counter(&state.db, &attempt.address_key).await?;
    match lockout::stricter(
        lockout::verdict(pair.as_ref(), now),
        lockout::verdict(address.as_ref(), now),
    ) {
        Verdict::Allow => Ok(()),
        Verdict::Wait { retry_after } => Err(Error::TooManyAttempts { retry_after }),
    }
}

/// Count a failure against the attempt's pair and address, and against the
/// account for the many-addresses alert (`account` when it exists: the alert
/// is emailed to its holder once per episode).
pub async fn failed(
    state: &AppState,
    attempt: &Attempt,
    account: Option<&UserRow>,
) -> Result<(), Error> {
    let now = state.clock.now();
    let p = &state.policy;
    let mut tx = state.db.begin().await?;
    throttle::record_failure(&mut tx, &attempt.pair_key, &p.pair_limits, now).await?;
    throttle::record_failure(&mut tx, &attempt.address_key, &p.address_limits, now).await?;
    let recent = throttle::log_failure(
        &mut tx,
        &attempt.account_key,
        &attempt.address_key,
        p.alert.window,
        now,
    )
    .await?;
    let episode = throttle::alert_episode(&mut *tx, &attempt.account_key).await?;
    let mut alerted = false;
    match lockout::alert_step(&p.alert, recent.failures, recent.addresses, episode, now) {
        AlertStep::Quiet => {}
        AlertStep::Continue => {
            throttle::extend_alert_episode(&mut tx, &attempt.account_key, now).await?
        }
        AlertStep::Open => {
            // Unknown accounts are counted alike, but nobody is there to tell.
            if let Some(user) = account {
                if throttle::open_alert_episode(&mut tx, &attempt.account_key, p.alert.window, now)
                    .await?
                {
                    events::publish::<SigninAlert>(
                        &mut tx,
                        &SigninAlert {
                            user_id: user.id,
                            email: user.email.clone(),
                            name: user.name.clone(),
                            failures: recent.failures,
                            addresses: recent.addresses,
                            since: recent.since,
                        },
                    )
                    .await?;
                    alerted = true;
                }
            }
        }
    }
    throttle::prune(&mut tx, now).await?;
    tx.commit().await?;
    if alerted {
        state.relay.wake();
        if let Some(user) = account {
            tracing::warn!(user_id = %user.id, failures = recent.failures, addresses = recent.addresses, "sign-in alert");
        }
    }
    Ok(())
}

/// A full sign-in from the pair: its failures are forgotten (the address's
/// are not — one good account must not launder a spraying address).
pub async fn succeeded(state: &AppState, attempt: &Attempt) -> Result<(), Error> {
    store::throttle::clear(&state.db, &attempt.pair_key).await?;
    Ok(())
}
