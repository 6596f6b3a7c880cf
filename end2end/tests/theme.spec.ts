// Journey: switch to the light theme; charts redraw in it, and the choice is
// remembered on the next visit.
import { expect, test } from "@playwright/test";
import { seed } from "./seed";

async function backgroundPixel(page: import("@playwright/test").Page) {
  return page.getByTestId("chart-canvas").first().evaluate((el: HTMLCanvasElement) => {
    const d = el.getContext("2d")!.getImageData(2, 2, 1, 1).data;
    return [d[0], d[1], d[2]];
  });
}

test("the theme toggle switches page and charts, and persists", async ({ page, request }) => {
  const id = `theme${Date.now()}`;
  await seed(request, [{ name: `${id}_gauge`, type: "gauge", labels: { service: id }, value: (i) => i }]);
  await page.goto(`/?q=${id}`);
  await expect(page.getByTestId("chart-status")).toHaveText("drawn 60 points");
  await expect(page.getByTestId("app")).toHaveClass(/theme-dark/);
  expect((await backgroundPixel(page)).every((c) => c < 60)).toBe(true);

  await page.getByTestId("theme-toggle").click();
  await expect(page.getByTestId("app")).toHaveClass(/theme-light/);
  await expect.poll(() => backgroundPixel(page)).toEqual([255, 255, 255]);

  await page.reload();
  await expect(page.getByTestId("app")).toHaveClass(/theme-light/);
  await expect(page.getByTestId("chart-status")).toHaveText("drawn 60 points");
  expect(await backgroundPixel(page)).toEqual([255, 255, 255]);

  // The keyboard shortcut toggles it back; `?` lists the shortcuts.
  await page.keyboard.press("t");
  await expect(page.getByTestId("app")).toHaveClass(/theme-dark/);
  await page.keyboard.press("?");
  await expect(page.getByTestId("help")).toContainText("zoom out");
});
