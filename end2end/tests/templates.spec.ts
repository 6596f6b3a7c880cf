// Journey: switch the dashboard to a built-in template; its panels query the
// data (rates, error rates, latency quantiles from histogram buckets), and the
// page's filters still apply.
import { expect, test } from "@playwright/test";
import { canvasBox, seed } from "./seed";

const BUCKETS = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];

test("switching to the HTTP API template", async ({ page, request }) => {
  const id = `tpl${Date.now()}`;
  const service = { service: id };
  await seed(request, [
    { name: "http_requests_total", type: "counter", labels: { ...service, status: "200" }, value: (i) => i * 100 },
    { name: "http_requests_total", type: "counter", labels: { ...service, status: "500" }, value: (i) => i * 3 },
    // Per minute 100 requests: 40 under 50 ms, 80 under 100 ms, 95 under 250 ms, all under 500 ms.
    ...BUCKETS.map((le, b) => ({
      name: "http_request_duration_seconds_bucket", type: "histogram" as const, labels: { ...service, le },
      value: (i: number) => i * [40, 80, 95, 100, 100, 100][b],
    })),
  ]);

  await page.goto(`/?f=service:${id}`);
  // The automatic view first: one section, this test's service.
  await expect(page.getByTestId("section")).toHaveCount(1);
  await page.getByTestId("view-picker").selectOption("tpl:http-api");
  await expect(page).toHaveURL(/d=tpl%3Ahttp-api/);
  const cards = page.getByTestId("chart-card");
  await expect(cards.locator(".card-title")).toHaveText([
    "Request rate", "Error rate (5xx)", "Latency p50 / p95 / p99", "p99 latency, all routes (PromQL)", "Requests vs errors",
  ]);
  // A panel defined by a PromQL expression draws through the Prometheus API.
  await expect(cards.nth(3).getByTestId("chart-status")).toHaveText(/drawn [1-9]\d* points/);

  const errors = cards.nth(1);
  // The service is pinned by the filter, so the legend leaves it out.
  await expect(errors.getByTestId("legend-item")).toHaveText(["status=500"]);
  await expect(errors.getByTestId("chart-status")).toHaveText("drawn 59 points");

  const latency = cards.nth(2);
  await expect(latency.getByTestId("legend-item")).toHaveCount(3);
  await expect(latency.getByTestId("chart-status")).toHaveText(/drawn [1-9]\d* points/);
  // As Prometheus interpolates: p50 62.5 ms, p95 250 ms, p99 450 ms.
  const box = await canvasBox(latency);
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2);
  await expect(latency.getByTestId("tooltip")).toContainText("62.5 ms");
  await expect(latency.getByTestId("tooltip")).toContainText("250 ms");
  await expect(latency.getByTestId("tooltip")).toContainText("450 ms");

  await page.getByTestId("view-picker").selectOption("tpl:process-runtime");
  await expect(cards.first().locator(".card-title")).toHaveText("Resident memory");
  await page.getByTestId("view-picker").selectOption("auto");
  await expect(page.getByTestId("section")).toHaveCount(1);
});
