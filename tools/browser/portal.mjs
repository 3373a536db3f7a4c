// End-to-end test of the web portal in a real browser (Debian's Chromium via
// playwright-core; no browser is ever downloaded). Drives the portal through
// the gateway at CAREBOOK_URL and saves screenshots to SCREENSHOT_DIR.
// Exits non-zero on the first failed expectation.
//
//   CAREBOOK_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=/tmp/shots node tools/browser/portal.mjs

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = (process.env.CAREBOOK_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const SHOTS = process.env.SCREENSHOT_DIR ?? "screenshots";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PASSWORD = "Carebook-demo-2026!";
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

async function eventually(what, check, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
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

async function login(page, email) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
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
  await page.getByRole("link", { name: "See free times" }).first().click();
  await page.waitForURL(/\/book\//);
  await weekWithSlots(page);
  const label = await page.locator("button.slot").first().getAttribute("aria-label");
  await page.locator("button.slot").first().click();
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
  const run = Date.now().toString(36);
  const noteText = `<script>window.__pwned = 1</script> Rest and fluids <b>twice</b> a day (${run}).`;
  await eventually("the care relationship, to write a note", async () => {
    const r = await api(`/api/v1/patients/${me.patient_id}/records/notes`, { token: doctor, method: "POST", body: { text: noteText } });
    return r.status === 201;
  });
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

  // The admin creates a staff account.
  const admin = await newPage();
  await login(admin, EMAIL.admin);
  assert.equal(new URL(admin.url()).pathname, "/admin/users");
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
