// Journey: in Explore, find metrics by name, pick series of two metrics into
// one overlay chart, read their raw values in the table, download them as CSV.
import { expect, test } from "@playwright/test";
import { readFileSync } from "fs";
import { canvasBox, seed } from "./seed";

test("explore: search, pick series into one chart, table and CSV", async ({ page, request }) => {
  const id = `explore${Date.now()}`;
  await seed(request, [
    { name: `${id}_temperature`, type: "gauge", labels: { room: "kitchen" }, value: (i) => 20 + (i % 3) },
    { name: `${id}_temperature`, type: "gauge", labels: { room: "attic" }, value: (i) => 30 },
    { name: `${id}_humidity_ratio`, type: "gauge", labels: { room: "kitchen" }, value: () => 0.4 },
  ], 10);

  await page.goto("/explore");
  // The list is fetched by the hydrated page: text typed before hydration
  // would be reset by it.
  await expect(page.getByTestId("explore-metric").filter({ hasText: id }).first()).toBeVisible();
  await page.getByTestId("explore-search").fill(id);
  await expect(page.getByTestId("explore-metric")).toHaveCount(2);

  await page.getByTestId("explore-metric").filter({ hasText: `${id}_temperature` }).click();
  const rows = page.getByTestId("series-row");
  await expect(rows).toHaveCount(2);
  // Series can be searched by their labels.
  await page.getByTestId("series-filter").fill("room=att");
  await expect(rows).toHaveCount(1);
  await page.getByTestId("series-filter").fill("");
  await rows.filter({ hasText: "room=kitchen" }).getByTestId("pick-series").check();

  await page.getByTestId("explore-metric").filter({ hasText: `${id}_humidity_ratio` }).click();
  await expect(rows).toHaveCount(1);
  await rows.getByTestId("pick-series").check();

  const chart = page.getByTestId("explore-chart");
  await expect(chart.getByTestId("legend-item")).toHaveCount(2);
  await expect(chart.getByTestId("chart-status")).toHaveText("drawn 20 points");
  // Degrees and a ratio (percent): two units, two axes.
  await expect(chart.getByTestId("chart-card")).toHaveAttribute("data-axes", "left,right");

  const table = page.getByTestId("raw-table");
  await expect(table.locator("th")).toHaveText(["time", `${id}_temperature{room=kitchen}`, `${id}_humidity_ratio{room=kitchen}`]);
  await expect(page.getByTestId("raw-row")).toHaveCount(10);
  await expect(page.getByTestId("raw-row").first().locator("td").nth(2)).toHaveText("0.4");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-csv").click()]);
  const csv = readFileSync(await download.path(), "utf8").trim().split("\n");
  expect(csv[0]).toBe(`time,"${id}_temperature{room=kitchen}","${id}_humidity_ratio{room=kitchen}"`);
  expect(csv.length).toBe(11);
  expect(csv[1]).toMatch(/^\d+,2[012],0\.4$/);

  // The picked series are in the URL: a reload (or a shared link) shows them again.
  await expect(page).toHaveURL(/pick=/);
  await page.reload();
  await expect(page.getByTestId("explore-chart").getByTestId("legend-item")).toHaveCount(2);
});

test("explore: a PromQL query is charted, and a bad one says why", async ({ page, request }) => {
  const id = `promql${Date.now()}`;
  await seed(request, [
    { name: `${id}_requests_total`, type: "counter", labels: { status: "200" }, value: (i) => i * 60 },
    { name: `${id}_requests_total`, type: "counter", labels: { status: "500" }, value: (i) => i * 6 },
  ]);
  await page.goto("/explore");
  await expect(page.getByTestId("explore-metrics").locator("li").first()).toBeVisible();
  // Typing completes label names inside by (...) and metric names elsewhere.
  const input = page.getByTestId("promql-input");
  await input.pressSequentially("sum by (sta");
  await expect(page.getByTestId("completion")).toHaveText(["status"]);
  await input.press("Tab");
  await expect(input).toHaveValue("sum by (status");
  await input.pressSequentially(`) (rate(${id}_req`);
  await expect(page.getByTestId("completion")).toHaveText([`${id}_requests_total`]);
  await page.getByTestId("completion").click();
  await expect(input).toHaveValue(`sum by (status) (rate(${id}_requests_total`);
  await input.pressSequentially("[5m]))");
  await expect(input).toHaveValue(`sum by (status) (rate(${id}_requests_total[5m]))`);
  await input.press("Enter");
  const chart = page.getByTestId("promql-chart");
  await expect(chart.getByTestId("legend-item")).toHaveText(["status=200", "status=500"]);
  await expect(chart.getByTestId("chart-status")).toHaveText(/drawn [1-9]\d* points/);
  // 60 per minute: the tooltip reads 1/s for status 200.
  const box = await canvasBox(chart.getByTestId("chart-card"));
  await page.mouse.move(box.x + box.width * 0.8, box.y + box.height / 2);
  await expect(chart.getByTestId("tooltip")).toContainText("1");

  await page.getByTestId("promql-input").fill("sum(");
  await page.getByTestId("promql-run").click();
  await expect(chart.getByTestId("chart-status")).toContainText("error");
});

test("explore: a search typed while the page is still loading is kept", async ({ page, request }) => {
  const id = `early${Date.now()}`;
  await seed(request, [
    { name: `${id}_one`, type: "gauge", labels: { job: "a" }, value: () => 1 },
    { name: `${id}_two`, type: "gauge", labels: { job: "a" }, value: () => 2 },
  ], 5);
  // Hold the WASM back until the search is typed into the server-rendered box.
  let release = () => {};
  const typed = new Promise<void>((resolve) => (release = resolve));
  await page.route("**/*.wasm", async (route) => {
    await typed;
    await route.continue();
  });
  // Not waiting for "load": the held WASM is preloaded, which delays it.
  await page.goto("/explore", { waitUntil: "domcontentloaded" });
  await page.getByTestId("explore-search").fill(`${id}_tw`);
  release();
  await expect(page.getByTestId("explore-metric")).toHaveCount(1);
  await expect(page.getByTestId("explore-metric")).toContainText(`${id}_two`);
  await expect(page.getByTestId("explore-search")).toHaveValue(`${id}_tw`);
});
