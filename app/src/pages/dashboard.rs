//! The Dashboard tab: one collapsible section per `service`, a chart card per
//! metric, label filters discovered from the data, metric search, and the
//! range / compare / refresh toolbar. The URL holds the view.

mod panels;

use crate::api::{get_json, selector};
use crate::components::{ChartCard, ChartQuery};
use crate::model::{DashboardDoc, PanelDoc, SeriesDoc};
use crate::model::{LabelNames, LabelValues, MetricType, MetricsList, SeriesFunction, SeriesList};
use crate::ui::{QUICK_RANGES, Refresh, TimeRange, use_ui};
use leptos::prelude::*;
use panels::{AUTO, DocActions, DocPanels, ViewPicker};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The label that splits the dashboard into sections.
const SECTION_LABEL: &str = "service";
/// Section of series without a service label.
const NO_SERVICE: &str = "(no service)";
/// Values a label filter shows before "+N more", and at most.
const FOLDED_CHIPS: usize = 12;
const MAX_CHIPS: usize = 200;
/// Filters shown before any is added by hand.
const DEFAULT_FILTERS: [&str; 2] = ["service", "endpoint"];
/// Metric name prefixes of process and runtime metrics, which "hide system
/// metrics" leaves out.
const SYSTEM_PREFIXES: [&str; 5] = ["process_", "go_", "tokio_", "rust_", "tinyobs_"];

/// What the dashboard knows about the stored series.
#[derive(Clone, Debug, Default, PartialEq)]
struct Catalog {
    series: Vec<BTreeMap<String, String>>,
    kinds: HashMap<String, MetricType>,
    truncated: bool,
}

async fn fetch_catalog() -> Result<Catalog, String> {
    let series: SeriesList = get_json("/v1/series").await?;
    let metrics: MetricsList = get_json("/v1/metrics/list").await?;
    Ok(Catalog {
        series: series.series,
        truncated: series.truncated,
        kinds: metrics
            .metrics
            .into_iter()
            .filter_map(|m| Some((m.name, m.kind?)))
            .collect(),
    })
}

/// Whether a metric is charted as a per-second rate: counters, and the
/// `_count`/`_sum` of histograms.
fn is_rate(name: &str, kinds: &HashMap<String, MetricType>) -> bool {
    let family = name
        .strip_suffix("_count")
        .or_else(|| name.strip_suffix("_sum"));
    match kinds.get(name) {
        Some(MetricType::Counter) => true,
        Some(MetricType::Gauge) => false,
        _ => {
            name.ends_with("_total")
                || family.is_some_and(|f| {
                    kinds.get(f) == Some(&MetricType::Histogram)
                        || kinds.get(name) == Some(&MetricType::Histogram)
                })
        }
    }
}

/// The view's filters: selected values per label (none selected: no filter).
type Filters = BTreeMap<String, Vec<String>>;

/// One dashboard section: a service and its charts (metric, rate?).
#[derive(Clone, Debug, PartialEq)]
struct Section {
    service: String,
    charts: Vec<(String, bool)>,
}

fn sections(catalog: &Catalog, filters: &Filters, search: &str, hide_system: bool) -> Vec<Section> {
    let search = search.trim().to_lowercase();
    let mut grouped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for labels in &catalog.series {
        let keep = filters.iter().all(|(name, values)| {
            values.is_empty() || labels.get(name).is_some_and(|v| values.contains(v))
        });
        let Some(metric) = labels.get("__name__") else {
            continue;
        };
        // Buckets are charted through their histogram, not one line per `le`.
        if !keep
            || metric.ends_with("_bucket")
            || (hide_system && SYSTEM_PREFIXES.iter().any(|p| metric.starts_with(p)))
            || (!search.is_empty() && !metric.to_lowercase().contains(&search))
        {
            continue;
        }
        let service = labels
            .get(SECTION_LABEL)
            .cloned()
            .unwrap_or_else(|| NO_SERVICE.to_string());
        grouped.entry(service).or_default().insert(metric.clone());
    }
    grouped
        .into_iter()
        .map(|(service, metrics)| Section {
            charts: metrics
                .into_iter()
                .map(|m| {
                    let rate = is_rate(&m, &catalog.kinds);
                    (m, rate)
                })
                .collect(),
            service,
        })
        .collect()
}

/// The selector of one section's charts: its service (`service=""` for
/// series without one) and every filter but the service one.
fn section_selector(service: &str, filters: &Filters) -> String {
    let service_value = [if service == NO_SERVICE { "" } else { service }.to_string()];
    let others = filters
        .iter()
        .filter(|(name, _)| name.as_str() != SECTION_LABEL)
        .map(|(name, values)| (name.as_str(), values.as_slice()));
    selector(std::iter::once((SECTION_LABEL, &service_value[..])).chain(others))
}

#[component]
pub fn Dashboard() -> impl IntoView {
    #[cfg(feature = "hydrate")]
    let ui = use_ui();
    let filters = RwSignal::new(Filters::new());
    let shown_filters = RwSignal::new(DEFAULT_FILTERS.map(String::from).to_vec());
    let search = RwSignal::new(String::new());
    let hide_system = RwSignal::new(false);
    // Which dashboard: the automatic view, a template or a saved one.
    let choice = RwSignal::new(AUTO.to_string());
    let doc = RwSignal::new(None::<DashboardDoc>);
    let saved_tick = RwSignal::new(0u64);
    let doc_error = RwSignal::new(String::new());
    #[cfg(feature = "hydrate")]
    url_state::sync(ui, choice, filters, shown_filters, search, hide_system);
    Effect::new(move |_| {
        let wanted = choice.get();
        leptos::task::spawn_local(async move {
            match panels::load(wanted).await {
                Ok(loaded) => {
                    doc_error.set(String::new());
                    doc.set(loaded);
                }
                Err(e) => doc_error.set(e),
            }
        });
    });
    // The page's filters narrow every panel of a document too.
    let extra = Signal::derive(move || {
        filters.with(|f| selector(f.iter().map(|(n, v)| (n.as_str(), v.as_slice()))))
    });

    // The catalog follows the data, but at most every 10 s: it lists series,
    // which change far less often than samples.
    let catalog_tick = RwSignal::new(0u64);
    #[cfg(feature = "hydrate")]
    {
        let last = std::cell::Cell::new(0.0);
        Effect::new(move |_| {
            ui.data_tick.track();
            let now = js_sys::Date::now();
            if now - last.get() > 10_000.0 {
                last.set(now);
                catalog_tick.update(|t| *t += 1);
            }
        });
    }
    let catalog = LocalResource::new(move || {
        catalog_tick.track();
        fetch_catalog()
    });
    let label_names = LocalResource::new(move || {
        catalog_tick.track();
        get_json::<LabelNames>("/v1/labels")
    });

    let view_sections = move || {
        let catalog = catalog.get()?.ok()?;
        Some(filters.with(|f| sections(&catalog, f, &search.get(), hide_system.get())))
    };
    let is_auto = move || choice.get() == AUTO;
    let current = Signal::derive(move || match is_auto() {
        true => Some(filters.with(|f| auto_doc(&view_sections().unwrap_or_default(), f))),
        false => doc.get(),
    });

    view! {
        <div class="doc-bar">
            <ViewPicker choice saved_tick/>
            <DocActions current choice saved_tick/>
            <span class="error" data-testid="doc-error">{move || doc_error.get()}</span>
        </div>
        <Toolbar/>
        <div class="filters" data-testid="filters">
            <input
                type="search"
                placeholder="search metrics"
                data-testid="metric-search"
                prop:value=move || search.get()
                on:input=move |ev| search.set(event_target_value(&ev))
            />
            <label class="check">
                <input
                    type="checkbox"
                    data-testid="hide-system"
                    prop:checked=move || hide_system.get()
                    on:change=move |ev| hide_system.set(event_target_checked(&ev))
                />
                "hide system metrics"
            </label>
            <For
                each=move || shown_filters.get()
                key=|name| name.clone()
                children=move |name| view! { <LabelFilter name filters/> }
            />
            <select
                data-testid="add-filter"
                on:change=move |ev| {
                    let name = event_target_value(&ev);
                    if !name.is_empty() {
                        shown_filters.update(|s| if !s.contains(&name) { s.push(name) });
                    }
                }
            >
                <option value="">"+ filter by label"</option>
                {move || {
                    crate::api::loaded_or_default(label_names.get(), |l| l.labels)
                        .into_iter()
                        .filter(|n| !shown_filters.with(|s| s.contains(n)))
                        .map(|n| view! { <option value=n.clone()>{n.clone()}</option> })
                        .collect_view()
                }}
            </select>
        </div>
        <Show when=move || !is_auto()>
            <DocPanels doc extra/>
        </Show>
        {move || {
            if !is_auto() {
                return None;
            }
            catalog
                .get()
                .map(|r| match r {
                    Err(e) => view! { <p class="error" data-testid="error">{e}</p> }.into_any(),
                    Ok(c) if c.series.is_empty() => {
                        view! {
                            <p class="muted" data-testid="no-metrics">
                                "No metrics yet: push some to /v1/ingest or /api/v1/write."
                            </p>
                        }
                            .into_any()
                    }
                    Ok(c) => {
                        view! {
                            {c.truncated.then(|| view! {
                                <p class="muted">"Showing the first 10,000 series; filter to see the rest."</p>
                            })}
                        }
                            .into_any()
                    }
                })
        }}
        <For
            each=move || if is_auto() { view_sections().unwrap_or_default() } else { Vec::new() }
            key=|section| section.service.clone()
            children=move |section| {
                let service = section.service.clone();
                let charts = move || {
                    view_sections()
                        .and_then(|all| all.into_iter().find(|s| s.service == service))
                        .map(|s| s.charts)
                        .unwrap_or_default()
                };
                let service = section.service.clone();
                let key_service = service.clone();
                let title = service.clone();
                let attr = service.clone();
                view! {
                    <details class="section" open data-testid="section" data-service=attr>
                        <summary>{title}</summary>
                        <div class="grid">
                            <For
                                each=charts
                                key=move |(metric, rate)| {
                                    let selector = filters.with(|f| section_selector(&key_service, f));
                                    (metric.clone(), *rate, selector)
                                }
                                children=move |(metric, rate)| {
                                    let selector = filters.with_untracked(|f| section_selector(&service, f));
                                    view! {
                                        <ChartCard
                                            title=if rate { format!("{metric} /s") } else { metric.clone() }
                                            queries=vec![ChartQuery::new(
                                                metric.clone(),
                                                selector,
                                                if rate { SeriesFunction::Rate } else { SeriesFunction::None },
                                            )]
                                            hide_labels=vec![SECTION_LABEL.to_string()]
                                        />
                                    }
                                }
                            />
                        </div>
                    </details>
                }
            }
        />
    }
}

/// The automatic view as a document, for export and for saving it as a
/// starting point: one panel per (service, metric).
fn auto_doc(sections: &[Section], filters: &Filters) -> DashboardDoc {
    DashboardDoc {
        title: "By service".into(),
        description: String::new(),
        panels: sections
            .iter()
            .flat_map(|section| {
                section.charts.iter().map(|(metric, rate)| PanelDoc {
                    title: format!("{}: {metric}", section.service),
                    series: vec![SeriesDoc {
                        metric: metric.clone(),
                        selector: section_selector(&section.service, filters),
                        function: if *rate {
                            SeriesFunction::Rate
                        } else {
                            SeriesFunction::None
                        },
                        axis: None,
                        unit: None,
                    }],
                })
            })
            .collect(),
    }
}

/// A multi-select of one label's values, discovered from `/v1/label/{name}/values`.
#[component]
fn LabelFilter(name: String, filters: RwSignal<Filters>) -> impl IntoView {
    let url = format!("/v1/label/{}/values", crate::api::url_encode(&name));
    let values = LocalResource::new(move || {
        let url = url.clone();
        async move { get_json::<LabelValues>(&url).await }
    });
    let label = name.clone();
    let data_label = name.clone();
    let expanded = RwSignal::new(false);
    let more_name = name.clone();
    let hidden_count = move || {
        let total = values
            .get()
            .and_then(Result::ok)
            .map_or(0, |v| v.values.len());
        let chosen = filters.with(|f| f.get(&more_name).map_or(0, Vec::len));
        total.saturating_sub(FOLDED_CHIPS.max(chosen))
    };
    view! {
        <div class="label-filter" data-testid="label-filter" data-label=data_label>
            <span class="filter-name">{label}</span>
            {move || {
                let name = name.clone();
                let all = crate::api::loaded_or_default(values.get(), |v| v.values);
                // Folded: the chosen values first, then others up to FOLDED_CHIPS.
                let chosen = filters.with(|f| f.get(&name).cloned().unwrap_or_default());
                let shown: Vec<String> = match expanded.get() {
                    true => all.into_iter().take(MAX_CHIPS).collect(),
                    false => {
                        let others = all.into_iter().filter(|v| !chosen.contains(v));
                        let room = FOLDED_CHIPS.saturating_sub(chosen.len());
                        chosen.iter().cloned().chain(others.take(room)).collect()
                    }
                };
                shown
                    .into_iter()
                    .map(|value| {
                        let (n1, v1) = (name.clone(), value.clone());
                        let selected = move || {
                            filters.with(|f| f.get(&n1).is_some_and(|s| s.contains(&v1)))
                        };
                        let (n2, v2) = (name.clone(), value.clone());
                        let toggle = move |_| {
                            filters.update(|f| {
                                let chosen = f.entry(n2.clone()).or_default();
                                match chosen.iter().position(|x| *x == v2) {
                                    Some(i) => {
                                        chosen.remove(i);
                                    }
                                    None => chosen.push(v2.clone()),
                                }
                                if chosen.is_empty() {
                                    f.remove(&n2);
                                }
                            })
                        };
                        view! {
                            <button
                                class="chip"
                                class:on=selected.clone()
                                aria-pressed=move || selected().to_string()
                                data-testid="filter-value"
                                on:click=toggle
                            >
                                {value}
                            </button>
                        }
                    })
                    .collect_view()
            }}
            {move || {
                let hidden = hidden_count();
                (hidden > 0 || expanded.get()).then(|| {
                    view! {
                        <button class="chip more" data-testid="filter-more" on:click=move |_| expanded.update(|e| *e = !*e)>
                            {if expanded.get() { "fewer".to_string() } else { format!("+{hidden} more") }}
                        </button>
                    }
                })
            }}
        </div>
    }
}

/// Range buttons, zoom out, compare, refresh policy.
#[component]
fn Toolbar() -> impl IntoView {
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

/// Keeps the view in the URL (`?range=1h&f=service:api&q=cpu&hide=1`), so
/// that a link reproduces it, and reads it back on load.
#[cfg(feature = "hydrate")]
mod url_state {
    use super::Filters;
    use crate::ui::{TimeRange, Ui};
    use leptos::prelude::*;

    pub fn sync(
        ui: Ui,
        choice: RwSignal<String>,
        filters: RwSignal<Filters>,
        shown: RwSignal<Vec<String>>,
        search: RwSignal<String>,
        hide_system: RwSignal<bool>,
    ) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let location = window.location();
        // Read once, in an effect (after hydration), so that the server-rendered
        // toolbar is updated to the URL's view rather than assumed to match it.
        Effect::new(move |done: Option<()>| {
            if done.is_none() {
                read(&location, ui, choice, filters, shown, search, hide_system);
            }
        });
        Effect::new(move |_| {
            let Ok(params) = web_sys::UrlSearchParams::new() else {
                return;
            };
            params.set("range", &ui.range.get().to_param());
            let chosen = choice.get();
            if chosen != super::AUTO {
                params.set("d", &chosen);
            }
            for (name, values) in filters.get() {
                for value in values {
                    params.append("f", &format!("{name}:{value}"));
                }
            }
            let q = search.get();
            if !q.is_empty() {
                params.set("q", &q);
            }
            if hide_system.get() {
                params.set("hide", "1");
            }
            if let Some(c) = ui.compare.get() {
                params.set("compare", &c.to_string());
            }
            let url = format!("?{}", String::from(params.to_string()));
            if let Ok(history) = window.history() {
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
        });
    }

    fn read(
        location: &web_sys::Location,
        ui: Ui,
        choice: RwSignal<String>,
        filters: RwSignal<Filters>,
        shown: RwSignal<Vec<String>>,
        search: RwSignal<String>,
        hide_system: RwSignal<bool>,
    ) {
        let query = location.search().unwrap_or_default();
        let Ok(params) = web_sys::UrlSearchParams::new_with_str(&query) else {
            return;
        };
        if let Some(range) = params.get("range").and_then(|r| TimeRange::from_param(&r)) {
            ui.range.set(range);
        }
        if let Some(q) = params.get("q") {
            search.set(q);
        }
        if let Some(d) = params.get("d") {
            choice.set(d);
        }
        hide_system.set(params.get("hide").as_deref() == Some("1"));
        ui.compare
            .set(params.get("compare").and_then(|c| c.parse().ok()));
        let mut chosen = Filters::new();
        for pair in params.get_all("f").iter() {
            if let Some((name, value)) = pair.as_string().as_deref().and_then(|p| p.split_once(':'))
            {
                chosen
                    .entry(name.to_string())
                    .or_default()
                    .push(value.to_string());
            }
        }
        shown.update(|s| {
            for name in chosen.keys() {
                if !s.contains(name) {
                    s.push(name.clone());
                }
            }
        });
        filters.set(chosen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn catalog() -> Catalog {
        Catalog {
            series: vec![
                labels(&[
                    ("__name__", "http_requests_total"),
                    ("service", "api"),
                    ("endpoint", "/a"),
                ]),
                labels(&[
                    ("__name__", "http_requests_total"),
                    ("service", "api"),
                    ("endpoint", "/b"),
                ]),
                labels(&[
                    ("__name__", "latency_seconds_bucket"),
                    ("service", "api"),
                    ("le", "1"),
                ]),
                labels(&[
                    ("__name__", "process_resident_memory_bytes"),
                    ("service", "web"),
                ]),
                labels(&[("__name__", "up")]),
            ],
            kinds: HashMap::from([("up".to_string(), MetricType::Gauge)]),
            truncated: false,
        }
    }

    #[test]
    fn sections_group_metrics_by_service() {
        let all = sections(&catalog(), &Filters::new(), "", false);
        let names: Vec<&str> = all.iter().map(|s| s.service.as_str()).collect();
        assert_eq!(names, ["(no service)", "api", "web"]);
        assert_eq!(
            all[1].charts,
            vec![("http_requests_total".to_string(), true)]
        );
        assert_eq!(all[0].charts, vec![("up".to_string(), false)]);
    }

    #[test]
    fn filters_search_and_system_metrics_narrow_the_view() {
        let only_web = Filters::from([("service".to_string(), vec!["web".to_string()])]);
        assert_eq!(sections(&catalog(), &only_web, "", false).len(), 1);
        assert_eq!(sections(&catalog(), &only_web, "", true).len(), 0);
        let found = sections(&catalog(), &Filters::new(), "REQUESTS", false);
        assert_eq!(found.len(), 1);
        let endpoint = Filters::from([("endpoint".to_string(), vec!["/b".to_string()])]);
        assert_eq!(sections(&catalog(), &endpoint, "", false)[0].service, "api");
    }

    #[test]
    fn section_selectors_pin_the_service_and_keep_other_filters() {
        let f = Filters::from([
            (
                "service".to_string(),
                vec!["api".to_string(), "web".to_string()],
            ),
            ("endpoint".to_string(), vec!["/a".to_string()]),
        ]);
        assert_eq!(
            section_selector("api", &f),
            r#"{service="api",endpoint="/a"}"#
        );
        assert_eq!(
            section_selector(NO_SERVICE, &f),
            r#"{service="",endpoint="/a"}"#
        );
        assert_eq!(
            section_selector(NO_SERVICE, &Filters::new()),
            r#"{service=""}"#
        );
    }
}
