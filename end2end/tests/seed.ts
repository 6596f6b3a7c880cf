// Test data: pushes an hour of samples over /v1/ingest, the way an app would.
import { APIRequestContext, expect } from "@playwright/test";

export type Labels = Record<string, string>;

export interface SeriesSpec {
  name: string;
  type: "counter" | "gauge" | "histogram";
  labels: Labels;
  /** value at step i (0 = oldest) */
  value: (i: number) => number;
}

/** Pushes `steps` samples per series, one every `stepSeconds`, ending now.
 * Returns the newest timestamp (unix seconds). */
export async function seed(
  request: APIRequestContext,
  series: SeriesSpec[],
  steps = 60,
  stepSeconds = 60,
): Promise<number> {
  const now = Math.floor(Date.now() / 1000);
  const metrics = [];
  for (const s of series) {
    for (let i = 0; i < steps; i++) {
      metrics.push({
        name: s.name,
        type: s.type,
        value: s.value(i),
        timestamp: now - (steps - 1 - i) * stepSeconds,
        labels: s.labels,
      });
    }
  }
  const r = await request.post("/v1/ingest", { data: { metrics } });
  expect(r.status(), await r.text()).toBe(200);
  return now;
}

/** Counts the canvas's pixels that differ from its background (top-left pixel). */
export async function drawnPixels(canvas: import("@playwright/test").Locator): Promise<number> {
  return canvas.evaluate((el: HTMLCanvasElement) => {
    const ctx = el.getContext("2d")!;
    const { data } = ctx.getImageData(0, 0, el.width, el.height);
    const [r0, g0, b0] = [data[0], data[1], data[2]];
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i] - r0) + Math.abs(data[i + 1] - g0) + Math.abs(data[i + 2] - b0) > 60) n++;
    }
    return n;
  });
}

/** Collects page errors, console errors and HTTP errors, for a final check. */
export function watchProblems(page: import("@playwright/test").Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  return problems;
}

/** The chip of `value` in the filter of `label`, unfolding the filter if the
 * value is among the ones folded away behind "+N more". */
export async function filterChip(page: import("@playwright/test").Page, label: string, value: string) {
  const filter = page.locator(`[data-testid=label-filter][data-label="${label}"]`);
  await expect(filter.getByTestId("filter-value").first()).toBeVisible();
  const chip = filter.getByTestId("filter-value").filter({ hasText: value });
  if ((await chip.count()) === 0) {
    await filter.getByTestId("filter-more").click();
  }
  return chip;
}

/** Scrolls the card's canvas into view and returns its box on screen. */
export async function canvasBox(card: import("@playwright/test").Locator) {
  const canvas = card.getByTestId("chart-canvas");
  await canvas.scrollIntoViewIfNeeded();
  return (await canvas.boundingBox())!;
}
