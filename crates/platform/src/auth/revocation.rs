//! Accounts whose access tokens stop working before they expire (an admin
//! disabled them). Identity writes each into a Redis sorted set,
//! `<prefix>identity:revoked`, with the unix time after which listing it is
//! pointless (every token issued before the revocation has expired) as score;
//! every verifier reads the set every [`POLL_EVERY`] and refuses the listed
//! users' tokens. So a disabled account's token is refused everywhere within
//! `POLL_EVERY` plus one Redis round trip, not when it expires.
//!
//! If Redis is unreachable the last list read stays in force (and the tokens
//! of an account disabled meanwhile live out their ten minutes at most).

use std::{
    collections::HashSet,
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use uuid::Uuid;

use crate::tls::TlsIdentity;

/// How often the list is read.
pub const POLL_EVERY: Duration = Duration::from_secs(10);

/// Where the list lives.
#[derive(Clone, Debug)]
pub struct RevocationSource {
    pub redis_url: String,
    /// `<redis_prefix>identity:revoked`.
    pub key: String,
    pub tls: Option<Arc<TlsIdentity>>,
}

impl RevocationSource {
    /// The set identity keeps under `redis_prefix`.
    pub fn key_for(redis_prefix: &str) -> String {
        format!("{redis_prefix}identity:revoked")
    }
}

/// The users whose tokens are refused, as last read.
#[derive(Default)]
pub struct Revocations {
    users: RwLock<HashSet<Uuid>>,
}

impl Revocations {
    pub fn contains(&self, user: Uuid) -> bool {
        self.users.read().is_ok_and(|u| u.contains(&user))
    }

    fn replace(&self, users: HashSet<Uuid>) {
        if let Ok(mut current) = self.users.write() {
            *current = users;
        }
    }

    /// Read the list every [`POLL_EVERY`] while `owner` lives (the verifier
    /// holding it); stops by itself when it is dropped.
    pub fn keep_fresh(this: Weak<Self>, source: RevocationSource) {
        tokio::spawn(async move {
            let mut conn = None;
            loop {
                let Some(list) = this.upgrade() else { return };
                match read(&source, &mut conn).await {
                    Ok(users) => list.replace(users),
                    Err(e) => {
                        conn = None;
                        tracing::warn!(error = %e, "revoked accounts not read; the last list stays in force");
                    }
                }
                drop(list);
                tokio::time::sleep(POLL_EVERY).await;
            }
        });
    }
}

async fn read(
    source: &RevocationSource,
    conn: &mut Option<redis::aio::MultiplexedConnection>,
) -> redis::RedisResult<HashSet<Uuid>> {
    if conn.is_none() {
        let client = crate::cache::client(&source.redis_url, source.tls.as_ref())?;
        *conn = Some(
            tokio::time::timeout(
                Duration::from_secs(2),
                client.get_multiplexed_async_connection(),
            )
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::IoError, "connect timed out"))
            })??,
        );
    }
    let Some(c) = conn.as_mut() else {
        return Ok(HashSet::new());
    };
    let now = chrono::Utc::now().timestamp();
    let members: Vec<String> = tokio::time::timeout(
        Duration::from_secs(2),
        redis::cmd("ZRANGEBYSCORE")
            .arg(&source.key)
            .arg(now)
            .arg("+inf")
            .query_async(c),
    )
    .await
    .map_err(|_| redis::RedisError::from((redis::ErrorKind::IoError, "read timed out")))??;
    Ok(parse_members(&members))
}

/// The user ids among `members` (anything else is ignored).
pub fn parse_members(members: &[String]) -> HashSet<Uuid> {
    members.iter().filter_map(|m| m.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_that_are_no_user_id_are_ignored() {
        let id = Uuid::now_v7();
        let parsed = parse_members(&[id.to_string(), "junk".into()]);
        assert_eq!(parsed, HashSet::from([id]));
        let list = Revocations::default();
        assert!(!list.contains(id));
        list.replace(parsed);
        assert!(list.contains(id));
    }
}
