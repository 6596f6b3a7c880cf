// Journey: an operator opens the Storage tab, sees what each resolution
// holds and which metric has the most series, and runs a compaction pass.
import { expect, test } from "@playwright/test";
import { watchProblems } from "./seed";

test("the storage tab shows resolutions, cardinality and runs compaction", async ({ page, request }) => {
  const problems = watchProblems(page);

  // A metric with more series than any other spec pushes: first in the list.
  const name = `e2e_cardinality_${Date.now()}`;
  const metrics = Array.from({ length: 80 }, (_, i) => ({
    name,
    type: "gauge",
    value: i,
    labels: { pod: `pod-${i}` },
  }));
  const ingest = await request.post("/v1/ingest", { data: { metrics } });
  expect(ingest.status()).toBe(200);

  await page.goto("/storage");
  const resolutions = page.getByTestId("resolution-row");
  await expect(resolutions).toHaveCount(3);
  await expect(resolutions.locator("td:first-child")).toHaveText(["raw", "5m", "1h"]);

  const top = page.getByTestId("top-metrics").getByTestId("top-row").first();
  await expect(top.locator("td").nth(0)).toHaveText(name);
  await expect(top.locator("td").nth(1)).toHaveText("80");
  const pod = page.getByTestId("top-labels").getByTestId("top-row").filter({ hasText: "pod" });
  await expect(pod.locator("td").nth(2)).toHaveText("80");

  await page.getByTestId("compact-now").click();
  await expect(page.getByTestId("last-run")).toContainText("series", { timeout: 15_000 });
  await expect(page.getByTestId("last-run")).toContainText("compacted in");

  await page.screenshot({ path: "test-results/storage.png", fullPage: true });
  expect(problems).toEqual([]);
});
