// End-to-end test of the web portal in a real browser (Debian's Chromium via
// playwright-core; no browser is ever downloaded). Drives the portal through
// the gateway at CAREBOOK_URL, reads the emails the stack sends from MailDev's
// REST API at MAILDEV_URL, and saves screenshots to SCREENSHOT_DIR. The demo
// admin signs in with TOTP codes computed from the seed's secret.
// Exits non-zero on the first failed expectation.
//
//   CAREBOOK_URL=http://127.0.0.1:8080 MAILDEV_URL=http://127.0.0.1:1080 SCREENSHOT_DIR=/tmp/shots node tools/browser/portal.mjs

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import * as OTPAuth from "otpauth";

const BASE = (process.env.CAREBOOK_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const SHOTS = process.env.SCREENSHOT_DIR ?? "screenshots";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PASSWORD = "Carebook-demo-2026!";
const MAILDEV = (process.env.MAILDEV_URL ?? "http://127.0.0.1:1080").replace(/\/$/, "");
// The demo admin's TOTP secret (crates/carebook/src/seed.rs).
const ADMIN_TOTP = "INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRW";
const EMAIL = {
  admin: "admin@demo.carebook.test",
  provider1: "provider1@demo.carebook.test",
  patient1: "patient1@demo.carebook.test",
  patient2: "patient2@demo.carebook.test",
};
const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

mkdirSync(SHOTS, { recursive: true });

const step = (text) => console.log(`✓ ${text}`);

// ---- the API, for setup a provider would do in their own pages ----

async function api(path, { token, method = "GET", body } = {}) {
  const headers = { accept: "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function apiToken(email) {
  const r = await api("/api/v1/auth/login", { method: "POST", body: { email, password: PASSWORD } });
  assert.equal(r.status, 200, `API login of ${email}: ${JSON.stringify(r.body)}`);
  return r.body.access_token;
}

/**
 * Moves the clinic's clock (scheduling's and the portal's, over the system
 * test's control endpoint CAREBOOK_CLOCK_URL) to `instant`, so a visit can be
 * checked in and completed without waiting for its day. Without the endpoint
 * (a real deployment) the clock cannot move and visit steps wait for their time.
 */
async function clinicClockAt(instant) {
  const url = process.env.CAREBOOK_CLOCK_URL;
  assert.ok(url, "visit steps need CAREBOOK_CLOCK_URL (the system tests' clock) to move time to the visit");
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ now: new Date(instant).toISOString() }) });
  assert.equal(r.status, 200, `moving the clock: ${await r.text()}`);
}

/** `instant` moved by `minutes`. */
const plusMinutes = (instant, minutes) => new Date(new Date(instant).getTime() + minutes * 60_000);

async function eventually(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---- mail and codes ----

/** Every email MailDev holds (newest last). */
async function mailbox() {
  for (const path of ["/api/email", "/email"]) {
    const r = await fetch(`${MAILDEV}${path}`);
    if (r.ok) return r.json();
  }
  throw new Error(`MailDev does not answer at ${MAILDEV}`);
}

/** The newest email to `address` whose subject matches, once it arrived. */
async function mailTo(address, subject) {
  return eventually(`an email "${subject}" to ${address}`, async () => {
    const mails = (await mailbox()).filter(
      (m) => (m.to ?? []).some((t) => t.address?.toLowerCase() === address.toLowerCase()) && subject.test(m.subject ?? ""),
    );
    return mails.at(-1);
  });
}

/** The token of the portal link `path?token=…` in an email. */
function linkToken(mail, path) {
  const text = `${mail.text ?? ""} ${mail.html ?? ""}`;
  const m = text.match(new RegExp(`${path}\\?token=([A-Za-z0-9_.~%-]+)`));
  assert.ok(m, `no ${path} link in "${mail.subject}": ${text.slice(0, 500)}`);
  return decodeURIComponent(m[1]);
}

/** Codes of an authenticator app; each 30-second code signs in once, so wait for a fresh one. */
const usedSteps = new Map();
async function totpCode(secret) {
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret.replace(/\s/g, "")), digits: 6, period: 30, algorithm: "SHA1" });
  for (;;) {
    const step = Math.floor(Date.now() / 30000);
    if (usedSteps.get(secret) !== step) {
      usedSteps.set(secret, step);
      return totp.generate();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ---- the browser ----

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

/** Pages fail the test on script errors and CSP violations. */
function watch(page) {
  page.on("pageerror", (e) => {
    throw new Error(`script error on ${page.url()}: ${e.message}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) {
      throw new Error(`CSP violation on ${page.url()}: ${m.text()}`);
    }
  });
  return page;
}

async function newPage(options = DESKTOP, storageState) {
  const context = await browser.newContext({ ...options, baseURL: BASE, storageState, timezoneId: "America/Chicago" });
  return watch(await context.newPage());
}

async function shot(page, name) {
  // caret "initial": hiding the caret would inject a style, which our CSP (rightly) blocks.
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, caret: "initial" });
}

async function login(page, email, { password = PASSWORD, totp } = {}) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  if (totp) {
    await page.waitForURL(/\/login\/code$/);
    await page.getByLabel("Code").fill(await totpCode(totp));
    await page.getByRole("button", { name: "Continue" }).click();
  }
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

async function flash(page) {
  return (await page.locator(".flash").textContent())?.trim();
}

/** Open the week view of `typeIndex`'s type of the provider and go forward until a slot shows. */
async function weekWithSlots(page) {
  for (let i = 0; i < 5; i++) {
    if ((await page.locator("button.slot").count()) > 0) return;
    await page.getByRole("link", { name: "Next week →" }).click();
    await page.waitForLoadState("networkidle");
  }
  throw new Error("no free slot in five weeks");
}

async function book(page, providerName) {
  await page.goto("/providers");
  await page.getByRole("link", { name: providerName }).first().click();
  await page.waitForURL(/\/providers\/[0-9a-f-]{36}$/);
  await page.getByRole("link", { name: "See free times" }).first().click();
  await page.waitForURL(/\/book\//);
  await weekWithSlots(page);
  const label = await page.locator("button.slot").first().getAttribute("aria-label");
  await page.locator("button.slot").first().click();
  // The slot is held while the patient confirms.
  await page.getByRole("button", { name: "Confirm booking" }).waitFor();
  assert.match(await page.locator("main").textContent(), /Held for you until/);
  await page.getByRole("button", { name: "Confirm booking" }).click();
  await page.waitForURL(/\/appointments\/[0-9a-f-]{36}$/);
  return { id: page.url().split("/").pop(), label };
}

try {
  // Anonymous visitors: the landing page, and a wrong password said kindly.
  const visitor = await newPage();
  await visitor.goto("/");
  await shot(visitor, "home");
  await visitor.goto("/login");
  await visitor.getByLabel("Email").fill(EMAIL.patient1);
  await visitor.getByLabel("Password").fill("not-the-password");
  await visitor.getByRole("button", { name: "Log in" }).click();
  await visitor.locator(".problem").waitFor();
  assert.equal((await visitor.locator(".problem").textContent()).trim(), "The email or password is wrong.");
  assert.ok(!(await visitor.content()).includes("problems/invalid-credentials"), "no raw problem JSON on the page");
  await shot(visitor, "login-error");
  step("a wrong password shows a friendly message, not JSON");

  // A new patient registers, confirms the address from the email, and signs in.
  const run = Date.now().toString(36);
  const nina = { email: `nina.${run}@example.test`, password: "Nina-first-passphrase-1" };
  const fresh = await newPage();
  await fresh.goto("/register");
  await fresh.getByLabel("Full name").fill("Nina Newcomer");
  await fresh.getByLabel("Email").fill(nina.email);
  await fresh.getByLabel("Password").fill(nina.password);
  await fresh.getByRole("button", { name: "Create account" }).click();
  await fresh.getByRole("heading", { name: "Check your email" }).waitFor();
  const checkEmail = (await fresh.locator("main").textContent()).replace(/\s+/g, " ");
  await shot(fresh, "register-check-email");
  // Registering an address that has an account looks exactly the same.
  const again = await newPage();
  await again.goto("/register");
  await again.getByLabel("Full name").fill("Someone Else");
  await again.getByLabel("Email").fill(EMAIL.patient1);
  await again.getByLabel("Password").fill("Another-long-passphrase-2");
  await again.getByRole("button", { name: "Create account" }).click();
  await again.getByRole("heading", { name: "Check your email" }).waitFor();
  assert.equal((await again.locator("main").textContent()).replace(/\s+/g, " "), checkEmail);
  await again.context().close();
  step("registering says 'check your email', the same for a new and an existing address");

  // Not confirmed yet: the right password says so and offers a new link.
  await fresh.goto("/login");
  await fresh.getByLabel("Email").fill(nina.email);
  await fresh.getByLabel("Password").fill(nina.password);
  await fresh.getByRole("button", { name: "Log in" }).click();
  await fresh.locator(".problem").waitFor();
  assert.match(await fresh.locator(".problem").textContent(), /not confirmed yet/);
  await fresh.getByRole("button", { name: "Email me a new confirmation link" }).waitFor();
  await shot(fresh, "login-unverified");

  const verification = await mailTo(nina.email, /Confirm your email address/);
  await fresh.goto(`/verify-email?token=${encodeURIComponent(linkToken(verification, "/verify-email"))}`);
  await shot(fresh, "verify-email");
  await fresh.getByRole("button", { name: "Confirm my email" }).click();
  await fresh.getByRole("heading", { name: "Your email address is confirmed" }).waitFor();
  await fresh.getByRole("link", { name: "Log in" }).last().click();
  await fresh.waitForURL(/\/login/);
  await login(fresh, nina.email, { password: nina.password });
  assert.equal(new URL(fresh.url()).pathname, "/appointments");
  step("the emailed link confirms the address (after a button press) and the patient signs in");

  // Forgotten password: the emailed link sets a new one; the old one stops working.
  await fresh.getByRole("button", { name: "Log out" }).click();
  await fresh.waitForURL(/\/login/);
  await fresh.getByRole("link", { name: "Forgot your password?" }).click();
  // The login page has an Email field too: fill the reset page's, not the one leaving.
  await fresh.waitForURL(/\/password-reset$/);
  await fresh.getByLabel("Email").fill(nina.email);
  await fresh.getByRole("button", { name: "Email me a reset link" }).click();
  await fresh.getByText("If an account exists for that address").waitFor();
  const reset = await mailTo(nina.email, /Reset your Carebook password/);
  await fresh.goto(`/password-reset/confirm?token=${encodeURIComponent(linkToken(reset, "/password-reset/confirm"))}`);
  nina.password = "Nina-second-passphrase-2";
  await fresh.getByLabel("New password", { exact: true }).fill(nina.password);
  await fresh.getByLabel("Repeat the new password").fill(nina.password);
  await shot(fresh, "password-reset-confirm");
  await fresh.getByRole("button", { name: "Set my new password" }).click();
  await fresh.getByRole("heading", { name: "Your password has been changed" }).waitFor();
  await fresh.goto("/login");
  await fresh.getByLabel("Email").fill(nina.email);
  await fresh.getByLabel("Password").fill("Nina-first-passphrase-1");
  await fresh.getByRole("button", { name: "Log in" }).click();
  await fresh.locator(".problem").waitFor();
  assert.equal((await fresh.locator(".problem").textContent()).trim(), "The email or password is wrong.");
  await login(fresh, nina.email, { password: nina.password });
  step("a forgotten password is reset through the emailed link; the old one no longer works");

  // The account page: change the password (this session stays), see the sessions.
  await fresh.getByRole("link", { name: "My account" }).click();
  await fresh.getByRole("heading", { name: "My account", level: 1 }).waitFor();
  await fresh.locator("#sessions .badge", { hasText: "This session" }).waitFor();
  await fresh.getByLabel("Current password").fill(nina.password);
  nina.password = "Nina-third-passphrase-3";
  await fresh.getByLabel("New password", { exact: true }).fill(nina.password);
  await fresh.getByLabel("Repeat the new password").fill(nina.password);
  await fresh.getByRole("button", { name: "Change password" }).click();
  await fresh.locator(".flash").waitFor();
  assert.match(await flash(fresh), /Your password has been changed/);
  await fresh.goto("/appointments");
  assert.equal(new URL(fresh.url()).pathname, "/appointments", "still signed in after the change");
  await mailTo(nina.email, /Your Carebook password was changed/);
  await fresh.goto("/account");
  await shot(fresh, "account");
  step("the patient changes the password on the account page and stays signed in");

  // Two-step sign-in: set up an app, sign in with its code, turn it off again.
  await fresh.getByRole("button", { name: "Set up an authenticator app" }).click();
  await fresh.waitForURL(/\/account\/totp$/);
  const secret = await fresh.locator("#totp-secret").getAttribute("data-secret");
  assert.match(await fresh.locator("#totp-uri").textContent(), /^otpauth:\/\/totp\//);
  await shot(fresh, "totp-setup");
  await fresh.getByLabel("Code from your app").fill(await totpCode(secret));
  await fresh.getByRole("button", { name: "Turn on two-step sign-in" }).click();
  await fresh.locator("#recovery-codes").waitFor();
  const recovery = (await fresh.locator("#recovery-codes code").allTextContents()).map((c) => c.trim());
  assert.equal(recovery.length, 10);
  await shot(fresh, "recovery-codes");
  await fresh.getByRole("button", { name: "Log out" }).click();
  await fresh.waitForURL(/\/login/);
  await login(fresh, nina.email, { password: nina.password, totp: secret });
  assert.equal(new URL(fresh.url()).pathname, "/appointments");
  await fresh.getByRole("button", { name: "Log out" }).click();
  await fresh.waitForURL(/\/login/);
  // A lost phone: a recovery code signs in once.
  await fresh.getByLabel("Email").fill(nina.email);
  await fresh.getByLabel("Password").fill(nina.password);
  await fresh.getByRole("button", { name: "Log in" }).click();
  await fresh.waitForURL(/\/login\/code$/);
  await fresh.getByLabel("Code").fill("000000");
  await fresh.getByRole("button", { name: "Continue" }).click();
  await fresh.locator(".problem").waitFor();
  assert.match(await fresh.locator(".problem").textContent(), /That code is wrong/);
  await fresh.getByLabel("Code").fill(recovery[0]);
  await fresh.getByRole("button", { name: "Continue" }).click();
  await fresh.waitForURL(/\/appointments$/);
  await fresh.goto("/account");
  await fresh.getByLabel("Code from your app").fill(recovery[1]);
  await fresh.getByRole("button", { name: "Turn off two-step sign-in" }).click();
  await fresh.locator(".flash").waitFor();
  assert.match(await flash(fresh), /Two-step sign-in is off/);
  step("the patient sets up an authenticator, signs in with a code and with a recovery code, and turns it off");

  // Patient 1: find a provider, make her preferred.
  const p1 = await newPage();
  await login(p1, EMAIL.patient1);
  assert.equal(new URL(p1.url()).pathname, "/appointments");
  await p1.goto("/providers");
  await p1.getByLabel("Name, specialty or keyword").fill("Vogel");
  await p1.getByRole("button", { name: "Search" }).click();
  await p1.waitForURL(/q=Vogel/);
  const card = p1.locator("li.provider", { hasText: "Dr. Lena Vogel" });
  await card.waitFor();
  if ((await card.getByRole("button", { name: "Make preferred" }).count()) > 0) {
    await card.getByRole("button", { name: "Make preferred" }).click();
    await p1.locator(".flash").waitFor();
    assert.match(await flash(p1), /Dr\. Lena Vogel is now your preferred provider/);
  }
  await p1.locator("li.provider.preferred", { hasText: "Dr. Lena Vogel" }).waitFor();
  await p1.goto("/providers");
  await shot(p1, "providers");
  step("search finds Dr. Lena Vogel, marked as preferred provider");

  // Book with one click; the confirmation and "my appointments" show it.
  const first = await book(p1, "Dr. Lena Vogel");
  assert.match(await flash(p1), /Your appointment is confirmed/);
  assert.equal((await p1.locator("dd.status").textContent()).trim(), "Booked");
  assert.match(await p1.locator(".when-viewer").first().textContent(), /America\/Chicago/);
  await shot(p1, "booked");
  step(`booked ${first.label}`);

  await p1.goto("/appointments");
  await p1.locator(`#upcoming a[href="/appointments/${first.id}"]`).waitFor();
  await shot(p1, "appointments");
  step("the booking is listed under upcoming appointments");

  // The week view, on desktop and on a phone.
  await p1.goto("/providers");
  await p1.getByRole("link", { name: "Dr. Lena Vogel" }).first().click();
  await p1.waitForURL(/\/providers\/[0-9a-f-]{36}$/);
  await p1.getByRole("heading", { name: "Choose an appointment type" }).waitFor();
  await shot(p1, "provider");
  await p1.getByRole("link", { name: "See free times" }).first().click();
  await weekWithSlots(p1);
  await shot(p1, "week");
  const phone = await newPage(PHONE, await p1.context().storageState());
  await phone.goto(p1.url());
  await shot(phone, "week-phone");
  await phone.goto(`/appointments/${first.id}`);
  await shot(phone, "appointment-phone");
  step("week of free slots rendered on desktop and phone");

  // Cancel it.
  await p1.goto(`/appointments/${first.id}`);
  await p1.getByLabel("Reason (optional)").fill("Feeling better");
  await p1.getByRole("button", { name: "Cancel appointment" }).click();
  await p1.locator(".flash").waitFor();
  assert.match(await flash(p1), /Appointment cancelled/);
  assert.equal((await p1.locator("dd.status").textContent()).trim(), "Cancelled");
  await shot(p1, "cancelled");
  step("cancelled; the page says so");

  // Book again and move it to another time.
  const second = await book(p1, "Dr. Lena Vogel");
  await p1.getByRole("link", { name: "Move to another time" }).click();
  await p1.waitForURL(/reschedule/);
  await weekWithSlots(p1);
  await shot(p1, "reschedule");
  await p1.locator("button.slot").first().click();
  await p1.waitForURL(new RegExp(`/appointments/${second.id}$`));
  assert.match(await flash(p1), /Appointment moved to/);
  step("rescheduled to another slot");

  // The provider sees the patient and writes a note with markup in it (set up
  // through the API), then completes the visit.
  const me = (await api("/api/v1/auth/me", { token: await apiToken(EMAIL.patient1) })).body;
  const doctor = await apiToken(EMAIL.provider1);
  const noteText = `<script>window.__pwned = 1</script> Rest and fluids <b>twice</b> a day (${run}).`;
  await eventually("the care relationship, to write a note", async () => {
    const r = await api(`/api/v1/patients/${me.patient_id}/records/notes`, { token: doctor, method: "POST", body: { text: noteText } });
    return r.status === 201;
  });
  // Its steps wait for its time (it was moved): the clinic's clock goes there.
  const moved = await api(`/api/v1/appointments/${second.id}`, { token: doctor });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  await clinicClockAt(plusMinutes(moved.body.start, 5));
  for (const step of ["check-in", "complete"]) {
    const r = await api(`/api/v1/appointments/${second.id}/${step}`, { token: doctor, method: "POST" });
    assert.equal(r.status, 200, `${step}: ${JSON.stringify(r.body)}`);
  }

  // The patient reads the note as text and sees who accessed the record.
  await p1.goto("/record");
  const note = p1.locator("#notes .note-text", { hasText: `(${run})` });
  await note.waitFor();
  assert.equal((await note.textContent()).trim(), noteText);
  assert.equal(await p1.evaluate(() => window.__pwned), undefined, "the note's script never ran");
  assert.equal(await p1.locator("main script").count(), 0);
  await shot(p1, "record");
  step("a note containing <script> renders as text");
  await p1.getByRole("link", { name: "See who accessed your record" }).click();
  await p1.locator("#access-log").waitFor();
  const log = await p1.locator("#access-log").textContent();
  assert.match(log, /Dr\. Lena Vogel/);
  assert.match(log, /Added note/);
  await shot(p1, "access-log");
  step("the access log shows the provider's access");

  // The visit's invoice appears.
  await eventually("the invoice of the completed visit", async () => {
    await p1.goto("/invoices");
    return (await p1.locator("table a").count()) > 0;
  });
  await shot(p1, "invoices");
  await p1.locator("table a").first().click();
  await p1.waitForURL(/\/invoices\//);
  const invoiceUrl = new URL(p1.url()).pathname;
  await shot(p1, "invoice");
  step("the invoice is listed and opens");

  // A second patient cannot reach the first one's pages.
  const p2 = await newPage();
  await login(p2, EMAIL.patient2);
  let r = await p2.goto(`/appointments/${first.id}`);
  assert.equal(r.status(), 404);
  assert.equal((await p2.locator("h1").textContent()).trim(), "Page not found");
  r = await p2.goto(invoiceUrl);
  assert.ok([403, 404].includes(r.status()), `invoice of another patient: ${r.status()}`);
  for (const path of [`/patients/${me.patient_id}/record`, `/patients/${me.patient_id}/record/access-log`]) {
    r = await p2.goto(path);
    assert.equal(r.status(), 403, path);
    assert.equal((await p2.locator("h1").textContent()).trim(), "Not allowed");
  }
  await shot(p2, "not-allowed");
  step("a second patient gets 404/403 pages for the first one's appointment, invoice and record");

  // A POST without the CSRF token is refused.
  r = await p2.request.post(`/appointments/${second.id}/cancel`, { form: { reason: "forged" }, maxRedirects: 0 });
  assert.equal(r.status(), 403);
  assert.match(await r.text(), /This form has expired/);
  step("a form post without the CSRF token gets a 403 page");

  // Logging out ends the session.
  await p1.getByRole("button", { name: "Log out" }).click();
  await p1.waitForURL(/\/login/);
  assert.match(await p1.locator(".problem").textContent(), /You have logged out/);
  await p1.goto("/appointments");
  assert.equal(new URL(p1.url()).pathname, "/login");
  step("logout ends the session");

  // The admin signs in with a TOTP code after the password.
  const admin = await newPage();
  await admin.goto("/login");
  await admin.getByLabel("Email").fill(EMAIL.admin);
  await admin.getByLabel("Password").fill(PASSWORD);
  await admin.getByRole("button", { name: "Log in" }).click();
  await admin.waitForURL(/\/login\/code$/);
  assert.ok(!(await admin.content()).includes("mfa_token"), "the step token stays on the server");
  await shot(admin, "login-code");
  await admin.getByLabel("Code").fill(await totpCode(ADMIN_TOTP));
  await admin.getByRole("button", { name: "Continue" }).click();
  await admin.waitForURL(/\/admin\/users$/);
  step("the demo admin signs in with a TOTP code");

  // The admin finds the new patient, disables the account (with a reason) and enables it again.
  await admin.getByRole("link", { name: "Accounts", exact: true }).click();
  await admin.getByLabel("Name or email").fill(nina.email);
  await admin.getByRole("button", { name: "Search" }).click();
  // The unfiltered list may show her too: wait for the search's own page.
  await admin.waitForURL(/[?&]q=/);
  const row = admin.locator("tbody tr", { hasText: nina.email });
  await row.waitFor();
  await row.getByText("Disable…").click();
  // A reason is required: too short a one is refused next to the field.
  await row.getByLabel("Reason").fill("no");
  await row.getByRole("button", { name: "Disable Nina Newcomer" }).click();
  await admin.locator(`tbody tr .field-error`).waitFor();
  await admin.locator("tbody tr", { hasText: nina.email }).getByLabel("Reason").fill("Duplicate registration, checked with the patient");
  await admin.locator("tbody tr", { hasText: nina.email }).getByRole("button", { name: "Disable Nina Newcomer" }).click();
  await admin.locator(".flash").waitFor();
  assert.match(await flash(admin), /Nina Newcomer .* is disabled/);
  await admin.locator("tbody tr", { hasText: nina.email }).getByText("Disabled").waitFor();
  await shot(admin, "admin-accounts");
  // Signed out everywhere: her open session ends, and she cannot log in.
  // Identity refuses her token at once (the other services within a minute).
  await eventually("the disabled patient's session to end", async () => {
    await fresh.goto("/account");
    return new URL(fresh.url()).pathname === "/login";
  });
  await fresh.getByLabel("Email").fill(nina.email);
  await fresh.getByLabel("Password").fill(nina.password);
  await fresh.getByRole("button", { name: "Log in" }).click();
  await fresh.locator(".problem").waitFor();
  assert.match(await fresh.locator(".problem").textContent(), /disabled/);
  const enableRow = admin.locator("tbody tr", { hasText: nina.email });
  await enableRow.getByText("Enable…").click();
  await enableRow.getByLabel("Reason").fill("Confirmed by phone");
  await enableRow.getByRole("button", { name: "Enable Nina Newcomer" }).click();
  // The page before still shows the "disabled" flash: wait for the new one.
  await admin.locator(".flash", { hasText: "enabled again" }).waitFor();
  await login(fresh, nina.email, { password: nina.password });
  step("the admin disables an account (reason required): its session ends and it cannot log in; enabled again, it can");

  // The admin creates a staff account.
  await admin.goto("/admin/users");
  await admin.getByLabel("Front-desk staff").check();
  await admin.getByLabel("Full name").fill("Robin Reception");
  await admin.getByLabel("Email").fill(`robin.${Date.now()}@demo.carebook.test`);
  await admin.getByLabel("Initial password").fill("short");
  await admin.getByRole("button", { name: "Create account" }).click();
  await admin.locator(".field-error").first().waitFor();
  await shot(admin, "admin-error");
  await admin.getByLabel("Front-desk staff").check();
  await admin.getByLabel("Initial password").fill("Reception-desk-2026!");
  await admin.getByRole("button", { name: "Create account" }).click();
  await admin.locator(".flash").waitFor();
  assert.match(await flash(admin), /Front-desk staff account created for Robin Reception/);
  await shot(admin, "admin");
  step("the admin creates a staff account (a weak password is explained next to the field)");
} finally {
  await browser.close();
}
console.log("all portal browser checks passed");
