//! Dashboards as documents: the picker (automatic view, templates, saved
//! dashboards), a document's panels with their series editable, and saving,
//! export and import of the JSON document.

use crate::api::Fetched;
use crate::api::{get_json, put_json};
use crate::components::{ChartCard, ChartQuery, MetricNames};
use crate::model::{
    DashboardDoc, DashboardInfo, DashboardList, PanelDoc, SeriesDoc, SeriesFunction, dashboard_id,
};
use leptos::prelude::*;

/// The automatic view: one section per service.
pub const AUTO: &str = "auto";

/// What the picker selects: `auto`, `tpl:<id>` or `saved:<id>`.
pub fn template_choice(id: &str) -> String {
    format!("tpl:{id}")
}

pub fn saved_choice(id: &str) -> String {
    format!("saved:{id}")
}

/// Loads the document a choice names; `None` for the automatic view.
pub async fn load(choice: String) -> Result<Option<DashboardDoc>, String> {
    if let Some(id) = choice.strip_prefix("tpl:") {
        return crate::templates::all()
            .into_iter()
            .find(|(t, _)| t == id)
            .map(|(_, doc)| Some(doc))
            .ok_or_else(|| format!("no template \"{id}\""));
    }
    if let Some(id) = choice.strip_prefix("saved:") {
        let url = format!("/v1/dashboards/{}", crate::api::url_encode(id));
        return get_json::<DashboardDoc>(&url).await.map(Some);
    }
    Ok(None)
}

/// Saves a document on the server under the id of its title.
pub async fn save(doc: DashboardDoc) -> Result<DashboardInfo, String> {
    let url = format!("/v1/dashboards/{}", dashboard_id(&doc.title));
    put_json(&url, &doc).await
}

/// The function a metric is charted with by default when added by hand.
fn default_function(metric: &str) -> SeriesFunction {
    if metric.ends_with("_bucket") {
        SeriesFunction::Quantile(0.95)
    } else if metric.ends_with("_total") || metric.ends_with("_count") || metric.ends_with("_sum") {
        SeriesFunction::Rate
    } else {
        SeriesFunction::None
    }
}

/// How a series is named on its chip in the panel editor.
fn describe(series: &SeriesDoc) -> String {
    if let Some(expr) = &series.promql {
        return expr.clone();
    }
    let function = match series.function {
        SeriesFunction::None => String::new(),
        SeriesFunction::Rate => " rate".into(),
        SeriesFunction::Quantile(q) => format!(" p{}", q * 100.0),
    };
    format!("{}{}{function}", series.metric, series.selector)
}

/// The picker: automatic view, templates and saved dashboards.
#[component]
pub fn ViewPicker(choice: RwSignal<String>, saved_tick: RwSignal<u64>) -> impl IntoView {
    let saved = Fetched::new(move || {
        saved_tick.track();
        get_json::<DashboardList>("/v1/dashboards")
    });
    let option = move |value: String, label: String| {
        let selected_value = value.clone();
        view! { <option value=value selected=move || choice.get() == selected_value>{label}</option> }
    };
    view! {
        <select
            class="view-picker"
            data-testid="view-picker"
            prop:value=move || choice.get()
            on:change=move |ev| choice.set(event_target_value(&ev))
        >
            {option(AUTO.into(), "by service (automatic)".into())}
            <optgroup label="templates">
                {crate::templates::all()
                    .into_iter()
                    .map(|(id, doc)| option(template_choice(&id), doc.title))
                    .collect_view()}
            </optgroup>
            <optgroup label="saved">
                {move || {
                    crate::api::loaded_or_default(saved.get(), |l| l.dashboards)
                        .into_iter()
                        .map(|d| option(saved_choice(&d.id), d.title))
                        .collect_view()
                }}
            </optgroup>
        </select>
    }
}

/// A document's panels, each a chart card with a row to add and remove series.
#[component]
pub fn DocPanels(doc: RwSignal<Option<DashboardDoc>>, extra: Signal<String>) -> impl IntoView {
    let panels = move || {
        doc.get()
            .map(|d| d.panels.into_iter().enumerate().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let add_panel = move |metric: String| {
        doc.update(|d| {
            if let Some(d) = d {
                d.panels.push(PanelDoc {
                    title: metric.clone(),
                    series: vec![SeriesDoc {
                        function: default_function(&metric),
                        metric: metric.clone(),
                        ..SeriesDoc::default()
                    }],
                });
            }
        });
    };
    view! {
        <MetricNames id="metric-names"/>
        <div class="grid doc-panels">
            <For
                each=panels
                // A changed panel or filter makes a new card with the new queries.
                key=move |(i, panel)| (*i, serde_json::to_string(panel).unwrap_or_default(), extra.get())
                children=move |(i, panel)| {
                    let queries = ChartQuery::from_panel(&panel, &extra.get_untracked());
                    view! {
                        <div class="panel" data-testid="panel">
                            <ChartCard title=panel.title.clone() queries/>
                            <PanelEditor doc index=i series=panel.series.clone()/>
                        </div>
                    }
                }
            />
        </div>
        <div class="add-panel">
            <MetricInput placeholder="metric for a new panel" button="+ panel" testid="add-panel" on_add=add_panel/>
        </div>
    }
}

/// Chips for a panel's series (× removes one) and an input to add one.
#[component]
fn PanelEditor(
    doc: RwSignal<Option<DashboardDoc>>,
    index: usize,
    series: Vec<SeriesDoc>,
) -> impl IntoView {
    let edit = move |change: Box<dyn FnOnce(&mut PanelDoc)>| {
        doc.update(|d| {
            if let Some(panel) = d.as_mut().and_then(|d| d.panels.get_mut(index)) {
                change(panel);
            }
            // A panel without series is removed.
            if let Some(d) = d {
                d.panels.retain(|p| !p.series.is_empty());
            }
        })
    };
    let add = move |metric: String| {
        edit(Box::new(move |p| {
            p.series.push(SeriesDoc {
                function: default_function(&metric),
                metric,
                ..SeriesDoc::default()
            })
        }))
    };
    view! {
        <div class="panel-editor">
            {series
                .iter()
                .enumerate()
                .map(|(s, one)| {
                    view! {
                        <span class="chip series-chip" data-testid="series-chip">
                            {describe(one)}
                            <button
                                class="remove"
                                title="remove this series"
                                data-testid="remove-series"
                                on:click=move |_| edit(Box::new(move |p| {
                                    if s < p.series.len() {
                                        p.series.remove(s);
                                    }
                                }))
                            >
                                "×"
                            </button>
                        </span>
                    }
                })
                .collect_view()}
            <MetricInput placeholder="+ series" button="add" testid="add-series" on_add=add/>
        </div>
    }
}

/// A metric name input, suggesting the stored metrics, and a button that
/// hands the name to `on_add`. Test ids: `<testid>-metric` and `<testid>`.
#[component]
fn MetricInput(
    placeholder: &'static str,
    button: &'static str,
    testid: &'static str,
    #[prop(into)] on_add: Callback<String>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let submit = move |_| {
        let metric = text.get_untracked().trim().to_string();
        if !metric.is_empty() {
            on_add.run(metric);
            text.set(String::new());
        }
    };
    view! {
        <input
            list="metric-names"
            placeholder=placeholder
            data-testid=format!("{testid}-metric")
            prop:value=move || text.get()
            on:input=move |ev| text.set(event_target_value(&ev))
        />
        <button data-testid=testid on:click=submit>{button}</button>
    }
}

/// Save, export and import of the dashboard shown. `current` gives the
/// document of the view (for the automatic view, one built from it).
#[component]
pub fn DocActions(
    current: Signal<Option<DashboardDoc>>,
    choice: RwSignal<String>,
    saved_tick: RwSignal<u64>,
) -> impl IntoView {
    let message = RwSignal::new(String::new());
    let title = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(d) = current.get() {
            title.set(d.title);
        }
    });
    let store = move |doc_to_save: DashboardDoc| {
        leptos::task::spawn_local(async move {
            match save(doc_to_save).await {
                Ok(info) => {
                    message.set(format!("saved as \"{}\"", info.title));
                    saved_tick.update(|t| *t += 1);
                    choice.set(saved_choice(&info.id));
                }
                Err(e) => message.set(format!("not saved: {e}")),
            }
        });
    };
    let on_save = move |_| {
        if let Some(mut d) = current.get_untracked() {
            d.title = title.get_untracked();
            store(d);
        }
    };
    let on_export = move |_| {
        if let Some(d) = current.get_untracked() {
            match serde_json::to_string_pretty(&d) {
                Ok(text) => {
                    crate::api::download(
                        &format!("{}.json", dashboard_id(&d.title)),
                        "application/json",
                        &text,
                    );
                    message.set(format!("exported \"{}\"", d.title));
                }
                Err(e) => message.set(format!("export failed: {e}")),
            }
        }
    };
    #[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
    let on_import = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            match read_file(&ev).await {
                Err(e) => message.set(format!("not imported: {e}")),
                Ok(text) => match serde_json::from_str::<DashboardDoc>(&text) {
                    Err(e) => message.set(format!("not imported: not a dashboard document: {e}")),
                    Ok(imported) => store(imported),
                },
            }
        });
    };
    view! {
        <div class="doc-actions">
            <input
                class="doc-title"
                data-testid="doc-title"
                prop:value=move || title.get()
                on:input=move |ev| title.set(event_target_value(&ev))
            />
            <button data-testid="save-dashboard" on:click=on_save>"save"</button>
            <button data-testid="export-dashboard" on:click=on_export>"export"</button>
            <label class="import">
                "import"
                <input type="file" accept="application/json,.json" data-testid="import-dashboard" on:change=on_import/>
            </label>
            <span class="muted" data-testid="doc-message">{move || message.get()}</span>
        </div>
    }
}

#[cfg(feature = "hydrate")]
async fn read_file(ev: &leptos::ev::Event) -> Result<String, String> {
    use wasm_bindgen::JsCast;
    let input = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .ok_or("no file input")?;
    let file = input
        .files()
        .and_then(|f| f.get(0))
        .ok_or("no file chosen")?;
    let text = wasm_bindgen_futures::JsFuture::from(file.text())
        .await
        .map_err(|e| {
            e.as_string()
                .unwrap_or_else(|| "the file could not be read".into())
        })?;
    // The same file can be imported again after an edit.
    input.set_value("");
    text.as_string()
        .ok_or_else(|| "the file is not text".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_metrics_get_a_sensible_function() {
        assert_eq!(default_function("x_bucket"), SeriesFunction::Quantile(0.95));
        assert_eq!(default_function("x_total"), SeriesFunction::Rate);
        assert_eq!(default_function("x_bytes"), SeriesFunction::None);
        let s = SeriesDoc {
            metric: "http_requests_total".into(),
            selector: r#"{status=~"5.."}"#.into(),
            function: SeriesFunction::Rate,
            ..SeriesDoc::default()
        };
        assert_eq!(describe(&s), r#"http_requests_total{status=~"5.."} rate"#);
    }
}
