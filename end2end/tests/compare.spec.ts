// Journey: compare today with yesterday: each line gets a dashed twin showing
// the same series 24 h earlier, shifted onto today's time axis.
import { expect, test } from "@playwright/test";
import { canvasBox } from "./seed";

test("compare 24h overlays the earlier data, dashed", async ({ page, request }) => {
  const id = `compare${Date.now()}`;
  const now = Math.floor(Date.now() / 1000);
  const sample = (t: number, value: number) => ({ name: `${id}_gauge`, type: "gauge", value, timestamp: t, labels: { service: id } });
  const metrics = [];
  // Yesterday first: each series only accepts samples in time order.
  for (let i = 0; i < 30; i++) metrics.push(sample(now - 86400 - 1800 + i * 60, 5));
  for (let i = 0; i < 30; i++) metrics.push(sample(now - 1800 + i * 60, 10));
  expect((await request.post("/v1/ingest", { data: { metrics } })).status()).toBe(200);

  await page.goto(`/?q=${id}`);
  const card = page.getByTestId("chart-card");
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 30 points");
  await page.getByTestId("compare").selectOption("24h");
  await expect(card.getByTestId("legend-item")).toHaveText([`${id}_gauge`, `${id}_gauge (24h earlier)`]);
  await expect(card.getByTestId("chart-status")).toHaveText("drawn 60 points");
  await expect(page).toHaveURL(/compare=86400000/);
  // The earlier line is drawn on today's axis: hovering shows both values.
  const box = await canvasBox(card);
  await page.mouse.move(box.x + box.width * 0.85, box.y + box.height / 2);
  await expect(card.getByTestId("tooltip")).toContainText("(24h earlier)");
  await expect(card.getByTestId("tooltip")).toContainText("10");
});
