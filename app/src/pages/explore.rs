//! The Explore tab: search metrics, list a metric's series with their labels
//! as chips, pick several series (of any metrics) into one overlay chart, and
//! see, copy or download the raw values shown.

use crate::api::Fetched;
use crate::api::{download, get_json, selector, url_encode};
use crate::chart::scale::format_datetime;
use crate::components::{ChartCard, ChartQuery, PromqlInput, SearchBox, auto_axes};
use crate::model::{MetricsList, RawResponse, SeriesFunction, SeriesList};
use crate::ui::{now_ms, tz_offset_ms, use_ui};
use leptos::prelude::*;
use std::collections::BTreeMap;

/// Raw values fetched per picked series for the table.
const TABLE_LIMIT: usize = 500;

/// A picked series: its metric and full label set. Serialized into the URL
/// (`?pick=[...]`), so a link reproduces the chart.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct Picked {
    metric: String,
    labels: BTreeMap<String, String>,
}

impl Picked {
    /// The exact selector of this one series.
    fn selector(&self) -> String {
        let values: Vec<(&str, [String; 1])> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), [v.clone()]))
            .collect();
        selector(values.iter().map(|(k, v)| (*k, &v[..])))
    }

    fn name(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}{{{}}}", self.metric, labels.join(", "))
    }

    fn query(&self) -> ChartQuery {
        let counter = self.metric.ends_with("_total") || self.metric.ends_with("_count");
        let function = if counter {
            SeriesFunction::Rate
        } else {
            SeriesFunction::None
        };
        ChartQuery::new(&self.metric, self.selector(), function)
    }
}

/// The raw values of the picked series: one row per timestamp, one column
/// per series (empty where a series has no sample at that time).
#[derive(Clone, Debug, Default, PartialEq)]
struct Table {
    columns: Vec<String>,
    rows: Vec<(i64, Vec<String>)>,
}

impl Table {
    fn build(columns: Vec<String>, series: Vec<Vec<(i64, String)>>) -> Table {
        let mut by_time: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for (c, samples) in series.iter().enumerate() {
            for (t, v) in samples {
                by_time
                    .entry(*t)
                    .or_insert_with(|| vec![String::new(); series.len()])[c] = v.clone();
            }
        }
        Table {
            columns,
            rows: by_time.into_iter().rev().collect(),
        }
    }

    fn csv(&self) -> String {
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let mut out = std::iter::once("time".to_string())
            .chain(self.columns.iter().map(|c| quote(c)))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for (t, values) in &self.rows {
            out += &format!("{},{}\n", t, values.join(","));
        }
        out
    }

    fn json(&self) -> String {
        /// One exported series: its name and its `[time, value]` samples.
        #[derive(serde::Serialize)]
        struct Exported<'a> {
            series: &'a str,
            samples: Vec<(i64, &'a str)>,
        }
        let series: Vec<Exported> = self
            .columns
            .iter()
            .enumerate()
            .map(|(c, name)| Exported {
                series: name,
                samples: self
                    .rows
                    .iter()
                    .rev()
                    .filter(|(_, v)| !v[c].is_empty())
                    .map(|(t, v)| (*t, v[c].as_str()))
                    .collect(),
            })
            .collect();
        serde_json::to_string_pretty(&series).unwrap_or_default()
    }
}

async fn fetch_table(picked: Vec<Picked>, range: (i64, i64)) -> Result<Table, String> {
    let mut columns = Vec::new();
    let mut series = Vec::new();
    for p in &picked {
        let url = format!(
            "/v1/query?metric={}&match={}&start={}&end={}&limit={TABLE_LIMIT}",
            url_encode(&p.metric),
            url_encode(&p.selector()),
            range.0 as f64 / 1000.0,
            range.1 as f64 / 1000.0,
        );
        let raw: RawResponse = get_json(&url).await?;
        columns.push(p.name());
        series.push(raw.series.into_iter().flat_map(|s| s.samples).collect());
    }
    Ok(Table::build(columns, series))
}

#[component]
pub fn Explore() -> impl IntoView {
    let ui = use_ui();
    let search = RwSignal::new(String::new());
    let metric = RwSignal::new(None::<String>);
    let picked = RwSignal::new(Vec::<Picked>::new());
    let series_filter = RwSignal::new(String::new());
    // A PromQL expression typed in, and the one last run.
    let promql_text = RwSignal::new(String::new());
    let promql = RwSignal::new(None::<String>);
    let run_promql = move || {
        let text = promql_text.get_untracked().trim().to_string();
        promql.set((!text.is_empty()).then_some(text));
    };
    #[cfg(feature = "hydrate")]
    sync_url(picked);

    let metrics = Fetched::new(|| get_json::<MetricsList>("/v1/metrics/list"));
    let series = Fetched::new(move || {
        let chosen = metric.get();
        async move {
            match chosen {
                None => Ok(SeriesList::default()),
                Some(m) => {
                    get_json::<SeriesList>(&format!(
                        "/v1/series?metric={}&limit=500",
                        url_encode(&m)
                    ))
                    .await
                }
            }
        }
    });
    let table = Fetched::new(move || {
        ui.data_tick.track();
        fetch_table(picked.get(), ui.range.get().bounds(now_ms()))
    });

    let matching = move || {
        let needle = search.get().to_lowercase();
        crate::api::loaded_or_default(metrics.get(), |l| l.metrics)
            .into_iter()
            .filter(|m| m.name.to_lowercase().contains(&needle))
            .take(200)
            .collect::<Vec<_>>()
    };

    view! {
        <div class="promql-bar">
            <PromqlInput text=promql_text on_run=Callback::new(move |_| run_promql())/>
            <button data-testid="promql-run" on:click=move |_| run_promql()>"run"</button>
        </div>
        {move || {
            promql.get().map(|expr| {
                view! {
                    <div class="explore-chart" data-testid="promql-chart">
                        <ChartCard title=expr.clone() queries=vec![ChartQuery::promql(expr)]/>
                    </div>
                }
            })
        }}
        <div class="explore">
            <div class="explore-search">
                <SearchBox value=search placeholder="search metrics" testid="explore-search"/>
                <ul class="metric-list" data-testid="explore-metrics">
                    {move || {
                        matching()
                            .into_iter()
                            .map(|m| {
                                let name = m.name.clone();
                                let current = m.name.clone();
                                view! {
                                    <li>
                                        <button
                                            class="metric-button"
                                            class:on=move || metric.get().as_deref() == Some(current.as_str())
                                            data-testid="explore-metric"
                                            on:click=move |_| metric.set(Some(name.clone()))
                                        >
                                            {m.name}
                                            <span class="muted">{format!(" {} series", m.series)}</span>
                                        </button>
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ul>
            </div>
            <div class="explore-series">
                <SearchBox value=series_filter placeholder="filter series by label, e.g. route=/api" testid="series-filter"/>
                <ul class="series-list" data-testid="explore-series">
                    {move || {
                        let name = metric.get().unwrap_or_default();
                        let needle = series_filter.get().to_lowercase();
                        crate::api::loaded_or_default(series.get(), |l| l.series)
                            .into_iter()
                            .filter(|labels| {
                                needle.is_empty()
                                    || labels
                                        .iter()
                                        .any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&needle))
                            })
                            .map(|mut labels| {
                                labels.remove("__name__");
                                let item = Picked { metric: name.clone(), labels };
                                let (check, toggle) = (item.clone(), item.clone());
                                view! {
                                    <li class="series-row" data-testid="series-row">
                                        <label>
                                            <input
                                                type="checkbox"
                                                data-testid="pick-series"
                                                prop:checked=move || picked.with(|p| p.contains(&check))
                                                on:change=move |_| picked.update(|p| {
                                                    match p.iter().position(|x| *x == toggle) {
                                                        Some(i) => { p.remove(i); }
                                                        None => p.push(toggle.clone()),
                                                    }
                                                })
                                            />
                                            {item
                                                .labels
                                                .iter()
                                                .map(|(k, v)| view! { <span class="chip label-chip">{format!("{k}={v}")}</span> })
                                                .collect_view()}
                                        </label>
                                    </li>
                                }
                            })
                            .collect_view()
                    }}
                </ul>
            </div>
        </div>
        {move || {
            let chosen = picked.get();
            (!chosen.is_empty()).then(|| {
                let mut queries: Vec<ChartQuery> = chosen.iter().map(Picked::query).collect();
                auto_axes(&mut queries);
                view! {
                    <div class="explore-chart" data-testid="explore-chart">
                        <ChartCard
                            title=format!("{} series", chosen.len())
                            queries
                        />
                    </div>
                }
            })
        }}
        {move || {
            let table = table.get().and_then(Result::ok).unwrap_or_default();
            (!table.columns.is_empty()).then(|| {
                let (csv, json) = (table.csv(), table.json());
                let tz = tz_offset_ms();
                view! {
                    <div class="raw-actions">
                        <button data-testid="export-csv" on:click=move |_| download("tinyobs-series.csv", "text/csv", &csv)>
                            "CSV"
                        </button>
                        <button data-testid="export-json" on:click=move |_| download("tinyobs-series.json", "application/json", &json)>
                            "JSON"
                        </button>
                        <span class="muted">{format!("{} rows", table.rows.len())}</span>
                    </div>
                    <table class="raw" data-testid="raw-table">
                        <thead>
                            <tr>
                                <th>"time"</th>
                                {table.columns.iter().map(|c| view! { <th>{c.clone()}</th> }).collect_view()}
                            </tr>
                        </thead>
                        <tbody>
                            {table
                                .rows
                                .iter()
                                .take(200)
                                .map(|(t, values)| view! {
                                    <tr data-testid="raw-row">
                                        <td>{format_datetime(*t, tz)}</td>
                                        {values.iter().map(|v| view! { <td>{v.clone()}</td> }).collect_view()}
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
            })
        }}
    }
}

/// Keeps the picked series in the URL (`?pick=` JSON) and restores them on
/// load, after hydration.
#[cfg(feature = "hydrate")]
fn sync_url(picked: RwSignal<Vec<Picked>>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let location = window.location();
    Effect::new(move |done: Option<()>| {
        if done.is_some() {
            return;
        }
        let query = location.search().unwrap_or_default();
        let from_url = web_sys::UrlSearchParams::new_with_str(&query)
            .ok()
            .and_then(|p| p.get("pick"))
            .and_then(|json| serde_json::from_str::<Vec<Picked>>(&json).ok());
        if let Some(list) = from_url {
            picked.set(list);
        }
    });
    Effect::new(move |_| {
        let chosen = picked.get();
        let Ok(params) = web_sys::UrlSearchParams::new() else {
            return;
        };
        if !chosen.is_empty() {
            params.set("pick", &serde_json::to_string(&chosen).unwrap_or_default());
        }
        let search = String::from(params.to_string());
        let url = if search.is_empty() {
            "?".to_string()
        } else {
            format!("?{search}")
        };
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_series_select_exactly_themselves() {
        let p = Picked {
            metric: "http_requests_total".into(),
            labels: BTreeMap::from([("a".into(), "x\"y".into()), ("b".into(), "2".into())]),
        };
        assert_eq!(p.selector(), r#"{a="x\"y",b="2"}"#);
        assert_eq!(p.name(), "http_requests_total{a=x\"y, b=2}");
        assert_eq!(p.query().function, SeriesFunction::Rate);
    }

    #[test]
    fn tables_align_series_by_time_newest_first() {
        let table = Table::build(
            vec!["a".into(), "b\"".into()],
            vec![
                vec![(1, "1".into()), (2, "2".into())],
                vec![(2, "20".into()), (3, "30".into())],
            ],
        );
        assert_eq!(
            table.rows,
            vec![
                (3, vec![String::new(), "30".into()]),
                (2, vec!["2".into(), "20".into()]),
                (1, vec!["1".into(), String::new()]),
            ]
        );
        assert_eq!(table.csv(), "time,\"a\",\"b\"\"\"\n3,,30\n2,2,20\n1,1,\n");
        let json: serde_json::Value = serde_json::from_str(&table.json()).unwrap();
        assert_eq!(
            json[1]["samples"],
            serde_json::json!([[2, "20"], [3, "30"]])
        );
    }
}
