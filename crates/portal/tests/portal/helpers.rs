//! The portal under test: it has no database and consumes no events, so no
//! `TestApp`; what is its own is a session store on a test's slice of Redis, the
//! portal on an ephemeral port, and a browser's view of its pages.

use std::{net::SocketAddr, time::Duration};

use chrono::Utc;
use platform::{auth::Role, cache::LazyCache, shutdown::CancellationToken, testing::TestBacking};
use portal::session::{SessionData, SessionKeys, SessionStore, SignedIn, Tokens};
use redis::AsyncCommands;
use reqwest::{header, StatusCode};
use uuid::Uuid;

/// A Redis key prefix of this test's own, and a session key of its own; the
/// backing deletes its keys when dropped.
pub struct TestRedis {
    backing: TestBacking,
    /// `PORTAL_SESSION_KEY` of this test (base64).
    pub session_key: String,
}

impl TestRedis {
    pub fn new() -> Self {
        Self {
            backing: TestBacking::new("portal"),
            session_key: SessionKeys::generate(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.backing.config.redis_prefix
    }

    /// A store sealing under this test's session key.
    pub async fn store(&self, idle: Duration, max: Duration) -> SessionStore {
        self.store_with(
            SessionKeys::parse(&self.session_key, "").unwrap(),
            idle,
            max,
        )
        .await
    }

    /// A store on this test's prefix with other keys (a rotation, a wrong key).
    pub async fn store_with(
        &self,
        keys: SessionKeys,
        idle: Duration,
        max: Duration,
    ) -> SessionStore {
        let redis =
            LazyCache::connect_to(&self.backing.config.redis_url, self.prefix(), "portal").await;
        assert!(redis.get().is_some(), "Redis must run for these tests");
        SessionStore::new(redis, keys, idle, max)
    }

    /// The stored bytes of every session under this test's prefix.
    pub async fn session_values(&self) -> Vec<Vec<u8>> {
        let mut conn = connection().await;
        let mut values = Vec::new();
        for key in self.keys().await {
            if key.contains("portal:session:") {
                values.push(conn.get(&key).await.unwrap());
            }
        }
        values
    }

    /// Every key under this test's prefix.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = connection().await;
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix()))
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

/// Whether `needle` occurs anywhere in `bytes`.
pub fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A connection to the test Redis, to look at what the store wrote.
pub async fn connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(platform::testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The portal on an ephemeral port, with `api_url` as its API.
pub struct Portal {
    pub addr: SocketAddr,
    pub redis: TestRedis,
    cancel: CancellationToken,
}

impl Portal {
    pub async fn start(api_url: &str) -> Self {
        let redis = TestRedis::new();
        let env = platform::testing::local_env(
            "portal",
            &[
                ("PORTAL_API_URL", api_url),
                ("PORTAL_REDIS_PREFIX", redis.prefix()),
                ("PORTAL_SESSION_KEY", &redis.session_key),
                ("CAREBOOK_REDIS_URL", &platform::testing::redis_url()),
                (
                    "PORTAL_HTMX_DIR",
                    concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/../../tools/node_modules/htmx.org/dist"
                    ),
                ),
            ],
        );
        let config = portal::Config::load(env).unwrap();
        let (addr, cancel) = platform::testing::spawn(portal::build(&config).await.unwrap()).await;
        Self {
            addr,
            redis,
            cancel,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A client that keeps cookies and never follows redirects (the tests look at them).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// A browser signed in as someone: the session is put in the portal's store
/// the way the login page would, so these tests depend on no login flow.
pub struct Visitor {
    pub client: reqwest::Client,
    pub cookie: String,
}

impl Visitor {
    pub async fn signed_in(portal: &Portal, role: Role, user_id: Uuid) -> Self {
        let store = portal
            .redis
            .store(Duration::from_secs(600), Duration::from_secs(3600))
            .await;
        let now = Utc::now();
        let data = SessionData::signed_in(
            SignedIn {
                user_id,
                name: format!("Tess {}", role.as_str()),
                email: format!("{}@example.test", role.as_str()),
                role,
                patient_id: (role == Role::Patient).then_some(user_id),
                provider_id: (role == Role::Provider).then_some(user_id),
                tokens: Tokens {
                    access: "access-token".into(),
                    refresh: "refresh-token".into(),
                    access_expires_at: now + chrono::Duration::minutes(10),
                },
            },
            now,
        );
        let id = store.create(&data).await.unwrap();
        Self {
            client: browser(),
            cookie: format!("carebook_session={}", id.as_str()),
        }
    }

    pub async fn get(&self, portal: &Portal, path: &str) -> (StatusCode, String) {
        let r = self
            .client
            .get(portal.url(path))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    /// Post `fields` with the CSRF token of `page`.
    pub async fn post(
        &self,
        portal: &Portal,
        path: &str,
        page: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = csrf_of(page);
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf_token", &csrf));
        self.client
            .post(portal.url(path))
            .header(header::COOKIE, &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Follow a 303 and return the page it leads to.
    pub async fn follow(&self, portal: &Portal, r: reqwest::Response) -> String {
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "a redirect");
        let to = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
        self.get(portal, &to).await.1
    }
}

/// Everything the portal logs while `run` runs, at every level.
pub async fn logged_during<F: std::future::Future<Output = ()>>(run: F) -> String {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime has one thread: the portal's tasks log through this subscriber.
    let guard = tracing::subscriber::set_default(subscriber);
    run.await;
    drop(guard);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes).into_owned()
}
