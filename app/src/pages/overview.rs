//! The Metrics tab: storage totals and every metric stored with its type and
//! series count, refreshed every few seconds.

use crate::api::Fetched;
use crate::api::get_json;
use crate::model::{MetricsList, Stats};
use leptos::prelude::*;

#[component]
pub fn Overview() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    #[cfg(feature = "hydrate")]
    {
        let _ = set_interval_with_handle(
            move || tick.update(|t| *t += 1),
            std::time::Duration::from_secs(5),
        );
    }
    let stats = Fetched::new(move || {
        tick.track();
        get_json::<Stats>("/v1/stats")
    });
    let metrics = Fetched::new(move || {
        tick.track();
        get_json::<MetricsList>("/v1/metrics/list")
    });

    view! {
        {move || match stats.get() {
            None => view! { <p data-testid="loading">"Loading…"</p> }.into_any(),
            Some(Ok(s)) => view! { <StatsPanel stats=s/> }.into_any(),
            Some(Err(e)) => view! { <p class="error" data-testid="error">{e}</p> }.into_any(),
        }}
        {move || match metrics.get() {
            None => ().into_any(),
            Some(Ok(list)) => view! { <MetricsTable list/> }.into_any(),
            Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
        }}
    }
}

#[component]
fn StatsPanel(stats: Stats) -> impl IntoView {
    let items = [
        ("series", stats.series.to_string()),
        ("samples", stats.samples.to_string()),
        ("active series", stats.active_series.to_string()),
        ("on disk", format_bytes(stats.bytes_on_disk)),
    ];
    view! {
        <div class="stats" data-testid="stats">
            {items
                .into_iter()
                .map(|(label, value)| {
                    view! {
                        <div class="stat" data-testid=format!("stat-{}", label.replace(' ', "-"))>
                            <div class="label">{label}</div>
                            <div class="value">{value}</div>
                        </div>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[component]
fn MetricsTable(list: MetricsList) -> impl IntoView {
    if list.metrics.is_empty() {
        return view! { <p class="muted" data-testid="no-metrics">"No metrics yet: push some to /v1/ingest."</p> }
            .into_any();
    }
    view! {
        <table class="metrics" data-testid="metrics">
            <thead>
                <tr><th>"metric"</th><th>"type"</th><th>"series"</th></tr>
            </thead>
            <tbody>
                {list
                    .metrics
                    .into_iter()
                    .map(|m| {
                        view! {
                            <tr data-testid="metric-row">
                                <td class="name">{m.name}</td>
                                <td>{m.kind.map(|k| k.as_str()).unwrap_or("")}</td>
                                <td>{m.series}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Renders a byte count with a binary unit, the way `du -h` does.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn bytes_are_shown_with_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
