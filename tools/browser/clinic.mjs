// End-to-end test of the portal's provider and staff pages in a real browser
// (Debian's Chromium via playwright-core; no browser is ever downloaded), next
// to portal.mjs (patients and admins). Drives the portal through the gateway at
// CAREBOOK_URL and saves screenshots to SCREENSHOT_DIR. Exits non-zero on the
// first failed expectation.
//
//   CAREBOOK_URL=http://127.0.0.1:8080 SCREENSHOT_DIR=/tmp/shots node tools/browser/clinic.mjs

import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = (process.env.CAREBOOK_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const SHOTS = process.env.SCREENSHOT_DIR ?? "screenshots";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PASSWORD = "Carebook-demo-2026!";
const EMAIL = {
  staff: "staff@demo.carebook.test",
  provider1: "provider1@demo.carebook.test",
  provider3: "provider3@demo.carebook.test",
  patient1: "patient1@demo.carebook.test",
  patient2: "patient2@demo.carebook.test",
};
const BERLIN = "Europe/Berlin"; // Dr. Lena Vogel's time zone
const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

mkdirSync(SHOTS, { recursive: true });

const step = (text) => console.log(`✓ ${text}`);

// ---- the API, for what patients do on their own pages (tested in portal.mjs) ----

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

/** `YYYY-MM-DD` of `instant` in `zone`. */
function localDate(instant, zone) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(instant));
}

/** The patient books the `index`-th free slot of the provider's first type (skipping `skip` slots). */
async function bookAsPatient(email, providerId, skip = 0) {
  const token = await apiToken(email);
  const types = await api(`/api/v1/providers/${providerId}/appointment-types`, { token });
  const type = types.body.items[0];
  for (let week = 0; week < 6; week++) {
    const from = new Date(Date.now() + week * 7 * 86400e3);
    const to = new Date(from.getTime() + 7 * 86400e3);
    const q = new URLSearchParams({ appointment_type_id: type.id, from: from.toISOString(), to: to.toISOString() });
    const slots = await api(`/api/v1/providers/${providerId}/slots?${q}`, { token });
    assert.equal(slots.status, 200, JSON.stringify(slots.body));
    const slot = slots.body.items[skip];
    if (!slot) continue;
    const r = await api("/api/v1/appointments", { token, method: "POST", body: { provider_id: providerId, appointment_type_id: type.id, start: slot.start } });
    assert.equal(r.status, 201, `booking: ${JSON.stringify(r.body)}`);
    return r.body;
  }
  throw new Error("no free slot in six weeks");
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
  await page.locator(".flash").waitFor();
  return (await page.locator(".flash").textContent())?.trim();
}

/** Submit a form and wait for the page that answers it (after a redirect, or the form
 *  again with its errors): htmx swaps in a new <main>, so the old one is marked first. */
async function submit(page, button) {
  await page.locator("#main").evaluate((main) => main.setAttribute("data-stale", ""));
  await button.click();
  await page.locator("#main:not([data-stale])").waitFor();
}

/** No API internals ever reach a page. */
async function noRawProblem(page) {
  const html = await page.content();
  assert.ok(!html.includes("carebook.dev/problems"), "no problem type URI on the page");
  assert.ok(!/"status":\s*4\d\d/.test(html), "no problem JSON on the page");
}

try {
  const ids = {};
  for (const [who, email] of Object.entries(EMAIL)) {
    ids[who] = (await api("/api/v1/auth/me", { token: await apiToken(email) })).body;
  }
  const vogel = ids.provider1.provider_id;

  // Two patients book with Dr. Vogel (their own pages are portal.mjs's).
  const visit = await bookAsPatient(EMAIL.patient1, vogel);
  const other = await bookAsPatient(EMAIL.patient2, vogel, 1);
  const day = localDate(visit.start, BERLIN);
  step(`patients booked Dr. Vogel on ${day}`);

  // ---- Provider: the day's schedule, the visit steps in place, the chart ----
  const doc = await newPage();
  await login(doc, EMAIL.provider1);
  assert.equal(new URL(doc.url()).pathname, "/schedule");
  // The directory learns from the booking's event that Paula is in Dr. Vogel's care.
  const row = doc.locator(`#visit-${visit.id}`);
  await eventually("the patient's name on the provider's schedule", async () => {
    await doc.goto(`/schedule?date=${day}`);
    await row.waitFor();
    return /Paula Patient/.test(await row.locator(".visit-patient").textContent());
  });
  assert.match(await row.locator(".status").textContent(), /Booked/);
  await shot(doc, "provider-day");
  // Check-in opens an hour before the start: the clinic's clock goes to the visit.
  await clinicClockAt(plusMinutes(visit.start, 5));
  await doc.goto(`/schedule?date=${day}`);
  await row.getByRole("button", { name: /^Check in/ }).click();
  await row.locator(".visit-note.ok").waitFor();
  assert.equal((await row.locator(".visit-note.ok").textContent()).trim(), "Checked in.");
  assert.match(await row.locator(".status").textContent(), /Checked in/);
  assert.equal(new URL(doc.url()).search, `?date=${day}`, "the row changed in place, the page stayed");
  await shot(doc, "provider-checked-in");
  assert.match(await row.locator(".visit-patient").textContent(), /Paula Patient/, "the redrawn row names the patient too");
  step("the provider sees the patient's name, checks her in; htmx updates the row in place");

  // The week view, on desktop and a phone.
  await doc.getByRole("link", { name: "Week", exact: true }).click();
  await doc.waitForURL(/\/schedule\/week/);
  await doc.locator(`#visit-${visit.id}`).waitFor();
  await shot(doc, "provider-week");
  const docPhone = await newPage(PHONE, await doc.context().storageState());
  await docPhone.goto(doc.url());
  await shot(docPhone, "provider-week-phone");
  step("the week shows the visit, on desktop and phone");

  // The chart: a note (markup stays text), vitals with a mistake explained next to its field.
  await doc.goto(`/schedule?date=${day}`);
  await doc.locator(`#visit-${visit.id} .visit-patient a`).click();
  await doc.waitForURL(/\/chart$/);
  const chartUrl = new URL(doc.url()).pathname;
  assert.equal(chartUrl, `/patients/${visit.patient_id}/chart`);
  assert.equal((await doc.locator("h1").textContent()).trim(), "Chart: Paula Patient");
  assert.match(await doc.locator("main p.meta").first().textContent(), /^Born \d{1,2} \w{3} \d{4}/);
  const run = Date.now().toString(36);
  const noteText = `<script>window.__pwned = 1</script> Headache for 3 days; rest and fluids (${run}).`;
  await doc.getByRole("link", { name: "Add a note" }).click();
  await doc.waitForURL(/\/notes\/new$/);
  await doc.getByLabel("Note", { exact: true }).fill(noteText);
  await submit(doc, doc.getByRole("button", { name: "Add to the record" }));
  assert.match(await flash(doc), /Note added to the record/);
  const note = doc.locator("#notes .note-text", { hasText: `(${run})` });
  assert.equal((await note.textContent()).trim(), noteText);
  assert.equal(await doc.evaluate(() => window.__pwned), undefined, "the note's script never ran");
  assert.equal(await note.evaluate((n) => getComputedStyle(n).textDecorationLine), "none", "only notes entered in error are struck through");
  step("the provider writes a note; its markup stays text");

  await doc.getByRole("link", { name: "Add vital signs" }).click();
  await doc.waitForURL(/\/vitals\/new$/);
  await doc.getByLabel("Heart rate").fill("72");
  await doc.getByLabel("Temperature").fill("98.6");
  await submit(doc, doc.getByRole("button", { name: "Add to the record" }));
  const temperature = doc.locator(".field.has-error", { has: doc.getByLabel("Temperature") });
  assert.match(await temperature.locator(".field-error").textContent(), /between 25 and 45 °C/);
  assert.match(await doc.locator(".problem").textContent(), /Please correct the highlighted fields/);
  await noRawProblem(doc);
  await shot(doc, "provider-vitals-error");
  await doc.getByLabel("Temperature").fill("37.1");
  await submit(doc, doc.getByRole("button", { name: "Add to the record" }));
  assert.match(await flash(doc), /Vital signs added/);
  assert.match(await doc.locator("#vitals").textContent(), /37\.1 °C/);
  step("an implausible temperature is explained next to its field; the corrected vitals are saved");

  await doc.getByRole("link", { name: "Add an allergy" }).click();
  await doc.waitForURL(/\/allergies\/new$/);
  await doc.getByLabel("Substance").fill("Penicillin");
  await doc.getByLabel("Severity").selectOption("severe");
  await submit(doc, doc.getByRole("button", { name: "Add to the record" }));
  assert.match(await flash(doc), /Allergy added/);
  await shot(doc, "provider-chart");

  // Amend the note: version 2, both in the history.
  await doc.locator("#notes h3 a").first().click();
  await doc.waitForURL(/\/notes\/[0-9a-f-]{36}$/);
  await doc.getByLabel("Note", { exact: true }).fill(`Headache for 3 days, no fever; rest and fluids (${run}).`);
  await submit(doc, doc.getByRole("button", { name: "Save as a new version" }));
  assert.match(await flash(doc), /Saved as version 2/);
  assert.equal(await doc.locator("#versions li").count(), 2);
  assert.match(await doc.locator("#versions li").nth(1).textContent(), /<script>/);
  await shot(doc, "provider-note-history");
  step("amending the note makes version 2; version 1 stays in the history");

  // Vitals typed into the wrong chart are marked entered in error: struck through, never deleted.
  await doc.goto(chartUrl);
  await doc.locator("#vitals h3 a").first().click();
  await doc.waitForURL(/\/vitals\/[0-9a-f-]{36}$/);
  await doc.getByLabel("Why is it wrong?").fill("Measured on another patient");
  await submit(doc, doc.getByRole("button", { name: "Mark as entered in error" }));
  assert.match(await flash(doc), /Marked as entered in error/);
  await doc.goto(chartUrl);
  const struck = doc.locator("#vitals li.entry.in-error");
  assert.match(await struck.textContent(), /Entered in error: Measured on another patient/);
  step("vitals marked entered in error stay in the chart, struck through, with the reason");

  // The patients in care, and opening a chart by id.
  await doc.goto("/patients");
  assert.equal((await doc.locator(`#patients a[href="${chartUrl}"]`).textContent()).trim(), "Paula Patient");
  await doc.getByLabel("Patient id").fill("Paula");
  await submit(doc, doc.getByRole("button", { name: "Open chart" }));
  assert.match(await doc.locator("#f-patient_id-error").textContent(), /full patient id/);
  await shot(doc, "provider-patients");
  step("the patients in care are listed by name; a malformed id is explained");

  // Complete the visit.
  await doc.goto(`/schedule?date=${day}`);
  await doc.locator(`#visit-${visit.id}`).getByRole("button", { name: /^Complete/ }).click();
  await doc.locator(`#visit-${visit.id} .visit-note.ok`).waitFor();
  assert.match(await doc.locator(`#visit-${visit.id} .status`).textContent(), /Completed/);
  step("the provider completes the visit");

  // Without JavaScript the same button is a form that comes back to the page.
  const plain = await browser.newContext({ ...DESKTOP, baseURL: BASE, javaScriptEnabled: false, storageState: await doc.context().storageState() });
  const noJs = watch(await plain.newPage());
  await clinicClockAt(plusMinutes(other.start, -30));
  await noJs.goto(`/schedule?date=${localDate(other.start, BERLIN)}`);
  await noJs.locator(`#visit-${other.id}`).getByRole("button", { name: /^Check in/ }).click();
  await noJs.waitForURL(/\/schedule\?date=/);
  assert.equal(await flash(noJs), "Checked in.");
  assert.match(await noJs.locator(`#visit-${other.id} .status`).textContent(), /Checked in/);
  await plain.close();
  step("without JavaScript, check-in is a plain form post back to the schedule");

  // Availability: an overlap is explained next to its field; the fixed week saves.
  await doc.goto("/availability");
  await doc.getByLabel("Saturday, window 1, From").fill("09:00");
  await doc.getByLabel("Saturday, window 1, to").fill("12:00");
  await doc.getByLabel("Saturday, window 2, From").fill("11:00");
  await doc.getByLabel("Saturday, window 2, to").fill("13:00");
  await submit(doc, doc.getByRole("button", { name: "Save weekly hours" }));
  assert.equal(await doc.locator("#f-sat_1_start-error").textContent(), "Overlaps 09:00–12:00 on Saturday.");
  await shot(doc, "provider-availability-error");
  await doc.getByLabel("Saturday, window 2, From").fill("12:00");
  await submit(doc, doc.getByRole("button", { name: "Save weekly hours" }));
  assert.match(await flash(doc), /Availability saved: 12 weekly windows/);
  assert.equal(await doc.getByLabel("Saturday, window 2, to").inputValue(), "13:00");
  step("weekly availability: an overlap is refused next to the field; the corrected week is saved");

  // Time off, far ahead so it touches no booking (and inside the year the page
  // lists); an end before the start is refused.
  const date = localDate(new Date(Date.now() + 250 * 86400e3), BERLIN);
  await doc.getByLabel(/^From \(/).fill(`${date}T17:00`);
  await doc.getByLabel(/^Until \(/).fill(`${date}T09:00`);
  await submit(doc, doc.getByRole("button", { name: "Add time off" }));
  assert.equal((await doc.locator("#f-off_end-error").textContent()).trim(), "Must be after the start.");
  await doc.getByLabel(/^From \(/).fill(`${date}T09:00`);
  await doc.getByLabel(/^Until \(/).fill(`${date}T17:00`);
  await doc.getByLabel(/^Reason/).fill(`Conference ${run}`);
  await submit(doc, doc.getByRole("button", { name: "Add time off" }));
  assert.match(await flash(doc), /Time off added from/);
  const offEntry = doc.locator("#time-off li", { hasText: `Conference ${run}` });
  assert.match(await offEntry.textContent(), /09:00 CES?T – .* 17:00 CES?T/);
  step("time off is added (an end before the start is refused) and listed");

  // One date with other hours: an overlap is refused next to its field; then a day closed.
  const special = localDate(new Date(Date.now() + 300 * 86400e3), BERLIN);
  await doc.getByLabel("Date", { exact: true }).fill(special);
  await doc.getByLabel("That day, window 1, from").fill("08:00");
  await doc.getByLabel("That day, window 1, to").fill("12:00");
  await doc.getByLabel("That day, window 2, from").fill("11:00");
  await doc.getByLabel("That day, window 2, to").fill("14:00");
  await submit(doc, doc.getByRole("button", { name: "Set hours for this date" }));
  assert.equal(await doc.locator("#f-ov_1_start-error").textContent(), "Overlaps 08:00–12:00 on that date.");
  await doc.getByLabel("That day, window 2, from").fill("13:00");
  await submit(doc, doc.getByRole("button", { name: "Set hours for this date" }));
  assert.match(await flash(doc), /: 08:00–12:00, 13:00–14:00\. Your weekly hours do not apply that day/);
  assert.match(await doc.locator(`#override-${special}`).textContent(), /08:00–12:00, 13:00–14:00/);
  const closed = localDate(new Date(Date.now() + 301 * 86400e3), BERLIN);
  await doc.getByLabel("Date", { exact: true }).fill(closed);
  await submit(doc, doc.getByRole("button", { name: "Set hours for this date" }));
  assert.match(await doc.locator(`#override-${closed}`).textContent(), /Closed/);
  await shot(doc, "provider-availability");
  await docPhone.goto("/availability");
  await shot(docPhone, "provider-availability-phone");
  step("one date gets other hours (an overlap is refused next to its field), another is closed");

  // Removing entries: the weekly hours apply again, the time off can be booked again.
  await submit(doc, doc.locator(`#override-${closed}`).getByRole("button", { name: /^Remove/ }));
  assert.match(await flash(doc), /your weekly hours apply again/);
  assert.equal(await doc.locator(`#override-${closed}`).count(), 0);
  await submit(doc, offEntry.getByRole("button", { name: /^Remove/ }));
  assert.match(await flash(doc), /Time off removed/);
  assert.equal(await offEntry.count(), 0);
  step("a date's hours and time off are removed from the list");

  // ---- A provider without a care relationship: break-glass with a reason ----
  const nair = await newPage();
  await login(nair, EMAIL.provider3);
  let r = await nair.goto(chartUrl);
  assert.equal(r.status(), 403);
  assert.match(await nair.locator("h1").textContent(), /no care relationship/);
  await nair.getByLabel("Reason for emergency access").fill("too short");
  await submit(nair, nair.getByRole("button", { name: "Open the record in an emergency" }));
  assert.match(await nair.locator("#f-reason-error").textContent(), /At least 15 characters/);
  await shot(nair, "provider-break-glass");
  await nair.getByLabel("Reason for emergency access").fill("Patient collapsed in the waiting room; need allergies");
  await submit(nair, nair.getByRole("button", { name: "Open the record in an emergency" }));
  assert.match(await flash(nair), /emergency access granted for \d+ minutes, until/);
  assert.match(await nair.locator("#allergies").textContent(), /Penicillin/);
  step("a provider without a care relationship opens the chart only by break-glass, with a reason");

  // The patient sees the emergency access in their log.
  const pat = await newPage();
  await login(pat, EMAIL.patient1);
  await pat.goto(`/patients/${visit.patient_id}/record/access-log`);
  assert.match(await pat.locator("#access-log").textContent(), /Emergency access/);
  step("the patient's access log flags the break-glass");

  // ---- Staff: the clinic's day, booking, moving, cancelling, payments ----
  const desk = await newPage();
  await login(desk, EMAIL.staff);
  assert.equal(new URL(desk.url()).pathname, "/clinic");
  await desk.goto(`/clinic?date=${day}`);
  const deskRow = desk.locator(`#visit-${visit.id}`);
  await deskRow.waitFor();
  assert.match(await deskRow.textContent(), /Paula Patient/);
  assert.match(await deskRow.locator(".status").textContent(), /Completed/);
  await shot(desk, "staff-day");
  const deskPhone = await newPage(PHONE, await desk.context().storageState());
  await deskPhone.goto(desk.url());
  await shot(deskPhone, "staff-day-phone");
  step("staff see the clinic's day across providers, with patients' names");

  // Find Pedro by name (a one-letter search is refused next to the field), book
  // him with Dr. Vogel, move it, cancel it with a reason.
  await desk.goto("/bookings");
  await desk.getByLabel("Find the patient").fill("p");
  await submit(desk, desk.getByRole("button", { name: "Search" }));
  assert.match(await desk.locator("#f-q-error").textContent(), /at least 2 characters/);
  await noRawProblem(desk);
  await desk.getByLabel("Find the patient").fill("nobody-by-that-name");
  await submit(desk, desk.getByRole("button", { name: "Search" }));
  assert.match(await desk.locator("main .none").textContent(), /No patient's name or email contains/);
  await desk.getByLabel("Find the patient").fill("PEDRO pat");
  await submit(desk, desk.getByRole("button", { name: "Search" }));
  const found = desk.locator("#patients-found li", { hasText: "Pedro Patient" });
  assert.match(await found.textContent(), /patient2@demo\.carebook\.test/);
  assert.equal(await desk.locator("#patients-found li", { hasText: "Paula Patient" }).count(), 0, "every word must match");
  await shot(desk, "staff-find-patient");
  await submit(desk, found.getByRole("link", { name: "Pedro Patient" }));
  assert.match(await desk.locator("#chosen-patient").textContent(), /For Pedro Patient \(patient2@demo\.carebook\.test/);
  await desk.getByLabel("Provider").selectOption({ label: "Dr. Lena Vogel (Family medicine)" });
  await desk.getByRole("button", { name: "Continue" }).click();
  await desk.waitForURL(/provider_id=/);
  await desk.getByRole("link", { name: "See free times" }).first().click();
  await desk.waitForURL(/\/bookings\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/[0-9a-f-]{36}/);
  for (let i = 0; i < 5 && (await desk.locator("button.slot").count()) === 0; i++) {
    await desk.getByRole("link", { name: "Next week →" }).click();
    await desk.waitForLoadState("networkidle");
  }
  await shot(desk, "staff-book");
  await desk.locator("button.slot").last().click();
  // The slot is held while the patient confirms.
  await desk.getByRole("button", { name: "Confirm booking" }).waitFor();
  assert.match(await desk.locator("main").textContent(), /Held for you until/);
  await desk.getByRole("button", { name: "Confirm booking" }).click();
  await desk.waitForURL(/\/clinic\/appointments\/[0-9a-f-]{36}$/);
  assert.match(await flash(desk), /^Booked for /);
  assert.match(await desk.locator("h1").textContent(), /Pedro Patient/);
  const booked = new URL(desk.url()).pathname;
  step("staff find a patient by name and book for him");

  await desk.getByRole("link", { name: "Move to another time" }).click();
  await desk.waitForURL(/reschedule/);
  await desk.locator("button.slot").first().click();
  await desk.waitForURL(new RegExp(`${booked}$`));
  assert.match(await flash(desk), /Appointment moved to/);
  await desk.getByLabel("Reason for cancelling").fill("Patient called: travelling that week");
  await submit(desk, desk.getByRole("button", { name: "Cancel appointment" }));
  assert.match(await flash(desk), /Appointment cancelled/);
  assert.match(await desk.locator("dl.facts").textContent(), /travelling that week/);
  step("staff move the booking, then cancel it with a reason");

  // The completed visit's invoice: too much is refused next to the amount; two payments settle it.
  const invoiceLink = await eventually("the invoice of the completed visit", async () => {
    await desk.goto("/billing?status=issued");
    const link = desk.locator("#invoices tr", { hasText: "Paula Patient" }).locator("a").first();
    return (await link.count()) > 0 ? link : null;
  });
  await shot(desk, "staff-invoices");
  await invoiceLink.click();
  await desk.waitForURL(/\/billing\/[0-9a-f-]{36}$/);
  const due = await desk.getByLabel("Amount").inputValue();
  await desk.getByLabel("Amount").fill("100000");
  await submit(desk, desk.getByRole("button", { name: "Record payment" }));
  assert.match(await desk.locator(".problem").textContent(), /larger than the amount due/);
  assert.match(await desk.locator("#f-amount-error").textContent(), /At most/);
  await noRawProblem(desk);
  await shot(desk, "staff-payment-error");
  await desk.getByLabel("Amount").fill("10");
  await desk.getByLabel("Paid by").selectOption("cash");
  await desk.getByLabel("Reference (optional)").fill(`Receipt ${run}`);
  await submit(desk, desk.getByRole("button", { name: "Record payment" }));
  assert.match(await flash(desk), /is still due/);
  const rest = (Number(due) - 10).toFixed(2);
  assert.equal(await desk.getByLabel("Amount").inputValue(), rest);
  await submit(desk, desk.getByRole("button", { name: "Record payment" }));
  assert.match(await flash(desk), /paid in full/);
  assert.equal((await desk.locator("dl.facts .status").textContent()).trim(), "Paid");
  assert.match(await desk.locator("main").textContent(), new RegExp(`Receipt ${run}`));
  await shot(desk, "staff-invoice-paid");
  await deskPhone.goto(desk.url());
  await shot(deskPhone, "staff-invoice-phone");
  step("staff record a partial payment, then the rest; the invoice is paid");

  // ---- Each role's pages are theirs only ----
  for (const [page, path] of [
    [pat, "/schedule"],
    [pat, "/clinic"],
    [desk, chartUrl],
    [desk, "/availability"],
    [doc, "/billing"],
    [doc, "/bookings"],
  ]) {
    r = await page.goto(path);
    assert.equal(r.status(), 403, path);
    assert.equal((await page.locator("h1").textContent()).trim(), "Not allowed");
  }
  step("patients, staff and providers get a 403 page for the others' pages");
} finally {
  await browser.close();
}
console.log("all clinic browser checks passed");
