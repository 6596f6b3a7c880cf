// Journey: with the dashboard open, a sample pushed by an app appears on its
// chart within 2 s, without a reload, over the server's event stream.
import { expect, test } from "@playwright/test";
import { seed } from "./seed";

test("a sample ingested while the page is open appears without reload", async ({ page, request }) => {
  const id = `live${Date.now()}`;
  const series = { name: `${id}_gauge`, type: "gauge" as const, labels: { service: id }, value: (i: number) => i };
  const newest = await seed(request, [series], 10);
  await page.goto(`/?q=${id}`);
  await expect(page.getByTestId("live")).toHaveText("live");
  const status = page.getByTestId("chart-status");
  await expect(status).toHaveText("drawn 10 points");

  // A timestamp after the seeded ones and not in the future: the chart
  // shows up to "now", so a sample from the future would wait for later.
  await expect.poll(() => Math.floor(Date.now() / 1000)).toBeGreaterThan(newest);
  const sent = Date.now();
  const r = await request.post("/v1/ingest", {
    data: { metrics: [{ ...series, value: 42, timestamp: Math.floor(sent / 1000) }] },
  });
  expect(r.status()).toBe(200);
  await expect(status).toHaveText("drawn 11 points", { timeout: 2_000 });
  console.log(`new sample drawn ${Date.now() - sent} ms after it was sent`);
});
