use std::{net::SocketAddr, time::Duration};

use platform::{cache::LazyCache, shutdown::CancellationToken};
use portal::session::SessionStore;

/// A Redis key prefix of this test's own, its keys deleted on drop.
pub struct TestRedis {
    pub prefix: String,
}

impl TestRedis {
    pub fn new() -> Self {
        Self {
            prefix: format!(
                "carebook-test:{}:",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
        }
    }

    pub async fn store(&self, idle: Duration, max: Duration) -> SessionStore {
        let redis =
            LazyCache::connect_to(&platform::testing::redis_url(), &self.prefix, "portal").await;
        assert!(redis.get().is_some(), "Redis must run for these tests");
        SessionStore::new(redis, idle, max)
    }

    /// Every key under this test's prefix.
    pub async fn keys(&self) -> Vec<String> {
        let mut conn = connection().await;
        redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

pub async fn connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(platform::testing::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let mut conn = connection().await;
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{prefix}*"))
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut conn).await;
                }
            });
        })
        .join();
    }
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
                ("PORTAL_REDIS_PREFIX", &redis.prefix),
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
