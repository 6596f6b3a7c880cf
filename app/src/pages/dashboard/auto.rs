//! The automatic view: the stored series grouped into one section per
//! `service` with a chart per metric, and that view as a dashboard document.

use super::filters::Filters;
use crate::api::{get_json, selector};
use crate::model::{
    DashboardDoc, MetricType, MetricsList, PanelDoc, SeriesDoc, SeriesFunction, SeriesList,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The label that splits the dashboard into sections.
pub(super) const SECTION_LABEL: &str = "service";
/// Section of series without a service label.
pub(super) const NO_SERVICE: &str = "(no service)";
/// Metric name prefixes of process and runtime metrics, which "hide system
/// metrics" leaves out.
pub(super) const SYSTEM_PREFIXES: [&str; 5] = ["process_", "go_", "tokio_", "rust_", "tinyobs_"];

/// What the dashboard knows about the stored series.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Catalog {
    pub(super) series: Vec<BTreeMap<String, String>>,
    pub(super) kinds: HashMap<String, MetricType>,
    pub(super) truncated: bool,
}

pub(super) async fn fetch_catalog() -> Result<Catalog, String> {
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

/// One dashboard section: a service and its charts (metric, rate?).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Section {
    pub(super) service: String,
    pub(super) charts: Vec<(String, bool)>,
}

pub(super) fn sections(
    catalog: &Catalog,
    filters: &Filters,
    search: &str,
    hide_system: bool,
) -> Vec<Section> {
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
pub(super) fn section_selector(service: &str, filters: &Filters) -> String {
    let service_value = [if service == NO_SERVICE { "" } else { service }.to_string()];
    let others = filters
        .iter()
        .filter(|(name, _)| name.as_str() != SECTION_LABEL)
        .map(|(name, values)| (name.as_str(), values.as_slice()));
    selector(std::iter::once((SECTION_LABEL, &service_value[..])).chain(others))
}

/// The automatic view as a document, for export and for saving it as a
/// starting point: one panel per (service, metric).
pub(super) fn auto_doc(sections: &[Section], filters: &Filters) -> DashboardDoc {
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
                        ..SeriesDoc::default()
                    }],
                })
            })
            .collect(),
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
