//! What the gateway's test binaries share: a Redis of a test's own, plain text
//! or TLS only, that it may kill without disturbing other tests.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use platform::testing::eventually;

/// A `redis-server` child process on `127.0.0.1`, killed when dropped.
pub struct PrivateRedis {
    port: u16,
    tls: bool,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Plain text on `port`; returns once it listens.
    pub async fn start(port: u16) -> Self {
        let mut command = Command::new("redis-server");
        command.arg("--port").arg(port.to_string());
        Self::spawn(command, port, false).await
    }

    /// TLS only on `port` (no plain-text port), with the `redis` certificate
    /// of the CA in `dir` (as `carebook::certs::generate` writes it); clients
    /// need no certificate of their own. Returns once it listens.
    pub async fn start_tls(port: u16, dir: &Path) -> Self {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", "0", "--tls-port"])
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(dir.join("redis.pem"))
            .arg("--tls-key-file")
            .arg(dir.join("redis-key.pem"))
            .arg("--tls-ca-cert-file")
            .arg(dir.join("ca.pem"))
            .args(["--tls-auth-clients", "no"]);
        Self::spawn(command, port, true).await
    }

    async fn spawn(mut command: Command, port: u16, tls: bool) -> Self {
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let mut redis = Self {
            port,
            tls,
            child: Some(child),
        };
        redis.wait_listening().await;
        redis
    }

    async fn wait_listening(&mut self) {
        let port = self.port;
        let child = self.child.as_mut().expect("a running redis-server");
        eventually(Duration::from_secs(10), "redis-server to listen", || {
            // One that refuses its arguments (a build without TLS, an unreadable
            // key) exits at once: say so rather than wait for the timeout.
            if let Some(status) = child.try_wait().expect("redis-server's status") {
                panic!("redis-server on port {port} exited: {status}");
            }
            async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(|_| ())
            }
        })
        .await;
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL: `rediss://` when it speaks TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Stop it now (an outage); dropping it does the same.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
