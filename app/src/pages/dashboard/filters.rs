//! Label filters: for each label, its values (discovered from
//! `/v1/label/{name}/values`) as chips to pick, several at once.

use crate::api::Fetched;
use crate::api::get_json;
use crate::model::LabelValues;
use leptos::prelude::*;
use std::collections::BTreeMap;

/// The view's filters: selected values per label (none selected: no filter).
pub(super) type Filters = BTreeMap<String, Vec<String>>;
/// Filters shown before any is added by hand.
pub(super) const DEFAULT_FILTERS: [&str; 2] = ["service", "endpoint"];
/// Values a label filter shows before "+N more", and at most.
const FOLDED_CHIPS: usize = 12;
const MAX_CHIPS: usize = 200;

/// A multi-select of one label's values, discovered from `/v1/label/{name}/values`.
#[component]
pub(super) fn LabelFilter(name: String, filters: RwSignal<Filters>) -> impl IntoView {
    let url = format!("/v1/label/{}/values", crate::api::url_encode(&name));
    let values = Fetched::new(move || {
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
