//! The Dashboard tab: one collapsible section per `service`, a chart card per
//! metric, label filters discovered from the data, metric search, and the
//! range / compare / refresh toolbar. The URL holds the view.

mod auto;
mod filters;
mod panels;
mod toolbar;
#[cfg(feature = "hydrate")]
mod url_state;

use crate::api::Fetched;
use crate::api::{get_json, selector};
use crate::components::{ChartCard, ChartQuery, SearchBox};
use crate::model::{DashboardDoc, LabelNames, SeriesFunction};
#[cfg(feature = "hydrate")]
use crate::ui::use_ui;
use auto::{SECTION_LABEL, auto_doc, fetch_catalog, section_selector, sections};
use filters::{DEFAULT_FILTERS, Filters, LabelFilter};
use leptos::prelude::*;
use panels::{AUTO, DocActions, DocPanels, ViewPicker};
use toolbar::Toolbar;

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
    url_state::sync(url_state::ViewState {
        ui,
        choice,
        filters,
        shown: shown_filters,
        search,
        hide_system,
    });
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
    let catalog = Fetched::new(move || {
        catalog_tick.track();
        fetch_catalog()
    });
    let label_names = Fetched::new(move || {
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
            <SearchBox value=search placeholder="search metrics" testid="metric-search"/>
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
