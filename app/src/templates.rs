//! Built-in dashboards. Each is a JSON file in `app/templates/`, in the same
//! format as export/import, compiled into the binary.

use crate::model::{DashboardDoc, dashboard_id};

const FILES: [&str; 4] = [
    include_str!("../templates/http-api.json"),
    include_str!("../templates/process-runtime.json"),
    include_str!("../templates/database.json"),
    include_str!("../templates/tinyobs.json"),
];

/// Every template as (id, document). A template that does not parse is a
/// build mistake caught by the tests, and left out rather than panicking.
pub fn all() -> Vec<(String, DashboardDoc)> {
    FILES
        .iter()
        .filter_map(|text| serde_json::from_str::<DashboardDoc>(text).ok())
        .map(|doc| (dashboard_id(&doc.title), doc))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_parses() {
        for text in super::FILES {
            if let Err(e) = serde_json::from_str::<crate::model::DashboardDoc>(text) {
                panic!("{e}: {text}");
            }
        }
        let ids: Vec<String> = super::all().into_iter().map(|(id, _)| id).collect();
        assert_eq!(
            ids,
            ["http-api", "process-runtime", "database", "tinyobs-itself"]
        );
    }
}
