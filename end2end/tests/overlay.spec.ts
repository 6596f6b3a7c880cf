// Journey: overlay two metrics in one chart. A unit different from the first
// series' gets a second y-axis; a series can be removed again.
import { expect, test } from "@playwright/test";
import { seed } from "./seed";

test("overlay two metrics with a second axis, then remove one", async ({ page, request }) => {
  const id = `overlay${Date.now()}`;
  await seed(request, [
    { name: `${id}_memory_bytes`, type: "gauge", labels: { service: id }, value: (i) => 1048576 * (10 + i) },
    { name: `${id}_requests_total`, type: "counter", labels: { service: id }, value: (i) => i * 30 },
  ]);
  await page.goto(`/?q=${id}`);
  await expect(page.getByTestId("chart-status")).toHaveText(["drawn 60 points", "drawn 59 points"]);

  // Save the automatic view as a dashboard, which makes its panels editable.
  await page.getByTestId("doc-title").fill(`${id} board`);
  await page.getByTestId("save-dashboard").click();
  await expect(page.getByTestId("doc-message")).toHaveText(`saved as "${id} board"`);
  await expect(page).toHaveURL(new RegExp(`d=saved%3A${id}-board`));

  const memory = page.getByTestId("panel").filter({ hasText: `${id}_memory_bytes` });
  await memory.getByTestId("add-series-metric").fill(`${id}_requests_total`);
  await memory.getByTestId("add-series").click();
  const card = page.getByTestId("panel").filter({ hasText: `${id}_memory_bytes` }).getByTestId("chart-card");
  await expect(card.getByTestId("legend-item")).toHaveCount(2);
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 119 points");
  await expect(card).toHaveAttribute("data-axes", "left,right");

  const panel = page.getByTestId("panel").filter({ hasText: `${id}_memory_bytes` });
  await panel.getByTestId("remove-series").nth(1).click();
  await expect(panel.getByTestId("chart-card").getByTestId("legend-item")).toHaveCount(1);
  await expect(panel.getByTestId("chart-card")).toHaveAttribute("data-axes", "left");
});
