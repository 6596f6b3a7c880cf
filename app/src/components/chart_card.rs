//! A chart card: fetches one or more range queries, draws them with
//! `chart::draw` on a canvas, and adds what a canvas cannot do well in HTML:
//! the legend, the hover crosshair and tooltip, and drag-to-zoom.

use crate::api::{get_json, url_encode};
use crate::chart::scale::{self, Unit};
use crate::chart::{self, Axis, ChartSpec, Line};
use crate::model::{PanelDoc, RangeResponse, SeriesFunction};
use crate::ui::{TimeRange, now_ms, tz_offset_ms, use_ui};
use leptos::prelude::*;
use std::collections::BTreeSet;

/// Canvas height in CSS pixels.
const HEIGHT: u32 = 220;
/// Tooltip rows shown before "+N more".
const TOOLTIP_ROWS: usize = 8;

/// One query a chart draws: a metric, a selector, and how to show it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartQuery {
    pub metric: String,
    /// `{label="value",...}` or empty.
    pub selector: String,
    pub function: SeriesFunction,
    pub axis: Axis,
    /// The unit from a dashboard document, over the one the name implies.
    pub unit: Option<Unit>,
}

impl ChartQuery {
    pub fn new(
        metric: impl Into<String>,
        selector: impl Into<String>,
        function: SeriesFunction,
    ) -> Self {
        ChartQuery {
            metric: metric.into(),
            selector: selector.into(),
            function,
            axis: Axis::Left,
            unit: None,
        }
    }

    /// The unit of what is drawn: a quantile of `x_seconds_bucket` is in
    /// seconds, a rate of `x_bytes_total` in bytes per second.
    pub fn unit(&self) -> Unit {
        if let Some(unit) = self.unit {
            return unit;
        }
        match self.function {
            SeriesFunction::None => Unit::for_metric(&self.metric, false),
            SeriesFunction::Rate => Unit::for_metric(&self.metric, true),
            SeriesFunction::Quantile(_) => {
                let base = self.metric.strip_suffix("_bucket").unwrap_or(&self.metric);
                Unit::for_metric(base, false)
            }
        }
    }

    /// The queries of a dashboard panel: each series' selector narrowed by
    /// `extra` (the page's filters), and a unit other than the first series'
    /// put on the right axis unless the document says otherwise.
    pub fn from_panel(panel: &PanelDoc, extra: &str) -> Vec<ChartQuery> {
        let mut queries: Vec<ChartQuery> = panel
            .series
            .iter()
            .map(|s| ChartQuery {
                unit: s.unit,
                ..ChartQuery::new(&s.metric, merge_selectors(&s.selector, extra), s.function)
            })
            .collect();
        auto_axes(&mut queries);
        for (query, doc) in queries.iter_mut().zip(&panel.series) {
            query.axis = doc.axis.unwrap_or(query.axis);
        }
        queries
    }

    fn url(&self, start: i64, end: i64, max_points: u32) -> String {
        let mut url = format!(
            "/v1/query/range?metric={}&start={}&end={}&maxPoints={max_points}",
            url_encode(&self.metric),
            start as f64 / 1000.0,
            end as f64 / 1000.0,
        );
        if !self.selector.is_empty() && self.selector != "{}" {
            url += &format!("&match={}", url_encode(&self.selector));
        }
        match self.function {
            SeriesFunction::None => {}
            SeriesFunction::Rate => url += "&fn=rate",
            SeriesFunction::Quantile(q) => url += &format!("&fn=quantile&q={q}"),
        }
        url
    }
}

/// Puts every query whose unit differs from the first query's on the right
/// axis, the rest on the left: an overlay of two units gets two y-axes.
pub fn auto_axes(queries: &mut [ChartQuery]) {
    let first_unit = queries.first().map(ChartQuery::unit);
    for query in queries {
        query.axis = match Some(query.unit()) == first_unit {
            true => Axis::Left,
            false => Axis::Right,
        };
    }
}

/// `{a="1"}` and `{b="2"}` → `{a="1",b="2"}`; empty sides are left out.
pub fn merge_selectors(a: &str, b: &str) -> String {
    let inner = |s: &str| {
        s.trim()
            .trim_start_matches('{')
            .trim_end_matches('}')
            .trim()
            .to_string()
    };
    let parts: Vec<String> = [inner(a), inner(b)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// The lines of one query's answer. Labels that every line of the chart
/// shares (`hide`) are left out of the legend text.
fn lines_of(
    response: RangeResponse,
    query: &ChartQuery,
    name_prefix: bool,
    hide: &BTreeSet<String>,
) -> Vec<Line> {
    let prefix = match query.function {
        SeriesFunction::Quantile(q) => Some(format!("p{}", q * 100.0)),
        _ if name_prefix => Some(query.metric.clone()),
        _ => None,
    };
    response
        .series
        .into_iter()
        .map(|series| {
            let mut parts: Vec<String> = series
                .labels
                .iter()
                .filter(|(k, _)| {
                    let k = k.as_str();
                    k != "__name__" && k != "quantile" && !hide.contains(k)
                })
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            match (&prefix, parts.is_empty()) {
                (Some(p), _) => parts.insert(0, p.clone()),
                (None, true) => parts.push(query.metric.clone()),
                (None, false) => {}
            }
            Line {
                label: parts.join(", "),
                points: series.points,
                axis: query.axis,
                ..Line::default()
            }
        })
        .collect()
}

/// Label matchers a selector fixes to one value (`name="value"`), as
/// (name, value text) pairs.
fn pinned_labels(selector: &str) -> BTreeSet<(String, String)> {
    let inner = selector
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}');
    inner
        .split(',')
        .filter_map(|m| {
            let (name, value) = m.split_once('=')?;
            let exact = !name.ends_with('!') && !value.starts_with('~');
            let name = name.trim();
            (exact && !name.is_empty()).then(|| (name.to_string(), value.trim().to_string()))
        })
        .collect()
}

/// Labels every query of a chart pins to the same value: every line has
/// them, so legends leave them out. (Queries pinning different values, as
/// Explore's one-series queries do, keep theirs.)
fn shared_pins(queries: &[ChartQuery]) -> BTreeSet<String> {
    let mut pins = queries.iter().map(|q| pinned_labels(&q.selector));
    let first = pins.next().unwrap_or_default();
    pins.fold(first, |acc, p| acc.intersection(&p).cloned().collect())
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// What the card fetched: the lines, or why there are none.
#[derive(Clone, Debug, PartialEq)]
struct Fetched {
    lines: Vec<Line>,
    start: i64,
    end: i64,
}

async fn fetch_lines(
    queries: Vec<ChartQuery>,
    range: (i64, i64),
    compare: Option<i64>,
    width: u32,
    hide: BTreeSet<String>,
) -> Result<Fetched, String> {
    let (start, end) = range;
    // Two points per pixel column: each bucket's minimum and maximum.
    let max_points = (width * 2).clamp(200, 5000);
    // Metric names in legends only when the chart mixes metrics.
    let first_metric = queries.first().map(|q| q.metric.clone());
    let overlay = queries
        .iter()
        .any(|q| Some(&q.metric) != first_metric.as_ref());
    let mut hide = hide;
    hide.extend(shared_pins(&queries));
    let mut lines = Vec::new();
    for query in &queries {
        let response: RangeResponse = get_json(&query.url(start, end, max_points)).await?;
        let mut found = lines_of(response, query, overlay, &hide);
        found.sort_by(|a, b| a.label.cmp(&b.label));
        lines.extend(found);
    }
    for (i, line) in lines.iter_mut().enumerate() {
        line.color = i;
    }
    if let Some(shift) = compare {
        let mut earlier = Vec::new();
        for query in &queries {
            let url = query.url(start - shift, end - shift, max_points);
            let response: RangeResponse = get_json(&url).await?;
            earlier.extend(lines_of(response, query, overlay, &hide));
        }
        // Same colour as today's line of the same label, dashed.
        for mut line in earlier {
            line.color = lines
                .iter()
                .find(|l| l.label == line.label)
                .map_or(0, |l| l.color);
            line.label = format!("{} ({} earlier)", line.label, compare_label(shift));
            line.dashed = true;
            for p in &mut line.points {
                p.0 += shift;
            }
            lines.push(line);
        }
    }
    Ok(Fetched { lines, start, end })
}

fn compare_label(shift: i64) -> &'static str {
    if shift >= 7 * 86_400_000 { "7d" } else { "24h" }
}

/// Where the plotting area sits on the canvas, from the last draw: maps a
/// mouse position to a time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Geometry {
    left: i32,
    right: i32,
    start: i64,
    end: i64,
}

impl Geometry {
    fn time_at(&self, x: i32) -> Option<i64> {
        if self.right <= self.left || x < self.left || x > self.right {
            return None;
        }
        let f = f64::from(x - self.left) / f64::from(self.right - self.left);
        Some(self.start + (f * (self.end - self.start) as f64) as i64)
    }
}

/// The value of each visible line nearest to time `t`, largest first.
fn values_at(
    lines: &[Line],
    hidden: &BTreeSet<usize>,
    t: i64,
    units: (Unit, Unit),
) -> Vec<(usize, String, String)> {
    let mut rows: Vec<(usize, String, f64)> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !hidden.contains(i))
        .filter_map(|(i, line)| {
            let at = line.points.partition_point(|p| p.0 < t);
            let candidates = [at.checked_sub(1), Some(at)];
            let nearest = candidates
                .into_iter()
                .flatten()
                .filter_map(|j| line.points.get(j))
                .min_by_key(|p| (p.0 - t).abs())?;
            Some((i, line.label.clone(), nearest.1?))
        })
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    rows.into_iter()
        .map(|(i, label, v)| {
            let unit = if lines[i].axis == Axis::Right {
                units.1
            } else {
                units.0
            };
            (lines[i].color, label, unit.format(v))
        })
        .collect()
}

#[component]
pub fn ChartCard(
    title: String,
    queries: Vec<ChartQuery>,
    /// Labels left out of legend text (the section's service, say).
    #[prop(optional)]
    hide_labels: Vec<String>,
) -> impl IntoView {
    let ui = use_ui();
    let left_unit = queries
        .iter()
        .find(|q| q.axis == Axis::Left)
        .map_or(Unit::None, ChartQuery::unit);
    let right_unit = queries
        .iter()
        .find(|q| q.axis == Axis::Right)
        .map_or(Unit::None, ChartQuery::unit);
    let units = (left_unit, right_unit);
    let axes_attr = if queries.iter().any(|q| q.axis == Axis::Right) {
        "left,right"
    } else {
        "left"
    };
    let metric_attr = queries
        .iter()
        .map(|q| q.metric.clone())
        .collect::<Vec<_>>()
        .join(",");
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    let hide: BTreeSet<String> = hide_labels.into_iter().collect();
    let queries = StoredValue::new(queries);
    let hide = StoredValue::new(hide);

    let data = LocalResource::new(move || {
        ui.data_tick.track();
        let range = ui.range.get().bounds(now_ms());
        let compare = ui.compare.get();
        let width = canvas_width(canvas_ref);
        fetch_lines(queries.get_value(), range, compare, width, hide.get_value())
    });

    let hidden = RwSignal::new(BTreeSet::<usize>::new());
    let status = RwSignal::new(String::from("loading"));
    let draw_ms = RwSignal::new(0.0f64);
    // When (ms since navigation start) the chart was last drawn: for benchmarks.
    let drawn_at = RwSignal::new(0.0f64);
    let geometry = RwSignal::new(Geometry::default());
    let lines = RwSignal::new(Vec::<Line>::new());

    // Draw whenever the data, the theme or the hidden set changes.
    Effect::new(move |_| {
        let theme = ui.theme.get();
        let hidden_now = hidden.get();
        let Some(result) = data.get() else {
            return;
        };
        let fetched = match result {
            Ok(f) => f,
            Err(e) => {
                status.set(format!("error: {e}"));
                return;
            }
        };
        lines.set(fetched.lines.clone());
        let shown: Vec<Line> = fetched
            .lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !hidden_now.contains(i))
            .map(|(_, l)| l.clone())
            .collect();
        let spec = ChartSpec {
            lines: &shown,
            start: fetched.start,
            end: fetched.end,
            left_unit,
            right_unit,
            theme,
            tz_offset_ms: tz_offset_ms(),
        };
        let Some(canvas) = canvas_ref.get() else {
            return;
        };
        let began = now_precise();
        match paint(&canvas, &spec) {
            Ok(drawn) => {
                let done = now_precise();
                draw_ms.set(done - began);
                drawn_at.set(done);
                geometry.set(Geometry {
                    left: drawn.plot_left,
                    right: drawn.plot_right,
                    start: fetched.start,
                    end: fetched.end,
                });
                status.set(match drawn.points {
                    0 => "no data".into(),
                    n => format!("drawn {n} points"),
                });
            }
            Err(e) => status.set(format!("error: {e}")),
        }
    });

    // Hover and drag, in canvas pixels.
    let hover_x = RwSignal::new(None::<i32>);
    let drag_from = RwSignal::new(None::<i32>);
    let on_down = move |ev: leptos::ev::MouseEvent| {
        if geometry.get_untracked().time_at(ev.offset_x()).is_some() {
            drag_from.set(Some(ev.offset_x()));
        }
    };
    let on_move = move |ev: leptos::ev::MouseEvent| hover_x.set(Some(ev.offset_x()));
    let on_leave = move |_| {
        hover_x.set(None);
        drag_from.set(None);
    };
    let on_up = move |ev: leptos::ev::MouseEvent| {
        let Some(from) = drag_from.get_untracked() else {
            return;
        };
        drag_from.set(None);
        let to = ev.offset_x();
        let g = geometry.get_untracked();
        let clamp = |x: i32| x.clamp(g.left, g.right);
        let (a, b) = (clamp(from.min(to)), clamp(from.max(to)));
        if b - a < 5 {
            return;
        }
        if let (Some(start), Some(end)) = (g.time_at(a), g.time_at(b)) {
            ui.zoom_to(TimeRange::Absolute { start, end });
        }
    };

    let selection = move || {
        let (from, to) = (drag_from.get()?, hover_x.get()?);
        let g = geometry.get();
        let (a, b) = (from.min(to).max(g.left), from.max(to).min(g.right));
        Some(format!("left:{a}px;width:{}px", (b - a).max(0)))
    };
    let tooltip = move || {
        let x = hover_x.get()?;
        if drag_from.get().is_some() {
            return None;
        }
        let g = geometry.get();
        let t = g.time_at(x)?;
        let rows = values_at(&lines.get(), &hidden.get(), t, units);
        if rows.is_empty() {
            return None;
        }
        let more = rows.len().saturating_sub(TOOLTIP_ROWS);
        // Right of the cursor in the left half, left of it in the right half,
        // never wider than the room on that side.
        let flip = x > (g.left + g.right) / 2;
        let style = if flip {
            format!(
                "left:{x}px;transform:translateX(calc(-100% - 8px));max-width:{}px",
                x - 12
            )
        } else {
            format!(
                "left:{}px;max-width:{}px",
                x + 8,
                (g.right + 40 - x).max(120)
            )
        };
        Some(view! {
            <div class="crosshair" style=format!("left:{x}px")></div>
            <div class="tooltip" style=style data-testid="tooltip">
                <div class="time">{scale::format_datetime(t, tz_offset_ms())}</div>
                {rows
                    .into_iter()
                    .take(TOOLTIP_ROWS)
                    .map(|(color, label, value)| {
                        view! {
                            <div class="row">
                                <span class="swatch" style=format!("background:{}", chart::css_color(color))></span>
                                <span class="label">{label}</span>
                                <span class="value">{value}</span>
                            </div>
                        }
                    })
                    .collect_view()}
                {(more > 0).then(|| view! { <div class="more">{format!("+{more} more")}</div> })}
            </div>
        })
    };

    let legend = move || {
        lines
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                let off = move || hidden.with(|h| h.contains(&i));
                let on_click = move |ev: leptos::ev::MouseEvent| {
                    let count = lines.with_untracked(Vec::len);
                    hidden.update(|h| toggle_legend(h, i, count, ev.shift_key() || ev.ctrl_key() || ev.meta_key()));
                };
                view! {
                    <button class="legend-item" class:off=off on:click=on_click data-testid="legend-item">
                        <span class=if line.dashed { "swatch dashed" } else { "swatch" }
                            style=format!("background:{}", chart::css_color(line.color))></span>
                        {line.label}
                    </button>
                }
            })
            .collect_view()
    };

    view! {
        <section class="card" data-testid="chart-card" data-metric=metric_attr data-axes=axes_attr>
            <h3 class="card-title">{title}</h3>
            <div class="plot">
                <canvas
                    node_ref=canvas_ref
                    height=HEIGHT
                    data-testid="chart-canvas"
                    data-draw-ms=move || format!("{:.1}", draw_ms.get())
                    data-drawn-at=move || format!("{:.0}", drawn_at.get())
                    on:mousedown=on_down
                    on:mousemove=on_move
                    on:mouseleave=on_leave
                    on:mouseup=on_up
                ></canvas>
                {move || selection().map(|style| view! { <div class="selection" style=style></div> })}
                {tooltip}
            </div>
            <div class="legend">{legend}</div>
            <div class="chart-status muted" data-testid="chart-status">{move || status.get()}</div>
        </section>
    }
}

/// Legend clicks, as in Grafana: a click shows only that line (or all again
/// if it was already alone); shift/ctrl-click hides or shows just that line.
fn toggle_legend(hidden: &mut BTreeSet<usize>, i: usize, count: usize, additive: bool) {
    if additive {
        if !hidden.remove(&i) {
            hidden.insert(i);
        }
        return;
    }
    let alone = !hidden.contains(&i) && hidden.len() + 1 == count;
    hidden.clear();
    if !alone {
        hidden.extend((0..count).filter(|&j| j != i));
    }
}

/// The canvas's width in CSS pixels: its container's, as charts fill their card.
fn canvas_width(canvas: NodeRef<leptos::html::Canvas>) -> u32 {
    #[cfg(feature = "hydrate")]
    {
        canvas
            .get_untracked()
            .and_then(|c| c.parent_element())
            .map_or(600, |p| p.client_width().max(0) as u32)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = canvas;
        600
    }
}

fn now_precise() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.performance())
            .map_or(0.0, |p| p.now())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

#[cfg(feature = "hydrate")]
fn paint(canvas: &web_sys::HtmlCanvasElement, spec: &ChartSpec) -> Result<chart::Drawn, String> {
    use plotters::prelude::IntoDrawingArea;
    let width = canvas
        .parent_element()
        .map_or(600, |p| p.client_width().max(0) as u32);
    canvas.set_width(width);
    canvas.set_height(HEIGHT);
    let backend = plotters_canvas::CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or("the canvas has no 2D context")?;
    chart::draw(&backend.into_drawing_area(), spec)
}

#[cfg(not(feature = "hydrate"))]
fn paint(_: &leptos::web_sys::HtmlCanvasElement, _: &ChartSpec) -> Result<chart::Drawn, String> {
    Err("charts are drawn in the browser".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_clicks_isolate_and_modifiers_toggle() {
        let mut hidden = BTreeSet::new();
        toggle_legend(&mut hidden, 1, 3, false);
        assert_eq!(hidden, BTreeSet::from([0, 2]));
        toggle_legend(&mut hidden, 1, 3, false);
        assert!(hidden.is_empty(), "a second click shows all again");
        toggle_legend(&mut hidden, 2, 3, true);
        assert_eq!(hidden, BTreeSet::from([2]));
        toggle_legend(&mut hidden, 2, 3, true);
        assert!(hidden.is_empty());
    }

    #[test]
    fn tooltips_list_the_nearest_values_largest_first() {
        let line = |color: usize, v: f64| Line {
            label: format!("l{color}"),
            points: vec![(0, Some(v)), (10, Some(v * 2.0)), (20, None)],
            color,
            ..Line::default()
        };
        let lines = [line(0, 1.0), line(1, 5.0), line(2, 3.0)];
        let rows = values_at(&lines, &BTreeSet::from([2]), 9, (Unit::None, Unit::None));
        assert_eq!(
            rows,
            vec![(1, "l1".into(), "10".into()), (0, "l0".into(), "2".into())]
        );
        assert!(values_at(&lines, &BTreeSet::new(), 20, (Unit::None, Unit::None)).is_empty());
    }

    #[test]
    fn selectors_merge_and_units_follow_the_function() {
        assert_eq!(
            merge_selectors(r#"{a="1"}"#, r#"{b="2"}"#),
            r#"{a="1",b="2"}"#
        );
        assert_eq!(merge_selectors("", "{}"), "");
        assert_eq!(merge_selectors("", r#"{b="2"}"#), r#"{b="2"}"#);
        let q = |m: &str, f| ChartQuery::new(m, "", f).unit();
        assert_eq!(
            q("x_seconds_bucket", SeriesFunction::Quantile(0.9)),
            Unit::Seconds
        );
        assert_eq!(
            q("x_bytes_total", SeriesFunction::Rate),
            Unit::BytesPerSecond
        );
        assert_eq!(q("x_bytes", SeriesFunction::None), Unit::Bytes);
    }

    #[test]
    fn a_panel_puts_a_second_unit_on_the_right_axis() {
        let panel: PanelDoc = serde_json::from_str(
            r#"{"title":"t","series":[{"metric":"mem_bytes"},{"metric":"cpu_seconds_total","function":"rate"},
                {"metric":"other_bytes"},{"metric":"x","axis":"left"},{"metric":"limit","unit":"bytes"}]}"#,
        )
        .unwrap();
        let axes: Vec<Axis> = ChartQuery::from_panel(&panel, r#"{service="a"}"#)
            .iter()
            .map(|q| q.axis)
            .collect();
        // A unit set in the document counts: `limit` is in bytes, as the first.
        assert_eq!(
            axes,
            [Axis::Left, Axis::Right, Axis::Left, Axis::Left, Axis::Left]
        );
        assert_eq!(
            ChartQuery::from_panel(&panel, r#"{service="a"}"#)[0].selector,
            r#"{service="a"}"#
        );
    }

    #[test]
    fn legends_leave_out_what_every_line_shares() {
        let q = |sel: &str| ChartQuery::new("m", sel, SeriesFunction::None);
        assert_eq!(
            shared_pins(&[q(r#"{service="api",status=~"5..",env!="x"}"#)]),
            BTreeSet::from(["service".to_string()])
        );
        assert_eq!(
            shared_pins(&[q(r#"{service="api",a="1"}"#), q(r#"{service="web",a="1"}"#)]),
            BTreeSet::from(["a".to_string()])
        );
        let response = RangeResponse {
            metric: "h_bucket".into(),
            start: 0,
            end: 1,
            resolution: "raw".into(),
            max_points: 10,
            series: vec![crate::model::RangeSeries {
                labels: [("quantile", "0.95"), ("route", "/a"), ("service", "api")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                samples: 1,
                downsampled: false,
                points: vec![(0, Some(1.0))],
            }],
        };
        let query = ChartQuery::new(
            "h_bucket",
            r#"{service="api"}"#,
            SeriesFunction::Quantile(0.95),
        );
        let lines = lines_of(
            response,
            &query,
            true,
            &shared_pins(std::slice::from_ref(&query)),
        );
        assert_eq!(lines[0].label, "p95, route=/a");
    }

    #[test]
    fn geometry_maps_pixels_to_times() {
        let g = Geometry {
            left: 100,
            right: 300,
            start: 0,
            end: 1000,
        };
        assert_eq!(g.time_at(200), Some(500));
        assert_eq!(g.time_at(50), None);
    }
}
