// Journey: change the time range with the quick buttons, drag on a chart to
// zoom every chart in, and zoom back out.
import { expect, test } from "@playwright/test";
import { canvasBox, seed } from "./seed";

test("quick ranges, drag-zoom and zoom out", async ({ page, request }) => {
  const id = `range${Date.now()}`;
  await seed(request, [
    { name: `${id}_gauge`, type: "gauge", labels: { service: id }, value: (i) => i },
    { name: `${id}_other`, type: "gauge", labels: { service: id }, value: (i) => 60 - i },
  ]);
  await page.goto(`/?q=${id}`);
  const status = page.getByTestId("chart-status");
  await expect(status).toHaveText(["drawn 60 points", "drawn 60 points"]);

  await page.getByTestId("range-15m").click();
  await expect(page.getByTestId("range-label")).toHaveText("last 15m");
  await expect(page).toHaveURL(/range=15m/);
  // 15 min of one-a-minute samples: 15 or 16 of them, depending on the second.
  await expect(status.first()).toHaveText(/drawn 1[56] points/);

  await page.getByTestId("range-1h").click();
  await expect(status.first()).toHaveText("drawn 60 points");
  const box = await canvasBox(page.getByTestId("chart-card").first());
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await expect(page.getByTestId("range-label")).toContainText("→");
  // Both charts follow the zoom: each now shows a part of its hour. The
  // label changes first, the charts once their fetch is drawn, so wait.
  for (const s of await status.all()) {
    const drawn = async () => {
      const m = (await s.textContent())?.match(/drawn (\d+) points/);
      return m ? Number(m[1]) : Infinity;
    };
    await expect.poll(drawn).toBeLessThan(30);
    expect(await drawn()).toBeGreaterThan(3);
  }
  await page.getByTestId("zoom-out").click();
  await expect(page.getByTestId("range-label")).toHaveText("last 1h");
  await expect(status.first()).toHaveText("drawn 60 points");
});
