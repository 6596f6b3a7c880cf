//! A chart card: fetches one or more range queries, draws them with
//! `chart::draw` on a canvas, and adds what a canvas cannot do well in HTML:
//! the legend, the hover crosshair and tooltip, and drag-to-zoom.

mod hover;
mod query;

pub use query::{ChartQuery, auto_axes};

use crate::api::Fetched;
use crate::chart::scale::{self, Unit};
use crate::chart::{self, Axis, ChartSpec, Line};
use crate::ui::{TimeRange, now_ms, tz_offset_ms, use_ui};
use hover::{Geometry, toggle_legend, values_at};
use leptos::prelude::*;
use query::fetch_lines;
use std::collections::BTreeSet;

/// Canvas height in CSS pixels.
const HEIGHT: u32 = 220;
/// Tooltip rows shown before "+N more".
const TOOLTIP_ROWS: usize = 8;

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

    let data = Fetched::new(move || {
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
                status.set(match (drawn.points, drawn.bands) {
                    (0, _) => "no data".into(),
                    (n, 0) => format!("drawn {n} points"),
                    (n, b) => format!("drawn {n} points, {b} min/max band(s) from aggregates"),
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
        let rows = lines.with(|l| hidden.with(|h| values_at(l, h, t, units)));
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
