//! The web portal in a real browser: the whole stack (every service, the
//! portal, the gateway) on the real backing services, and a script under
//! `tools/browser/` driving Debian's Chromium through the gateway with
//! playwright-core: `portal.mjs` for patients and admins, `clinic.mjs` for
//! providers and staff, `accessibility.mjs` to audit every page a role can
//! reach with axe-core. The scripts' own checks decide; screenshots go to
//! `<target>/tmp/screenshots/<script>`. Besides the gateway (`CAREBOOK_URL`)
//! the scripts get scheduling's clock (`CAREBOOK_CLOCK_URL`) and MailDev
//! (`MAILDEV_URL`, its REST API under `/email`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::{path::Path, process::Stdio, time::Duration};

use carebook::stack::Stack;

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/browser");
const TIME_LIMIT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patients_and_admins_do_their_jobs_in_the_browser() {
    run_in_browser("portal").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn providers_and_staff_do_their_jobs_in_the_browser() {
    run_in_browser("clinic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_passes_an_accessibility_audit_on_desktop_and_phone() {
    run_in_browser("accessibility").await;
}

/// Run `tools/browser/<name>.mjs` against a fresh stack.
async fn run_in_browser(name: &str) {
    // Debian's Chromium (scripts/test installs it); CAREBOOK_CHROMIUM names another installed one.
    let chromium =
        std::env::var("CAREBOOK_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    for needed in [
        chromium.as_str(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tools/node_modules/playwright-core"
        ),
    ] {
        assert!(
            Path::new(needed).exists(),
            "{needed} is missing: run scripts/test (it installs Chromium and tools/ with npm)"
        );
    }
    // Every sign-in of a journey comes from this one machine: the sign-in
    // quota per address (tested on its own) would stop the journey halfway.
    let stack = Stack::start_with(&[("GATEWAY_RATE_AUTH", "1000/1m")])
        .await
        .expect("the stack starts");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("screenshots/{name}"));
    let mut node = tokio::process::Command::new("node")
        .arg(Path::new(SCRIPTS).join(format!("{name}.mjs")))
        .env("CAREBOOK_URL", &stack.gateway)
        // Scheduling's clock (`POST {"now": …}` or `{"advance_minutes": n}`), so
        // a script can reach a visit's time; MailDev's REST API, for the links
        // of account emails.
        .env("CAREBOOK_CLOCK_URL", &stack.clock_url)
        .env("MAILDEV_URL", stack.mail_url())
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM_PATH", &chromium)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (scripts/test installs Node.js)");
    let status = tokio::time::timeout(TIME_LIMIT, node.wait())
        .await
        .expect("the browser test finishes within five minutes")
        .expect("node exits");
    assert!(
        status.success(),
        "browser checks failed (screenshots in {})",
        shots.display()
    );
}
