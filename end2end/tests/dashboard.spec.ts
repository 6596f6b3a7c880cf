// Journey: metrics pushed over HTTP show up on the dashboard as drawn charts,
// one section per service, with units read from the metric names.
import { expect, test } from "@playwright/test";
import { canvasBox, drawnPixels, seed, watchProblems } from "./seed";

test("the dashboard draws ingested metrics per service", async ({ page, request }) => {
  const problems = watchProblems(page);
  const id = `dash${Date.now()}`;
  await seed(request, [
    { name: `${id}_requests_total`, type: "counter", labels: { service: `${id}-api`, endpoint: "/users" }, value: (i) => i * 10 },
    { name: `${id}_requests_total`, type: "counter", labels: { service: `${id}-api`, endpoint: "/orders" }, value: (i) => i * 4 },
    { name: `${id}_memory_bytes`, type: "gauge", labels: { service: `${id}-web` }, value: (i) => 1048576 * (50 + (i % 7)) },
  ]);

  await page.goto(`/?q=${id}`);
  const sections = page.getByTestId("section");
  await expect(sections).toHaveCount(2);
  await expect(sections.first()).toHaveAttribute("data-service", `${id}-api`);

  const requests = page.locator(`[data-testid=chart-card][data-metric=${id}_requests_total]`);
  // Counters are charted as rates: 60 samples give 59 rates per series.
  await expect(requests.getByTestId("chart-status")).toHaveText("drawn 118 points");
  await expect(requests.getByTestId("legend-item")).toHaveText(["endpoint=/orders", "endpoint=/users"]);
  expect(await drawnPixels(requests.getByTestId("chart-canvas"))).toBeGreaterThan(500);

  const memory = page.locator(`[data-testid=chart-card][data-metric=${id}_memory_bytes]`);
  await expect(memory.getByTestId("chart-status")).toHaveText("drawn 60 points");
  expect(await drawnPixels(memory.getByTestId("chart-canvas"))).toBeGreaterThan(500);

  // Hovering shows the values at that time, in the metric's unit.
  const box = await canvasBox(memory);
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  await expect(memory.getByTestId("tooltip")).toContainText("MiB");

  // Totals in the header come from /v1/stats.
  expect(Number(await page.getByTestId("total-series").textContent())).toBeGreaterThanOrEqual(3);
  await page.screenshot({ path: "test-results/dashboard.png" });
  expect(problems).toEqual([]);
});

test("legend clicks isolate a series and shift-click hides one", async ({ page, request }) => {
  const id = `legend${Date.now()}`;
  await seed(request, ["a", "b", "c"].map((s) => ({
    name: `${id}_gauge`, type: "gauge" as const, labels: { service: id, shard: s }, value: (i: number) => i,
  })));
  await page.goto(`/?q=${id}`);
  const card = page.getByTestId("chart-card");
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 180 points");
  await card.getByTestId("legend-item").nth(1).click();
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 60 points");
  await card.getByTestId("legend-item").nth(1).click();
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 180 points");
  await card.getByTestId("legend-item").nth(0).click({ modifiers: ["Shift"] });
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 120 points");
});
