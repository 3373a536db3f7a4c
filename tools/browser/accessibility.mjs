// Accessibility audit of the web portal in a real browser (Debian's Chromium
// via playwright-core). For each demo role it books one appointment so the
// pages have something to show, then crawls every page reachable by links
// from the role's home (same origin, GET, no logout), and on each:
//   - runs axe-core (WCAG 2.0/2.1 A and AA rules: labels, names, landmarks,
//     contrast, keyboard focusability, ARIA) and fails on any violation;
//   - on a phone (390 px wide), fails if the page scrolls sideways (and audits
//     the role's home page there too).
// The account pages that no link reaches (emailed links, the second step of a
// login, an authenticator's setup, recovery codes, a refused form) are opened
// and audited on purpose. Exits non-zero listing every problem found.
//
//   CAREBOOK_URL=http://127.0.0.1:8080 node tools/browser/accessibility.mjs

import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import * as OTPAuth from "otpauth";

const BASE = (process.env.CAREBOOK_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const PASSWORD = "Carebook-demo-2026!";
// The demo admin's TOTP secret (crates/carebook/src/seed.rs).
const ADMIN_TOTP = "INQXEZLCN5XWWRDFNVXUCZDNNFXCCMRW";
const ROLES = ["patient1", "provider1", "staff", "admin"];
const WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const DESKTOP = { viewport: { width: 1280, height: 900 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
// Pages audited per role; the crawl stops there.
const MAX_PAGES = 40;

const problems = [];
const step = (text) => console.log(`✓ ${text}`);

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function newPage(options, storageState) {
  const context = await browser.newContext({ ...options, baseURL: BASE, storageState, timezoneId: "America/Chicago" });
  return context.newPage();
}

/** A code of an authenticator app with `secret`, one not used before (a code signs in once). */
const usedSteps = new Map();
async function totpCode(secret) {
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: "SHA1" });
  for (;;) {
    const step = Math.floor(Date.now() / 30000);
    if (usedSteps.get(secret) !== step) {
      usedSteps.set(secret, step);
      return totp.generate();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function login(page, who) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(`${who}@demo.carebook.test`);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Log in" }).click();
  if (who === "admin") {
    // The second step of the login is a page of its own: audited here.
    await page.waitForURL(/\/login\/code$/);
    await audit(page, "admin /login/code");
    await page.getByLabel("Code").fill(await totpCode(ADMIN_TOTP));
    await page.getByRole("button", { name: "Continue" }).click();
  }
  await page.waitForURL((url) => !url.pathname.startsWith("/login"));
}

/** patient1 books provider1's first free slot, so schedules, charts and invoices have content. */
async function bookOne(page) {
  await page.goto("/providers");
  await page.locator("main a[href^='/providers/']").first().click();
  await page.getByRole("link", { name: "See free times" }).first().click();
  await page.waitForURL(/\/book\//);
  for (let i = 0; i < 5 && (await page.locator("button.slot").count()) === 0; i++) {
    await page.getByRole("link", { name: "Next week →" }).click();
    await page.waitForLoadState("networkidle");
  }
  await page.locator("button.slot").first().click();
  await page.getByRole("button", { name: "Confirm booking" }).click();
  await page.waitForURL(/\/appointments\/[0-9a-f-]{36}$/);
}

/** The same page shape once: ids in paths are collapsed. */
const shape = (path) => path.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "{id}");

/** Same-origin GET links of the page that lead to other portal pages. */
async function links(page) {
  const hrefs = await page.locator("a[href]").evaluateAll((as) => as.map((a) => a.href));
  return hrefs
    .map((h) => new URL(h))
    .filter((u) => u.origin === new URL(BASE).origin)
    .filter((u) => !/^\/(logout|static|api|docs|openapi\.json|metrics|readyz|healthz)(\/|$)/.test(u.pathname))
    .map((u) => u.pathname + u.search);
}

async function audit(page, label) {
  const result = await new AxeBuilder({ page }).withTags(WCAG).analyze();
  for (const v of result.violations) {
    const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ");
    problems.push(`${label}: ${v.id} (${v.impact}): ${v.help} — ${where}`);
  }
  return result.violations.length;
}

async function sideways(page, label) {
  const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (scroll > inner + 1) problems.push(`${label}: on a phone the page is ${scroll}px wide for a ${inner}px screen`);
}

/** Audit `start` and every page reachable from it, as whoever `state` is signed in as. */
async function crawl(role, state, start) {
  const desktop = await newPage(DESKTOP, state);
  const phone = await newPage(PHONE, state);
  const seen = new Set();
  const queue = [...start];
  let audited = 0;
  while (queue.length > 0 && audited < MAX_PAGES) {
    const path = queue.shift();
    const key = shape(new URL(path, BASE).pathname);
    if (seen.has(key)) continue;
    seen.add(key);
    const r = await desktop.goto(path);
    if (!r || r.status() >= 400) continue; // a refusal page is audited once, below
    await desktop.waitForLoadState("networkidle");
    const label = `${role} ${key}`;
    await audit(desktop, label);
    await phone.goto(path);
    await phone.waitForLoadState("networkidle");
    await sideways(phone, label);
    // The phone layout's own rules (menus, stacking) are audited on the role's home.
    if (audited === 0) await audit(phone, `${label} (phone)`);
    audited += 1;
    queue.push(...(await links(desktop)));
  }
  await desktop.context().close();
  await phone.context().close();
  return audited;
}

try {
  // Something to show: patient1 books with a provider; the provider's chart,
  // staff's day and billing then have rows.
  const setup = await newPage(DESKTOP);
  await login(setup, "patient1");
  await bookOne(setup);
  await setup.context().close();
  step("patient1 booked an appointment to fill the pages");

  const anonymous = await crawl("visitor", undefined, ["/", "/login", "/register", "/password-reset"]);
  step(`visitor: ${anonymous} pages audited`);
  // The pages of emailed links (their tokens need not be valid to show the form),
  // and the answers to the account forms.
  const links = await newPage(DESKTOP);
  for (const [path, label] of [
    ["/verify-email?token=audit-token", "visitor /verify-email (confirm button)"],
    ["/verify-email", "visitor /verify-email (ask for a new link)"],
    ["/password-reset/confirm?token=audit-token", "visitor /password-reset/confirm"],
  ]) {
    await links.goto(path);
    await audit(links, label);
  }
  await links.goto("/register");
  await links.getByLabel("Full name").fill("Audit Visitor");
  await links.getByLabel("Email").fill(`audit.${Date.now().toString(36)}@example.test`);
  await links.getByLabel("Password").fill("Audit-visitor-passphrase-1");
  await links.getByRole("button", { name: "Create account" }).click();
  await links.getByRole("heading", { name: "Check your email" }).waitFor();
  await audit(links, "visitor /register (check your email)");
  await links.goto("/password-reset");
  await links.getByLabel("Email").fill("nobody@example.test");
  await links.getByRole("button", { name: "Email me a reset link" }).click();
  await links.getByText("If an account exists for that address").waitFor();
  await audit(links, "visitor /password-reset (sent)");
  await links.goto("/password-reset/confirm?token=audit-token");
  await links.getByLabel("New password", { exact: true }).fill("Audit-visitor-passphrase-1");
  await links.getByLabel("Repeat the new password").fill("something else");
  await links.getByRole("button", { name: "Set my new password" }).click();
  await links.locator(".field-error").waitFor();
  await audit(links, "visitor /password-reset/confirm (passwords differ)");
  await links.context().close();
  step("the pages of emailed links and the answers to the account forms audited");
  // A form's error state: the message must be announced and tied to its form.
  const errors = await newPage(DESKTOP);
  await errors.goto("/login");
  await errors.getByLabel("Email").fill("patient1@demo.carebook.test");
  await errors.getByLabel("Password").fill("not-the-password");
  await errors.getByRole("button", { name: "Log in" }).click();
  await errors.locator(".problem").waitFor();
  await audit(errors, "visitor /login (wrong password)");
  await errors.context().close();

  for (const role of ROLES) {
    const page = await newPage(DESKTOP);
    await login(page, role);
    const home = new URL(page.url()).pathname;
    const state = await page.context().storageState();
    await page.context().close();
    const n = await crawl(role, state, [home]);
    assert.ok(n >= 2, `${role}: only ${n} pages reachable from ${home}`);
    step(`${role}: ${n} pages audited from ${home}, desktop and phone`);
  }

  // The admin's account list with a refused form open on a row.
  const admin = await newPage(DESKTOP);
  await login(admin, "admin");
  await admin.goto("/admin/accounts?q=patient2");
  const row = admin.locator("tbody tr", { hasText: "patient2@demo.carebook.test" });
  await row.getByText("Disable…").click();
  await row.getByLabel("Reason").fill("no");
  await row.getByRole("button", { name: /^Disable / }).click();
  await admin.locator("tbody .field-error").waitFor();
  await audit(admin, "admin /admin/accounts (reason refused)");
  await admin.context().close();

  // Refusals are pages too.
  const refused = await newPage(DESKTOP);
  await login(refused, "patient2");
  await refused.goto("/schedule");
  await audit(refused, "patient2 /schedule (refused)");
  // Setting up an authenticator: its page, a wrong code, and the recovery codes.
  await refused.goto("/account");
  await refused.getByRole("button", { name: "Set up an authenticator app" }).click();
  await refused.waitForURL(/\/account\/totp$/);
  await audit(refused, "patient2 /account/totp");
  await refused.getByLabel("Code from your app").fill("000000");
  await refused.getByRole("button", { name: "Turn on two-step sign-in" }).click();
  await refused.locator(".problem").waitFor();
  await audit(refused, "patient2 /account/totp (wrong code)");
  const secret = await refused.locator("#totp-secret").getAttribute("data-secret");
  await refused.getByLabel("Code from your app").fill(await totpCode(secret));
  await refused.getByRole("button", { name: "Turn on two-step sign-in" }).click();
  await refused.locator("#recovery-codes").waitFor();
  await audit(refused, "patient2 recovery codes");
  await refused.context().close();
  step("the admin's refused form, an authenticator's setup and the recovery codes audited");
} finally {
  await browser.close();
}

if (problems.length > 0) {
  console.error(`${problems.length} accessibility problems:`);
  for (const p of problems) console.error(`  ✗ ${p}`);
  process.exit(1);
}
step("no WCAG 2.1 A/AA violation found by axe, and no page scrolls sideways on a phone");
