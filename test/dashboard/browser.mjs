// The dashboard's browser suite: chromium (Debian's) driven headless by
// playwright-core. dashboard_test.go prepares the stack and runs this with
// DASH_URL (the login address), DASH_SHOTS (where screenshots go),
// DASH_PULL (an image in the harness's registry), DASH_FULL=1 (the whole
// suite; otherwise the short one make test runs). Each step prints its
// name; a failure prints why, saves failure.png and exits 1.
import { createRequire } from "module";
import path from "path";

const require = createRequire(process.env.DASH_MODULES + "/");
const { chromium } = require("playwright-core");

const full = process.env.DASH_FULL === "1";
const shots = process.env.DASH_SHOTS;
const login = process.env.DASH_URL;
const origin = new URL(login).origin;
const T = 60000; // generous: the machine is shared

const browser = await chromium.launch({
  executablePath: process.env.DASH_CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
page.setDefaultTimeout(T);
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
page.on("console", (m) => {
  // A CSP violation or a failed script shows here.
  if (m.type() === "error") problems.push("console: " + m.text());
});
page.on("dialog", (d) => d.accept());

async function shot(name, fullPage = false) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage });
}

let current = "";
async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  await fn();
  console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}
function check(cond, msg) { if (!cond) throw new Error(msg); }

const row = (name) => page.locator("tr[data-row]", { has: page.locator(`a:text-is("${name}")`) });

try {
  await step("login sets the cookie and lands on the containers", async () => {
    await page.goto(login);
    check(new URL(page.url()).pathname === "/", "after login the page is " + page.url());
    check(!page.url().includes("token"), "the token stays in the address bar");
    const cookies = await page.context().cookies();
    check(cookies.length === 1 && cookies[0].httpOnly && cookies[0].sameSite === "Strict", "cookie: " + JSON.stringify(cookies));
    check(await page.evaluate(() => document.cookie) === "", "the page's script can read the cookie");
  });

  await step("list: containers grouped by Compose project, with live CPU", async () => {
    await page.locator("section.group h2", { hasText: "demo" }).waitFor();
    await row("printer").waitFor();
    await row("idle").waitFor();
    check(await row("printer").locator("[data-state]").innerText() === "running", "printer is not shown running");
    // Stats arrive over the live stream (every 2 s).
    await page.waitForFunction(() => /%$/.test(document.querySelector('tr[data-row] [data-cpu]')?.textContent || ""), null, { timeout: T });
    await shot("containers");
  });

  await step("start and stop with a click, the state changes live", async () => {
    await page.evaluate(() => { window.__sameDocument = true; });
    await row("idle").getByRole("button", { name: "Start idle" }).click();
    await page.waitForFunction(() => [...document.querySelectorAll("tr[data-row]")].some((r) => r.querySelector("a")?.textContent === "idle" && r.querySelector("[data-state]")?.textContent === "running"));
    await row("idle").getByRole("button", { name: "Stop idle" }).click();
    await page.waitForFunction(() => [...document.querySelectorAll("tr[data-row]")].some((r) => r.querySelector("a")?.textContent === "idle" && r.querySelector("[data-state]")?.textContent === "exited"));
    check(await page.evaluate(() => window.__sameDocument === true), "the page reloaded");
    // The counts follow the list (disk usage takes a moment longer).
    await page.waitForFunction(() => document.querySelector('[data-count="running"]')?.textContent === "1" &&
      document.querySelector('[data-count="stopped"]')?.textContent === "1");
  });

  await step("filter box", async () => {
    await page.getByLabel("Filter").fill("printer");
    check(await row("idle").isHidden(), "idle still shown with filter 'printer'");
    check(await row("printer").isVisible(), "printer hidden by its own name");
    await page.getByLabel("Filter").fill("");
  });

  await step("container page: logs follow while it prints", async () => {
    await page.getByRole("link", { name: "printer", exact: true }).click();
    await page.waitForURL(/\/containers\//);
    const log = page.locator("#log");
    await log.locator(".line").first().waitFor();
    const last = async () => Number(((await log.locator(".line").last().innerText()).match(/line (\d+)/) || [])[1] || 0);
    const n = await last();
    await page.waitForFunction((n) => {
      const l = document.querySelector("#log .line:last-child");
      const m = l && l.textContent.match(/line (\d+)/);
      return m && Number(m[1]) >= n + 2;
    }, n);
    // Search hides the other lines; timestamps show.
    await page.getByLabel("Search").fill("line " + n);
    const visible = await log.locator(".line:visible").count();
    check(visible >= 1 && visible < (await log.locator(".line").count()), "search did not filter the log");
    await page.getByLabel("Search").fill("");
    await page.getByLabel("Timestamps").check();
    check(/^\d{4}-\d\d-\d\dT/.test(await log.locator(".line .ts").first().innerText()), "no timestamp shown");
  });

  await step("terminal: a command and its output", async () => {
    await page.getByRole("button", { name: "Open terminal" }).click();
    await page.locator("#term .xterm").waitFor();
    // The page's CSP forbids eval: a predicate is a function with its
    // pattern as argument, not a string.
    const waitScreen = (re) => page.waitForFunction((re) =>
      new RegExp(re, "m").test((document.querySelector("#term .xterm-rows")?.innerText || "").replace(/\u00a0/g, " ")), re);
    await waitScreen("/ #");
    await page.keyboard.type("echo dash-$((6*7))\n");
    await waitScreen("^dash-42");
    // Resize: the process sees the terminal's new size.
    await page.setViewportSize({ width: 900, height: 760 });
    await page.keyboard.type("stty size\n");
    await waitScreen("^\\d+ \\d+ *$");
    await page.setViewportSize({ width: 1200, height: 760 });
    await page.waitForFunction(() => document.querySelectorAll("[data-chart] canvas").length === 4);
    await page.locator("#terminal").scrollIntoViewIfNeeded();
    await shot("container-terminal");
    await page.locator("#stats").scrollIntoViewIfNeeded();
    await page.waitForTimeout(1500); // a few more samples on the charts, for the picture
    await shot("container-stats");
    await page.locator("#logs").scrollIntoViewIfNeeded();
    await shot("container");
  });

  if (full) {
    await step("container page: files browse and download", async () => {
      await page.locator("#files-list a", { hasText: "etc/" }).click();
      await page.locator("#files-list", { hasText: "Directory /etc" }).waitFor();
      const [dl] = await Promise.all([page.waitForEvent("download"), page.locator("#files-list a", { hasText: /^hostname$/ }).click()]);
      check((await dl.suggestedFilename()) === "hostname", "downloaded " + (await dl.suggestedFilename()));
      // Upload into /tmp: the file appears in the listing (the CLI reads it back afterwards).
      await page.locator("#files-list a", { hasText: /^Up$/ }).click();
      await page.locator("#files-list a", { hasText: "tmp/" }).click();
      await page.locator("#files-list", { hasText: "Directory /tmp" }).waitFor();
      await page.getByLabel("Upload a file into /tmp").setInputFiles({ name: "uploaded.txt", mimeType: "text/plain", buffer: Buffer.from("from the browser\n") });
      await page.getByRole("button", { name: "Upload", exact: true }).click();
      await page.locator("#files-list a", { hasText: "uploaded.txt" }).waitFor();
      await page.locator("#files").scrollIntoViewIfNeeded();
      await shot("container-files");
    });

    await step("images: pull from the registry and watch the progress", async () => {
      await page.getByRole("link", { name: "Images" }).click();
      await page.getByLabel("Pull an image").fill(process.env.DASH_PULL);
      await page.getByRole("button", { name: "Pull", exact: true }).click();
      await page.locator("#pull-progress .layer").first().waitFor();
      await page.locator("#pull-progress", { hasText: "pulled sha256:" }).waitFor();
      const layers = await page.locator("#pull-progress .layer").count();
      check(layers >= 2, "progress showed " + layers + " layers");
      const img = page.locator(`tr[data-image="${process.env.DASH_PULL}"]`);
      await img.waitFor();
      await shot("images");
      // History, then a new tag, then its removal (confirmed).
      await img.getByRole("button", { name: /^History/ }).click();
      await page.locator("#history", { hasText: "History of" }).locator("tbody tr").first().waitFor();
      await img.getByLabel(/^New tag for/).fill("dash/tagged:2");
      await img.getByRole("button", { name: /^Tag / }).click();
      const tagged = page.locator('tr[data-image="dash/tagged:2"]');
      await tagged.waitFor();
      await tagged.getByRole("button", { name: /^Remove/ }).click();
      await tagged.waitFor({ state: "detached" });
    });

    await step("volumes: remove one (with its confirmation)", async () => {
      await page.getByRole("link", { name: "Volumes" }).click();
      await page.locator('tr[data-volume="scratch"]').waitFor();
      await page.getByRole("button", { name: "Browse scratch" }).click();
      await page.locator("#volume-files", { hasText: "readme" }).waitFor();
      await page.locator("#volume-files a", { hasText: "conf/" }).click();
      await page.locator("#volume-files", { hasText: "app.ini" }).waitFor();
      await page.getByRole("button", { name: "Browse scratch" }).click();
      await page.locator("#volume-files", { hasText: "readme" }).waitFor();
      const [tar] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Export scratch as tar" }).click()]);
      check((await tar.suggestedFilename()) === "scratch.tar", "exported " + (await tar.suggestedFilename()));
      await shot("volumes");
      await page.getByRole("button", { name: "Remove scratch" }).click();
      await page.locator('tr[data-volume="scratch"]').waitFor({ state: "detached" });
    });

    await step("networks: create one, its members, and the events", async () => {
      await page.getByRole("link", { name: "Networks" }).click();
      await page.locator('tr[data-network="bridge"]', { hasText: "printer" }).waitFor();
      await page.getByLabel("New network").fill("dashnet");
      await page.getByRole("button", { name: "Create" }).click();
      await page.locator('tr[data-network="dashnet"]').waitFor();
      await shot("networks");
      await page.getByRole("link", { name: "Events" }).click();
      await page.locator("#events tr", { hasText: "start" }).first().waitFor();
      await shot("events");
    });

    await step("builds: the build cache and its prune", async () => {
      await page.getByRole("link", { name: "Builds" }).click();
      const caption = await page.locator("#builds caption", { hasText: "Build cache" }).innerText();
      check(!/ 0 records/.test(caption), "no build cache after a build: " + caption);
      await page.getByRole("button", { name: "Prune unused cache" }).click();
      await page.locator("#builds", { hasText: "reclaimed" }).waitFor();
      await shot("builds");
    });

    await step("cluster: this node's view", async () => {
      await page.getByRole("link", { name: "Cluster" }).click();
      await page.locator("main", { hasText: "in no cluster" }).waitFor();
    });

    await step("accessibility: landmarks, names, keyboard", async () => {
      await page.goto(origin + "/");
      const containerPage = await page.locator("tr[data-row] a").first().getAttribute("href");
      for (const p of ["/", "/images", "/volumes", "/networks", "/builds", "/cluster", "/events", containerPage]) {
        await page.goto(origin + p);
        const issues = await page.evaluate(() => {
          const out = [];
          if (!document.documentElement.lang) out.push("no lang on <html>");
          for (const sel of ["header", "nav", "main"]) if (!document.querySelector(sel)) out.push("no <" + sel + "> landmark");
          if (document.querySelectorAll("h1").length !== 1) out.push("want one h1");
          const name = (el) => (el.getAttribute("aria-label") || el.textContent || el.value || "").trim() ||
            (el.id && document.querySelector(`label[for="${el.id}"]`)?.textContent.trim()) || el.closest("label")?.textContent.trim() || "";
          for (const el of document.querySelectorAll("input:not([type=hidden]), button, a[href], select, textarea"))
            if (!name(el)) out.push("no accessible name: " + el.outerHTML.slice(0, 80));
          for (const th of document.querySelectorAll("thead th")) if (th.getAttribute("scope") !== "col") out.push("th without scope");
          return out;
        });
        check(issues.length === 0, p + ": " + issues.join("; "));
      }
      // Keyboard: the skip link first, then the navigation, the filter and
      // a row's buttons, each with a visible focus ring.
      await page.goto(origin + "/");
      await page.keyboard.press("Tab");
      check(await page.evaluate(() => document.activeElement.textContent) === "Skip to content", "first Tab is not the skip link");
      const seen = [];
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press("Tab");
        seen.push(await page.evaluate(() => {
          const a = document.activeElement;
          if (!a || a === document.body) return "(page end)";
          const ring = getComputedStyle(a).outlineStyle !== "none";
          return (a.getAttribute("aria-label") || a.textContent || a.id || "").trim() + (ring ? "" : " (no focus ring)");
        }));
        if (seen[seen.length - 1] === "(page end)") break;
      }
      for (const want of ["Images", "filter", "Stop printer"]) check(seen.includes(want), "Tab never reaches " + want + ": " + seen.join(" | "));
      const noRing = seen.filter((s) => s.endsWith("(no focus ring)"));
      check(noRing.length === 0, "focus not visible on: " + noRing.join(", "));
      // Enter on a focused button acts: the filter box takes a word, Tab
      // moves on to the printer's Stop button, Enter stops it.
      await page.getByLabel("Filter").focus();
      await page.keyboard.type("printer");
      while (await page.evaluate(() => document.activeElement.getAttribute("aria-label")) !== "Stop printer") await page.keyboard.press("Tab");
      await page.keyboard.press("Enter");
      await page.waitForFunction(() => [...document.querySelectorAll("tr[data-row]")].some((r) => r.querySelector("a")?.textContent === "printer" && r.querySelector("[data-state]")?.textContent === "exited"));
    });
  }

  check(problems.length === 0, "the browser reported:\n  " + problems.join("\n  "));
  console.log("all steps passed" + (full ? " (full suite)" : " (short suite)"));
  await browser.close();
} catch (e) {
  console.log(`FAIL ${current}: ${e.message}`);
  if (problems.length) console.log("browser reported:\n  " + problems.join("\n  "));
  await page.screenshot({ path: path.join(shots, "failure.png"), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
