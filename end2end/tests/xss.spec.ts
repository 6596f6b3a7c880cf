// Journey: a hostile label value (an HTML payload) is shown as text in every
// place the dashboard prints labels, and never runs.
import { expect, test } from "@playwright/test";
import { canvasBox, filterChip, seed } from "./seed";

test("a hostile label value renders as text", async ({ page, request }) => {
  const id = `xss${Date.now()}`;
  const hostile = "<img src=x onerror=alert(1)>";
  let dialogs = 0;
  page.on("dialog", async (d) => {
    dialogs++;
    await d.dismiss();
  });
  await seed(request, [{ name: `${id}_gauge`, type: "gauge", labels: { service: id, endpoint: hostile }, value: (i) => i }]);
  await page.goto(`/?q=${id}`);
  const card = page.getByTestId("chart-card");
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 60 points");

  await expect(card.getByTestId("legend-item")).toHaveText(`endpoint=${hostile}`);
  const chip = await filterChip(page, "endpoint", hostile);
  await expect(chip).toHaveText(hostile);
  const box = await canvasBox(card);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await expect(card.getByTestId("tooltip")).toContainText(hostile);

  await page.goto("/metrics");
  await expect(page.getByTestId("metric-row").filter({ hasText: id })).toHaveCount(1);
  expect(await page.locator("img").count()).toBe(0);
  expect(dialogs).toBe(0);
});
