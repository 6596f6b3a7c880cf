// Journey: export a dashboard as JSON, import the file, and get the same
// dashboard back, saved on the server.
import { expect, test } from "@playwright/test";
import { readFileSync } from "fs";

test("export then import gives the same dashboard", async ({ page, request }) => {
  await page.goto("/?d=tpl:database");
  await expect(page.getByTestId("chart-card").first().locator(".card-title")).toHaveText("Query latency p95");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-dashboard").click()]);
  expect(download.suggestedFilename()).toBe("database.json");
  const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
  expect(exported.title).toBe("Database");
  expect(exported.panels.length).toBe(4);

  await request.delete("/v1/dashboards/database");
  await page.getByTestId("import-dashboard").setInputFiles(await download.path());
  await expect(page.getByTestId("doc-message")).toHaveText('saved as "Database"');
  await expect(page).toHaveURL(/d=saved%3Adatabase/);
  const saved = await (await request.get("/v1/dashboards/database")).json();
  expect(saved).toEqual(exported);

  // And exporting the imported one gives the same file again.
  const [again] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-dashboard").click()]);
  expect(JSON.parse(readFileSync(await again.path(), "utf8"))).toEqual(exported);

  // A file that is not a dashboard is refused with a message.
  await page.getByTestId("import-dashboard").setInputFiles({
    name: "bad.json", mimeType: "application/json", buffer: Buffer.from('{"title": "x", "panelz": []}'),
  });
  await expect(page.getByTestId("doc-message")).toContainText("not imported");
});
