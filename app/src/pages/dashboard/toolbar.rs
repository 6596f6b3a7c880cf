//! The toolbar: quick ranges, zoom out, a custom range, compare with
//! earlier, and the refresh policy.

use crate::ui::{QUICK_RANGES, Refresh, TimeRange, use_ui};
use leptos::prelude::*;

/// Range buttons, zoom out, compare, refresh policy.
#[component]
pub(super) fn Toolbar() -> impl IntoView {
    let ui = use_ui();
    let custom_from = RwSignal::new(String::new());
    let custom_to = RwSignal::new(String::new());
    let apply_custom = move |_| {
        let parse = |s: String| crate::ui::parse_datetime_local(&s);
        if let (Some(start), Some(end)) = (parse(custom_from.get()), parse(custom_to.get()))
            && end > start
        {
            ui.zoom_to(TimeRange::Absolute { start, end });
        }
    };
    view! {
        <div class="toolbar" data-testid="toolbar">
            <div class="ranges">
                {QUICK_RANGES
                    .iter()
                    .map(|&(label, ms)| {
                        view! {
                            <button
                                class="range"
                                class:on=move || ui.range.get() == TimeRange::Last(ms)
                                data-testid=format!("range-{label}")
                                on:click=move |_| {
                                    ui.zoom_stack.set(Vec::new());
                                    ui.range.set(TimeRange::Last(ms));
                                }
                            >
                                {label}
                            </button>
                        }
                    })
                    .collect_view()}
                <button data-testid="zoom-out" title="zoom out (z)" on:click=move |_| ui.zoom_out()>
                    "zoom out"
                </button>
            </div>
            <div class="custom-range">
                <input type="datetime-local" data-testid="custom-from"
                    on:input=move |ev| custom_from.set(event_target_value(&ev))/>
                <input type="datetime-local" data-testid="custom-to"
                    on:input=move |ev| custom_to.set(event_target_value(&ev))/>
                <button data-testid="custom-apply" on:click=apply_custom>"apply"</button>
            </div>
            <span class="range-label muted" data-testid="range-label">
                {move || range_label(ui.range.get())}
            </span>
            <label class="check">
                <select
                    data-testid="compare"
                    on:change=move |ev| {
                        ui.compare.set(match event_target_value(&ev).as_str() {
                            "24h" => Some(86_400_000),
                            "7d" => Some(7 * 86_400_000),
                            _ => None,
                        })
                    }
                >
                    <option value="">"no compare"</option>
                    <option value="24h" selected=move || ui.compare.get() == Some(86_400_000)>"compare 24h"</option>
                    <option value="7d" selected=move || ui.compare.get() == Some(7 * 86_400_000)>"compare 7d"</option>
                </select>
            </label>
            <select
                data-testid="refresh-choice"
                on:change=move |ev| {
                    let choice = event_target_value(&ev);
                    if let Some((_, r)) = Refresh::CHOICES.iter().find(|(l, _)| *l == choice) {
                        ui.refresh.set(*r);
                    }
                }
            >
                {Refresh::CHOICES
                    .iter()
                    .map(|&(label, r)| view! {
                        <option value=label selected=move || ui.refresh.get() == r>{format!("refresh: {label}")}</option>
                    })
                    .collect_view()}
            </select>
            <button data-testid="refresh" title="refresh (r)" on:click=move |_| ui.data_tick.update(|t| *t += 1)>
                "refresh"
            </button>
        </div>
    }
}

fn range_label(range: TimeRange) -> String {
    match range {
        TimeRange::Last(_) => format!("last {}", range.to_param()),
        TimeRange::Absolute { start, end } => {
            let tz = crate::ui::tz_offset_ms();
            format!(
                "{} → {}",
                crate::chart::scale::format_datetime(start, tz),
                crate::chart::scale::format_datetime(end, tz)
            )
        }
    }
}
