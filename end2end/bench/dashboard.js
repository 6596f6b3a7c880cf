// Dashboard performance figures in Debian's Chromium, against a running
// TinyObs (release build): time to the first drawn chart with 50 series x
// 1,000 points, and redraw time of one chart holding 10,000 points.
// Run by scripts/bench-dashboard.sh, which starts the server and prints the
// bundle size too. Prints a Markdown table.
const { chromium } = require("@playwright/test");

const base = process.argv[2] ?? "http://127.0.0.1:3998";
const RUNS = 5;

async function ingest(metrics) {
  for (let i = 0; i < metrics.length; i += 25000) {
    const r = await fetch(`${base}/v1/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ metrics: metrics.slice(i, i + 25000) }),
    });
    if (!r.ok) throw new Error(`ingest: ${r.status} ${await r.text()}`);
  }
}

/** `series` series of `points` samples each, within the last hour. */
function shape(name, series, points) {
  const now = Date.now() / 1000;
  const out = [];
  for (let s = 0; s < series; s++) {
    for (let i = 0; i < points; i++) {
      // Inside the last hour even a minute later, when the page asks.
      const t = now - 3500 + (i * 3500) / points;
      out.push({ name, type: "gauge", value: 100 * s + 50 * Math.sin(i / 30 + s), timestamp: t, labels: { service: "bench", shard: `s${s}` } });
    }
  }
  return out;
}

/** Waits until the first chart is drawn, and checks it drew all `points`. */
async function drawn(page, points) {
  const status = page.getByTestId("chart-status").first();
  await status.filter({ hasText: /drawn|error/ }).waitFor({ timeout: 30000 });
  const text = await status.textContent();
  if (text !== `drawn ${points} points`) throw new Error(`expected ${points} points drawn, got: ${text}`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  await ingest(shape("bench_fifty", 50, 1000));
  await ingest(shape("bench_tenk", 10, 1000));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });

  const first = [];
  for (let run = 0; run < RUNS; run++) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/?q=bench_fifty`);
    await drawn(page, 50000);
    first.push(Number(await page.getByTestId("chart-canvas").first().getAttribute("data-drawn-at")));
    await page.close();
  }

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/?q=bench_tenk`);
  await drawn(page, 10000);
  const redraws = [];
  for (let i = 0; i < 10; i++) {
    const before = await page.getByTestId("chart-canvas").first().getAttribute("data-drawn-at");
    await page.keyboard.press("t");
    await page.waitForFunction(
      (b) => document.querySelector("[data-testid=chart-canvas]").getAttribute("data-drawn-at") !== b,
      before,
    );
    redraws.push(Number(await page.getByTestId("chart-canvas").first().getAttribute("data-draw-ms")));
  }
  await browser.close();

  console.log("| figure | median | worst | target |");
  console.log("|---|---|---|---|");
  console.log(`| first chart drawn after navigation start, 50 series x 1,000 points (${RUNS} page loads) | ${median(first)} ms | ${Math.max(...first)} ms | < 1,000 ms |`);
  console.log(`| redraw of one chart with 10,000 points (10 theme switches) | ${median(redraws).toFixed(1)} ms | ${Math.max(...redraws).toFixed(1)} ms | < 50 ms |`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
