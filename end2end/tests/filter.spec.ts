// Journey: narrow the dashboard with label filters discovered from the data;
// the URL keeps the view, so a reload (or a shared link) shows the same.
import { expect, test } from "@playwright/test";
import { filterChip, seed } from "./seed";

test("filtering by label narrows the charts and survives a reload", async ({ page, request }) => {
  const id = `filter${Date.now()}`;
  await seed(request, [
    { name: `${id}_up`, type: "gauge", labels: { service: `${id}-a`, region: "eu" }, value: () => 1 },
    { name: `${id}_up`, type: "gauge", labels: { service: `${id}-b`, region: "us" }, value: () => 1 },
  ]);
  await page.goto(`/?q=${id}`);
  await expect(page.getByTestId("section")).toHaveCount(2);

  // Service chips come from /v1/label/service/values.
  await (await filterChip(page, "service", `${id}-b`)).click();
  await expect(page.getByTestId("section")).toHaveCount(1);
  await expect(page.getByTestId("section")).toHaveAttribute("data-service", `${id}-b`);
  await expect(page).toHaveURL(new RegExp(`f=service%3A${id}-b`));

  await page.reload();
  await expect(page.getByTestId("section")).toHaveCount(1);
  await expect(page.getByTestId("section")).toHaveAttribute("data-service", `${id}-b`);

  // Any other label can be added as a filter.
  // After the reload the chosen value is shown first, unfolded.
  await (await filterChip(page, "service", `${id}-b`)).click();
  await expect(page.getByTestId("section")).toHaveCount(2);
  await page.getByTestId("add-filter").selectOption("region");
  await (await filterChip(page, "region", "eu")).click();
  await expect(page.getByTestId("section")).toHaveCount(1);
  await expect(page.getByTestId("section")).toHaveAttribute("data-service", `${id}-a`);

  // Hiding system metrics and searching both narrow the view.
  await page.getByTestId("metric-search").fill(`${id}_nothing`);
  await expect(page.getByTestId("section")).toHaveCount(0);
});
