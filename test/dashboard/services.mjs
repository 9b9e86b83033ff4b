// The dashboard's services pages in chromium (playwright-core), against a
// one-node cluster that services_test.go prepares: DASH_URL (the login
// address), DASH_SHOTS (where screenshots go), DASH_SERVICE (a service
// with two replicas), DASH_NODE (the node's hostname). Each step prints
// its name; a failure prints why, saves services-failure.png, exits 1.
import { createRequire } from "module";
import path from "path";

const require = createRequire(process.env.DASH_MODULES + "/");
const { chromium } = require("playwright-core");

const shots = process.env.DASH_SHOTS;
const login = process.env.DASH_URL;
const svc = process.env.DASH_SERVICE;
const node = process.env.DASH_NODE;
const T = 60000;

const browser = await chromium.launch({
  executablePath: process.env.DASH_CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
page.setDefaultTimeout(T);
const problems = [];
page.on("pageerror", (e) => problems.push("page error: " + e.message));
page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });

let current = "";
async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  await fn();
  console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}
function check(cond, msg) { if (!cond) throw new Error(msg); }

try {
  await step("services: the list with running/desired replicas", async () => {
    await page.goto(login);
    await page.getByRole("link", { name: "Services" }).click();
    const row = page.locator(`tr[data-service="${svc}"]`);
    // The list is live: it shows 2/2 once both tasks run, no reload.
    await page.evaluate(() => { window.berthNoReload = true; });
    await page.locator(`tr[data-service="${svc}"]`, { hasText: "2/2" }).waitFor();
    check(await page.evaluate(() => window.berthNoReload === true), "the list page reloaded");
    check((await row.innerText()).includes("busybox"), "image not shown: " + await row.innerText());
    await page.screenshot({ path: path.join(shots, "services.png") });
  });

  await step("a service's page: its tasks with their node and state", async () => {
    await page.getByRole("link", { name: svc, exact: true }).click();
    await page.waitForURL(/\/services\//);
    for (const slot of [1, 2]) {
      const t = page.locator(`tr[data-task="${svc}.${slot}"][data-state="running"]`).first();
      await t.waitFor();
      check((await t.innerText()).includes(node), `task ${svc}.${slot} not on ${node}: ` + await t.innerText());
    }
    check(await page.getByRole("button", { name: "Refresh tasks" }).count() === 0, "a Refresh button is left");
    // Landmarks and names, as the main suite checks every page.
    const issues = await page.evaluate(() => {
      const out = [];
      for (const sel of ["header", "nav", "main"]) if (!document.querySelector(sel)) out.push("no <" + sel + ">");
      if (document.querySelectorAll("h1").length !== 1) out.push("want one h1");
      for (const th of document.querySelectorAll("thead th")) if (th.getAttribute("scope") !== "col") out.push("th without scope");
      return out;
    });
    check(issues.length === 0, issues.join("; "));
    await page.screenshot({ path: path.join(shots, "service.png"), fullPage: true });
  });

  await step("the task table follows berth service scale live, no reload", async () => {
    await page.evaluate(() => { window.berthNoReload = true; });
    console.log("SCALE 3"); // services_test.go runs berth service scale web=3
    await page.locator(`tr[data-task="${svc}.3"][data-state="running"]`).first().waitFor();
    check(await page.evaluate(() => window.berthNoReload === true), "the service page reloaded");
    check((await page.locator("#service dl").innerText()).includes("3 replicas"), "replicas not updated: " + await page.locator("#service dl").innerText());
    await page.screenshot({ path: path.join(shots, "service-scaled.png"), fullPage: true });
  });

  await step("the services list follows berth service scale live, no reload", async () => {
    await page.getByRole("link", { name: "Services", exact: true }).first().click();
    await page.locator(`tr[data-service="${svc}"]`, { hasText: "3/3" }).waitFor();
    await page.evaluate(() => { window.berthNoReload = true; });
    console.log("SCALE 2"); // services_test.go runs berth service scale web=2
    await page.locator(`tr[data-service="${svc}"]`, { hasText: "2/2" }).waitFor();
    check(await page.evaluate(() => window.berthNoReload === true), "the list page reloaded");
  });

  await step("the cluster page shows this node ready and sets its availability", async () => {
    await page.getByRole("link", { name: "Cluster", exact: true }).first().click();
    await page.waitForURL(/\/cluster$/);
    const info = await page.locator("main dl").innerText();
    check(info.includes("1 of 1 ready"), "cluster info: " + info);
    const row = page.locator("tr[data-node]", { hasText: "this node" });
    await row.waitFor();
    check((await row.innerText()).includes("ready"), "node row: " + await row.innerText());
    // The fourth cell is the availability (the buttons offer the others).
    const availability = (want) => page.waitForFunction((w) => {
      const r = [...document.querySelectorAll("tr[data-node]")].find((tr) => tr.innerText.includes("this node"));
      return r && r.cells[3].innerText.trim() === w;
    }, want);
    await row.getByRole("button", { name: /pause$/ }).click();
    await availability("pause");
    await page.locator("tr[data-node]", { hasText: "this node" }).getByRole("button", { name: /active$/ }).click();
    await availability("active");
    await page.screenshot({ path: path.join(shots, "cluster.png"), fullPage: true });
  });

  check(problems.length === 0, "the browser reported:\n  " + problems.join("\n  "));
  console.log("all steps passed");
  await browser.close();
} catch (e) {
  console.log(`FAIL ${current}: ${e.message}`);
  if (problems.length) console.log("browser reported:\n  " + problems.join("\n  "));
  await page.screenshot({ path: path.join(shots, "services-failure.png"), fullPage: true }).catch(() => {});
  await browser.close();
  process.exit(1);
}
