//! A MailDev of the test's own: a real SMTP server on free ports, with its REST
//! API to read what arrived. Each test starts its own, so tests run in parallel
//! and can stop SMTP mid-test; dropping it kills the process.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{eventually, reserved_port};
use serde_json::Value;

fn binary() -> PathBuf {
    std::env::var_os("CAREBOOK_TEST_MAILDEV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tools/node_modules/.bin/maildev"
            ))
        })
}

pub struct MailDev {
    pub smtp_port: u16,
    pub web_port: u16,
    /// SMTP AUTH MailDev requires, if any (`--incoming-user/pass`).
    auth: Option<(String, String)>,
    dir: PathBuf,
    child: Option<Child>,
    client: reqwest::Client,
}

impl MailDev {
    pub async fn start() -> Self {
        Self::launch_new(None).await
    }

    /// A MailDev that refuses mail from clients that do not log in (530).
    pub async fn requiring_auth() -> Self {
        Self::launch_new(Some(("mailer".into(), "s3cret-pass".into()))).await
    }

    async fn launch_new(auth: Option<(String, String)>) -> Self {
        let dir = std::env::temp_dir().join(format!("carebook-maildev-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("mail directory");
        let mut m = Self {
            smtp_port: reserved_port(),
            web_port: reserved_port(),
            auth,
            dir,
            child: None,
            client: reqwest::Client::new(),
        };
        // Another test may have taken a port between the check and MailDev's bind.
        for _ in 0..3 {
            if m.launch().await {
                return m;
            }
            (m.smtp_port, m.web_port) = (reserved_port(), reserved_port());
        }
        panic!("MailDev exited at start three times");
    }

    /// Start MailDev and wait until it answers; false if it exited instead
    /// (a port it was given is taken).
    async fn launch(&mut self) -> bool {
        // Canonical: node resolves the script's modules from the path it is given.
        let bin = std::fs::canonicalize(binary()).unwrap_or_else(|e| {
            panic!(
                "MailDev not found at {} ({e}): run `npm ci` in tools/ (scripts/test does)",
                binary().display()
            )
        });
        let mut cmd = Command::new(bin);
        cmd.args(["--ip", "127.0.0.1", "--web-ip", "127.0.0.1", "--silent"])
            .args(["-s", &self.smtp_port.to_string()])
            .args(["-w", &self.web_port.to_string()])
            .arg("--mail-directory")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((user, pass)) = &self.auth {
            cmd.args(["--incoming-user", user, "--incoming-pass", pass]);
        }
        let url = self.url("/api/healthz");
        let client = self.client.clone();
        let child = self.child.insert(cmd.spawn().expect("start MailDev"));
        let started = eventually(Duration::from_secs(60), "MailDev to start", || {
            let (client, url) = (client.clone(), url.clone());
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            async move {
                if exited {
                    return Some(false);
                }
                let r = client.get(&url).send().await.ok()?;
                r.status().is_success().then_some(true)
            }
        })
        .await;
        if !started {
            self.child = None;
            return false;
        }
        let smtp = self.smtp_port;
        eventually(
            Duration::from_secs(10),
            "MailDev's SMTP port",
            || async move {
                std::net::TcpStream::connect(("127.0.0.1", smtp))
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        true
    }

    /// Kill the server (SMTP down); mail already received stays in its directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same ports.
    pub async fn restart(&mut self) {
        self.stop();
        assert!(
            self.launch().await,
            "MailDev exited on restart: port {} or {} was taken",
            self.smtp_port,
            self.web_port
        );
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.web_port)
    }

    /// Every email received, oldest first.
    pub async fn emails(&self) -> Vec<Email> {
        let list: Vec<Value> = self
            .client
            .get(self.url("/api/email"))
            .send()
            .await
            .expect("MailDev answers")
            .json()
            .await
            .expect("a JSON list");
        list.into_iter().map(Email).collect()
    }

    /// Wait until `n` emails matching `filter` arrived; return them.
    pub async fn wait_for(
        &self,
        n: usize,
        what: &str,
        filter: impl Fn(&Email) -> bool,
    ) -> Vec<Email> {
        let filter = &filter;
        eventually(Duration::from_secs(20), what, || async move {
            let got: Vec<Email> = self.emails().await.into_iter().filter(filter).collect();
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// The text of an email's calendar attachment.
    pub async fn calendar(&self, email: &Email) -> String {
        let attachment = email
            .attachments()
            .into_iter()
            .find(|a| a["contentType"] == "text/calendar")
            .unwrap_or_else(|| panic!("no calendar attachment in {}", email.0));
        let file = attachment["generatedFileName"]
            .as_str()
            .expect("a generated file name");
        let path = format!("/api/email/{}/attachment/{file}", email.id());
        let r = self.client.get(self.url(&path)).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.text().await.unwrap()
    }
}

impl Drop for MailDev {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One email as MailDev's REST API shows it.
#[derive(Clone, Debug)]
pub struct Email(pub Value);

impl Email {
    pub fn id(&self) -> &str {
        self.0["id"].as_str().expect("an id")
    }

    pub fn subject(&self) -> &str {
        self.0["subject"].as_str().unwrap_or("")
    }

    pub fn to(&self) -> Vec<String> {
        self.0["to"]
            .as_array()
            .map(|to| {
                to.iter()
                    .filter_map(|t| t["address"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn is_to(&self, address: &str) -> bool {
        self.to().iter().any(|a| a == address)
    }

    pub fn attachments(&self) -> Vec<Value> {
        self.0["attachments"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn text(&self) -> &str {
        self.0["text"].as_str().unwrap_or("")
    }

    pub fn html(&self) -> &str {
        self.0["html"].as_str().unwrap_or("")
    }
}
