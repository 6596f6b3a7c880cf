// Journey: the user moves between the tabs with the header links and the
// browser's back and forward buttons; the page switches in place (no reload)
// and a link to a tab, or to a path that is no tab, works on its own.
import { expect, test } from "@playwright/test";
import { watchProblems } from "./seed";

test("tab links switch pages in place; back, forward and unknown paths work", async ({ page }) => {
  const problems = watchProblems(page);
  await page.goto("/");
  const nav = page.locator("header nav");
  await expect(nav.locator('a[aria-current="page"]')).toHaveText("Dashboard");
  // Set on the window: it survives only if no link reloads the page.
  await page.evaluate(() => ((window as any).__sameDocument = true));

  await nav.getByText("Storage").click();
  await expect(page).toHaveURL(/\/storage$/);
  await expect(page.getByTestId("storage")).toBeVisible();
  await expect(nav.locator('a[aria-current="page"]')).toHaveText("Storage");
  // The tab already shown: no new history entry, the page stays as it is.
  const entries = await page.evaluate(() => history.length);
  await nav.getByText("Storage").click();
  expect(await page.evaluate(() => history.length)).toBe(entries);

  await nav.getByText("Metrics").click();
  await expect(page).toHaveURL(/\/metrics$/);
  await expect(page.getByTestId("stats")).toBeVisible();
  await expect(page.getByTestId("storage")).toHaveCount(0);

  await page.goBack();
  await expect(page).toHaveURL(/\/storage$/);
  await expect(page.getByTestId("storage")).toBeVisible();
  await expect(nav.locator('a[aria-current="page"]')).toHaveText("Storage");
  await page.goForward();
  await expect(page.getByTestId("stats")).toBeVisible();
  expect(await page.evaluate(() => (window as any).__sameDocument)).toBe(true);

  // The server renders every tab at its own path, and nothing else.
  await page.goto("/explore");
  await expect(nav.locator('a[aria-current="page"]')).toHaveText("Explore");
  const missing = await page.request.get("/no-such-page");
  expect(missing.status()).toBe(404);
  expect(await missing.text()).toContain("Page not found.");
  expect(problems).toEqual([]);
});
