// Journey: data older than raw retention lives on as aggregates. After a
// compaction pass, a 30-day chart draws it from the 5 min buckets, with a
// min/max band where aggregates served, and the newest days from raw.
import { expect, test } from "@playwright/test";

test("a month-long chart stitches aggregates (with a band) and raw", async ({ page, request }) => {
  const id = `agg${Date.now()}`;
  const now = Math.floor(Date.now() / 1000);
  // 20 days, one sample every 10 min: a slow wave with a little noise, so
  // that each bucket has a range around its mean.
  const metrics = [];
  for (let i = 0; i <= 20 * 144; i++) {
    metrics.push({
      name: `${id}_load`,
      type: "gauge",
      value: Math.round(50 + 40 * Math.sin(i / 150) + (i % 7) * 2),
      timestamp: now - 20 * 86400 + i * 600,
      labels: { service: id },
    });
  }
  const ingest = await request.post("/v1/ingest", { data: { metrics } });
  // Raw retention refuses samples older than 14 days once a pass has run:
  // on a server this spec already compacted, old data cannot be pushed again.
  const refused = ingest.status() === 409 ? (await ingest.json()).rejected : [];
  test.skip(
    refused.length > 0 && refused.every((r: { reason: string }) => r.reason.startsWith("too old")),
    "this server already ran a compaction pass: run on a fresh server",
  );
  expect(ingest.status()).toBe(200);
  const compact = await request.post("/v1/admin/compact");
  expect(compact.status()).toBe(200);
  expect((await compact.json()).buckets_5m_written).toBeGreaterThan(0);

  const range = await request.get(
    `/v1/query/range?metric=${id}_load&start=${now - 30 * 86400}&end=${now}&maxPoints=2000`,
  );
  const body = await range.json();
  expect(body.resolutions.map((r: { resolution: string }) => r.resolution)).toEqual(["5m", "raw"]);

  await page.goto(`/?q=${id}&range=30d`);
  await expect(page.getByTestId("chart-status")).toHaveText(/drawn \d+ points, [12] min\/max band/);
  await page.getByTestId("chart-card").first().screenshot({ path: "test-results/aggregates.png" });
});
