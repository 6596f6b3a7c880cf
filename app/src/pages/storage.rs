//! The Storage tab: what each resolution holds, the last compaction pass
//! (with a button to run one now), and where the series come from: the
//! metrics and label names with the most series, against the limits.

use super::format_bytes;
use crate::api::Fetched;
use crate::api::{get_json, post_action};
use crate::model::{Cardinality, CardinalityEntry, CompactionRun, ResolutionStats, Stats};
use leptos::prelude::*;

#[component]
pub fn Storage() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let stats = Fetched::new(move || {
        tick.track();
        get_json::<Stats>("/v1/stats")
    });
    let cardinality = Fetched::new(move || {
        tick.track();
        get_json::<Cardinality>("/v1/cardinality?limit=15")
    });
    let compact = Action::new_local(|_: &()| post_action::<CompactionRun>("/v1/admin/compact"));
    Effect::new(move |_| {
        if compact.value().get().is_some() {
            tick.update(|t| *t += 1);
        }
    });

    view! {
        <section class="storage" data-testid="storage">
            {move || match stats.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Ok(s)) => view! {
                    <h2>"Resolutions"</h2>
                    <Resolutions rows=s.resolutions/>
                    <h2>"Compaction"</h2>
                    <LastRun run=s.compaction/>
                }
                .into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
            }}
            <div class="raw-actions">
                <button
                    data-testid="compact-now"
                    disabled=move || compact.pending().get()
                    on:click=move |_| {
                        compact.dispatch(());
                    }
                >
                    {move || if compact.pending().get() { "Compacting…" } else { "Compact now" }}
                </button>
                {move || match compact.value().get() {
                    Some(Err(e)) => view! { <span class="error">{e}</span> }.into_any(),
                    _ => ().into_any(),
                }}
            </div>
            {move || match cardinality.get() {
                Some(Ok(c)) => view! { <CardinalityView c/> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                None => ().into_any(),
            }}
        </section>
    }
}

#[component]
fn Resolutions(rows: Vec<ResolutionStats>) -> impl IntoView {
    view! {
        <table class="metrics" data-testid="resolutions">
            <thead>
                <tr>
                    <th>"resolution"</th><th>"series"</th><th>"chunks / blocks"</th>
                    <th>"samples / buckets"</th><th>"on disk"</th><th>"bytes per sample"</th>
                    <th>"kept for"</th>
                </tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|r| {
                        view! {
                            <tr data-testid="resolution-row">
                                <td>{r.resolution}</td>
                                <td>{r.series}</td>
                                <td>{r.chunks}</td>
                                <td>{r.samples}</td>
                                <td>{format_bytes(r.bytes_on_disk)}</td>
                                <td>{format!("{:.2}", r.bytes_per_sample)}</td>
                                <td>{format_days(r.retention_ms)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn LastRun(run: Option<CompactionRun>) -> impl IntoView {
    let Some(run) = run else {
        return view! { <p class="muted" data-testid="last-run">"No compaction pass yet."</p> }
            .into_any();
    };
    let text = format!(
        "{} series, {} compacted in {} ms: {} five-minute and {} hourly buckets written; \
         retention deleted {} raw samples ({} files), {} five-minute and {} hourly blocks, \
         {} series left with no data",
        run.series,
        run.series_compacted,
        run.duration_ms,
        run.buckets_5m_written,
        run.buckets_1h_written,
        run.raw_samples_deleted,
        run.raw_files_deleted,
        run.blocks_5m_deleted,
        run.blocks_1h_deleted,
        run.series_deleted
    );
    view! { <p data-testid="last-run">{text}</p> }.into_any()
}

#[component]
fn CardinalityView(c: Cardinality) -> impl IntoView {
    let limits = format!(
        "{} series of at most {}; at most {} per metric and {} labels per series",
        c.series, c.limits.max_series, c.limits.max_series_per_metric, c.limits.max_labels
    );
    view! {
        <h2>"Cardinality"</h2>
        <p class="muted" data-testid="limits">{limits}</p>
        <div class="cardinality">
            <Top title="metrics" rows=c.metrics testid="top-metrics"/>
            <Top title="label names" rows=c.labels testid="top-labels"/>
        </div>
    }
}

/// A table of names by series count, each with a bar against the first.
#[component]
fn Top(title: &'static str, rows: Vec<CardinalityEntry>, testid: &'static str) -> impl IntoView {
    let most = rows.iter().map(|r| r.series).max().unwrap_or(1).max(1);
    view! {
        <table class="metrics" data-testid=testid>
            <thead>
                <tr><th>{title}</th><th>"series"</th><th>"values"</th><th></th></tr>
            </thead>
            <tbody>
                {rows
                    .into_iter()
                    .map(|r| {
                        let share = r.series as f64 / most as f64;
                        let width = format!("width: {:.1}%", (share * 100.0).clamp(0.5, 100.0));
                        view! {
                            <tr data-testid="top-row">
                                <td class="name">{r.name}</td>
                                <td>{r.series}</td>
                                <td>{r.values.map(|v| v.to_string()).unwrap_or_default()}</td>
                                <td class="bar-cell"><div class="bar" style=width></div></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

/// A retention in days, or hours below a day.
fn format_days(ms: i64) -> String {
    const HOUR: i64 = 3_600_000;
    if ms % (24 * HOUR) == 0 {
        format!("{} d", ms / (24 * HOUR))
    } else {
        format!("{} h", ms / HOUR)
    }
}

#[cfg(test)]
mod tests {
    use super::format_days;

    #[test]
    fn retentions_read_in_days_or_hours() {
        assert_eq!(format_days(14 * 86_400_000), "14 d");
        assert_eq!(format_days(36 * 3_600_000), "36 h");
    }
}
