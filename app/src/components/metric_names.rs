//! A `<datalist>` of the stored metric names, for inputs that complete them
//! (`<input list=id>`).

use crate::api::Fetched;
use crate::api::{get_json, loaded_or_default};
use crate::model::MetricsList;
use leptos::prelude::*;

#[component]
pub fn MetricNames(id: &'static str) -> impl IntoView {
    let metrics = Fetched::new(|| get_json::<MetricsList>("/v1/metrics/list"));
    view! {
        <datalist id=id>
            {move || {
                loaded_or_default(metrics.get(), |l| l.metrics)
                    .into_iter()
                    .map(|m| view! { <option value=m.name></option> })
                    .collect_view()
            }}
        </datalist>
    }
}
