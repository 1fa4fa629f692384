// The review page in a real browser: Debian's headless Chromium driven by
// playwright-core (never a downloaded browser). Run by
// tests/python/test_inbox_e2e.py, which starts the inbox with a real case
// sent by the real phone command line.
//
//   node review_page.mjs review  URL LOGIN PASSWORD OUTDIR   wrong password, log in,
//        open the top case, relabel a cell with the keyboard, confirm, log out
//   node review_page.mjs expired URL LOGIN PASSWORD OUTDIR   log in, (the caller expires
//        the session), then the next page asks to log in again
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const { chromium } = require(path.join(root, ".tools/node_modules/playwright-core"));

const [phase, url, login, password, out] = process.argv.slice(2);
fs.mkdirSync(out, { recursive: true });
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

function check(cond, what) {
  if (!cond) { throw new Error("FAILED: " + what); }
  console.log("ok - " + what);
}

const browser = await chromium.launch({ executablePath, args, headless: true });
const result = {};
try {
  if (phase === "review") {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    // Script errors fail the test; the 401 of the wrong password is the page's answer, not an error.
    page.on("console", (m) => { if (m.type() === "error" && !m.text().includes("status of 401")) { errors.push(m.text()); } });

    await page.goto(url + "/");
    check(await page.locator("input[type=password]").count() === 1, "the login page at /");
    await page.fill("input[name=login]", login);
    await page.fill("input[name=password]", "not the password");
    await page.click("button[type=submit]");
    check(await page.locator("p.error").innerText().then((t) => t.includes("Wrong login or password")), "a wrong password is refused with a message");
    await page.screenshot({ path: path.join(out, "login-wrong-password.png") });

    await page.fill("input[name=login]", login);
    await page.fill("input[name=password]", password);
    await Promise.all([page.waitForURL(/\/queue/), page.click("button[type=submit]")]);
    check(page.url().endsWith("/queue"), "logging in opens the queue");
    const rows = page.locator("table.cases tbody tr");
    check(await rows.count() >= 1, "the queue lists the case");
    const firstBadge = await rows.first().locator(".badge").innerText();
    result.top_outcome = firstBadge;
    await page.screenshot({ path: path.join(out, "queue.png"), fullPage: true });

    // Open the top case by clicking its row.
    await Promise.all([page.waitForURL(/\/cases\/\d+/), rows.first().locator("td").nth(2).click()]);
    await page.waitForSelector("#gallery a.cell img");
    // Every crop loaded (no broken image).
    await page.waitForFunction(() => Array.from(document.querySelectorAll("#gallery img")).every((i) => i.complete && i.naturalWidth > 0));
    await page.screenshot({ path: path.join(out, "case.png"), fullPage: true });
    const cells = page.locator("#gallery a.cell");
    const n = await cells.count();
    check(n >= 1, `the case shows its ${n} cells`);

    // Keyboard: select the first cell with →, relabel it with the key of the second class.
    const legend = await page.locator("ol.legend li").allInnerTexts();
    const first = cells.first();
    const before = (await first.locator(".caption").innerText()).split(" ")[0];
    let key = 1;
    while (key <= legend.length && legend[key - 1].split(" ").slice(1).join(" ") === before) { key += 1; }
    const target = legend[key - 1].split(" ").slice(1).join(" ");
    await page.locator("h1").click();
    await page.keyboard.press("ArrowRight");
    check(await first.evaluate((e) => e.classList.contains("selected")), "→ selects the first cell");
    const relabelled = page.waitForResponse((r) => r.url().endsWith("/relabel") && r.status() === 200);
    await page.keyboard.press(String(key));
    await relabelled;
    await page.waitForFunction((t) => document.querySelector("#gallery a.cell .caption strong.relabelled")?.textContent === t, target);
    check(true, `key ${key} relabels the cell from ${before} to ${target}`);
    result.relabel = { from: before, to: target, cell: await first.getAttribute("data-cell") };
    await page.screenshot({ path: path.join(out, "case-relabelled.png") });

    // Confirm with a note.
    await page.fill("form.review textarea[name=note] >> nth=0", "Agree; one cell relabelled.");
    await Promise.all([page.waitForLoadState("load"), page.click("#confirm")]);
    check(await page.locator(".case-head .reviewed").count() === 1, "confirming marks the case reviewed");
    check((await page.locator(".history").innerText()).includes("confirmed"), "the confirmation is in the case's reviews");
    await page.screenshot({ path: path.join(out, "case-confirmed.png"), fullPage: true });

    // The same case on a tablet, portrait.
    const tablet = await browser.newContext({ viewport: { width: 768, height: 1024 }, hasTouch: true, isMobile: true,
      storageState: await ctx.storageState() });
    const tp = await tablet.newPage();
    await tp.goto(page.url());
    await tp.waitForSelector("#gallery a.cell img");
    const overflow = await tp.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 2, `no sideways scrolling on a tablet (overflow ${overflow}px)`);
    await tp.screenshot({ path: path.join(out, "case-tablet.png"), fullPage: false });
    await tablet.close();

    // Log out.
    await Promise.all([page.waitForURL(url + "/"), page.click("header .who button")]);
    check(await page.locator("input[type=password]").count() === 1, "logging out goes back to the login page");
    const again = await page.goto(url + "/queue");
    check(page.url().endsWith("/login") || page.url().endsWith("/"), "after logging out the queue needs a login");
    check(errors.length === 0, "no script errors: " + errors.join("; "));
  } else if (phase === "expired-login") {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(url + "/");
    await page.fill("input[name=login]", login);
    await page.fill("input[name=password]", password);
    await Promise.all([page.waitForURL(/\/queue/), page.click("button[type=submit]")]);
    await ctx.storageState({ path: path.join(out, "state.json") });
    check(true, "logged in; session state saved");
  } else if (phase === "expired") {
    const ctx = await browser.newContext({ storageState: path.join(out, "state.json") });
    const page = await ctx.newPage();
    await page.goto(url + "/queue");
    check(page.url().endsWith("/login"), "an expired session is sent to the login page");
    check((await page.locator("p.error").innerText()).includes("expired"), "which says the session expired");
    await page.screenshot({ path: path.join(out, "session-expired.png") });
  } else {
    throw new Error("unknown phase " + phase);
  }
} finally {
  await browser.close();
}
fs.writeFileSync(path.join(out, `result-${phase}.json`), JSON.stringify(result));
