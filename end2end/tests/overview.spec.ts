// Journey: an app pushes metrics over HTTP; the user opens the Metrics tab and
// sees them listed with the storage totals, rendered by the hydrated page.
import { expect, test } from "@playwright/test";
import { watchProblems } from "./seed";

test("the overview shows metrics ingested over HTTP", async ({ page, request }) => {
  const problems = watchProblems(page);

  const name = `e2e_requests_total_${Date.now()}`;
  const hostile = "<img src=x onerror=alert(1)>";
  const ingest = await request.post("/v1/ingest", {
    data: {
      metrics: [
        { name, type: "counter", value: 7, labels: { service: "api" } },
        { name, type: "counter", value: 9, labels: { service: hostile } },
      ],
    },
  });
  expect(ingest.status()).toBe(200);
  expect((await ingest.json()).accepted).toBe(2);

  await page.goto("/metrics");
  await expect(page).toHaveTitle("TinyObs");
  const row = page.getByTestId("metric-row").filter({ hasText: name });
  await expect(row).toHaveCount(1);
  await expect(row.locator("td").nth(2)).toHaveText("2");
  await expect(row.locator("td").nth(1)).toHaveText("counter");
  const series = Number(await page.getByTestId("stat-series").locator(".value").textContent());
  expect(series).toBeGreaterThanOrEqual(2);

  // A sample pushed while the page is open shows up on the next refresh (5 s).
  const later = `${name}_later`;
  await request.post("/v1/ingest", { data: { metrics: [{ name: later, type: "gauge", value: 1 }] } });
  await expect(page.getByTestId("metric-row").filter({ hasText: later })).toHaveCount(1, { timeout: 15_000 });

  await page.screenshot({ path: "test-results/overview.png" });
  expect(problems).toEqual([]);
});
