//! A PromQL input that completes the word at the cursor: metric names (and
//! the common functions) in expression position, label names inside
//! `{...}` and in `by (...)` / `without (...)`. Tab or a click takes a
//! suggestion.

use crate::api::Fetched;
use crate::api::{get_json, loaded_or_default};
use crate::model::{LabelNames, MetricsList};
use leptos::prelude::*;

/// Functions and aggregations offered with the metric names.
const FUNCTIONS: [&str; 24] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "topk",
    "bottomk",
    "quantile",
    "rate",
    "irate",
    "increase",
    "delta",
    "deriv",
    "histogram_quantile",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "abs",
    "round",
    "label_replace",
    "predict_linear",
];
const MAX_SUGGESTIONS: usize = 8;

/// What the word at the cursor names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WordKind {
    Metric,
    Label,
}

/// The start (byte offset) of the word ending at `cursor`, and what it names.
pub fn word_at(text: &str, cursor: usize) -> (usize, WordKind) {
    let cursor = cursor.min(text.len());
    let before = &text[..cursor];
    let start = before
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .map_or(0, |i| i + 1);
    let head = &before[..start];
    // Inside an unclosed `{`, or an unclosed `(` right after by/without.
    let mut depth_brace = 0i32;
    let mut opens: Vec<usize> = Vec::new();
    for (i, c) in head.char_indices() {
        match c {
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '(' => opens.push(i),
            ')' => {
                opens.pop();
            }
            _ => {}
        }
    }
    let in_grouping = opens.last().is_some_and(|&i| {
        let word = head[..i].trim_end();
        word.ends_with("by") || word.ends_with("without")
    });
    let kind = if depth_brace > 0 || in_grouping {
        WordKind::Label
    } else {
        WordKind::Metric
    };
    (start, kind)
}

/// Completions of the word at `cursor`: its start and the candidates
/// (nothing for an empty word, or one already complete).
pub fn suggestions(
    text: &str,
    cursor: usize,
    metrics: &[String],
    labels: &[String],
) -> (usize, Vec<String>) {
    let (start, kind) = word_at(text, cursor);
    let word = &text[start..cursor.min(text.len())];
    if word.is_empty() {
        return (start, Vec::new());
    }
    let pool: Vec<&str> = match kind {
        WordKind::Label => labels
            .iter()
            .map(String::as_str)
            .filter(|l| *l != "__name__")
            .collect(),
        WordKind::Metric => FUNCTIONS
            .iter()
            .copied()
            .chain(metrics.iter().map(String::as_str))
            .collect(),
    };
    let mut found: Vec<String> = pool
        .into_iter()
        .filter(|c| c.starts_with(word) && *c != word)
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found.truncate(MAX_SUGGESTIONS);
    (start, found)
}

/// `text` with the word `[start, cursor)` replaced by `choice`, and the
/// cursor after it.
pub fn accept(text: &str, start: usize, cursor: usize, choice: &str) -> (String, usize) {
    let cursor = cursor.min(text.len());
    let out = format!("{}{choice}{}", &text[..start], &text[cursor..]);
    (out, start + choice.len())
}

#[component]
pub fn PromqlInput(text: RwSignal<String>, on_run: Callback<()>) -> impl IntoView {
    let metrics = Fetched::new(|| get_json::<MetricsList>("/v1/metrics/list"));
    let labels = Fetched::new(|| get_json::<LabelNames>("/v1/labels"));
    let cursor = RwSignal::new(0usize);
    let input_ref = NodeRef::<leptos::html::Input>::new();
    let found = Memo::new(move |_| {
        let names: Vec<String> = loaded_or_default(metrics.get(), |l| l.metrics)
            .into_iter()
            .map(|m| m.name)
            .collect();
        let label_names = loaded_or_default(labels.get(), |l| l.labels);
        text.with(|t| suggestions(t, cursor.get(), &names, &label_names))
    });
    let take = move |choice: String| {
        let (start, _) = found.get_untracked();
        let (next, at) = text.with_untracked(|t| accept(t, start, cursor.get_untracked(), &choice));
        text.set(next);
        cursor.set(at);
        if let Some(input) = input_ref.get_untracked() {
            let _ = input.focus();
            let _ = input.set_selection_range(at as u32, at as u32);
        }
    };
    let read_cursor = move || {
        if let Some(input) = input_ref.get_untracked() {
            cursor.set(input.selection_start().ok().flatten().unwrap_or(0) as usize);
        }
    };
    view! {
        <div class="promql-input-box">
            <input
                node_ref=input_ref
                class="promql-input"
                placeholder="PromQL, e.g. sum by (status) (rate(http_requests_total[5m]))"
                data-testid="promql-input"
                autocomplete="off"
                spellcheck="false"
                prop:value=move || text.get()
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    read_cursor();
                }
                on:click=move |_| read_cursor()
                on:keyup=move |ev| {
                    if ev.key().starts_with("Arrow") {
                        read_cursor();
                    }
                }
                on:keydown=move |ev| match ev.key().as_str() {
                    "Enter" => on_run.run(()),
                    "Tab" => {
                        if let Some(first) = found.get_untracked().1.first().cloned() {
                            ev.prevent_default();
                            take(first);
                        }
                    }
                    _ => {}
                }
            />
            <ul class="completions" data-testid="completions">
                {move || {
                    found
                        .get()
                        .1
                        .into_iter()
                        .map(|choice| {
                            let pick = choice.clone();
                            view! {
                                <li>
                                    <button
                                        data-testid="completion"
                                        on:mousedown=move |ev| {
                                            ev.prevent_default();
                                            take(pick.clone());
                                        }
                                    >
                                        {choice}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_word_at_the_cursor_names_a_metric_or_a_label() {
        assert_eq!(word_at("rate(http_req", 13), (5, WordKind::Metric));
        assert_eq!(word_at("up{jo", 5), (3, WordKind::Label));
        assert_eq!(word_at("up{job=\"a\",ins", 14), (11, WordKind::Label));
        assert_eq!(word_at("up{job=\"a\"} + do", 16), (14, WordKind::Metric));
        assert_eq!(word_at("sum by (sta", 11), (8, WordKind::Label));
        assert_eq!(word_at("sum without (a, st", 18), (16, WordKind::Label));
        assert_eq!(word_at("sum(ra", 6), (4, WordKind::Metric));
        assert_eq!(word_at("", 0), (0, WordKind::Metric));
    }

    #[test]
    fn suggestions_complete_the_word_and_accept_replaces_it() {
        let metrics = names(&[
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "up",
        ]);
        let labels = names(&["__name__", "job", "instance", "status"]);
        let text = "sum by (st) (rate(http_req[5m]))";
        assert_eq!(
            suggestions(text, 10, &metrics, &labels),
            (8, names(&["status"]))
        );
        let (start, found) = suggestions(text, 26, &metrics, &labels);
        assert_eq!(
            found,
            names(&[
                "http_request_duration_seconds_bucket",
                "http_requests_total"
            ])
        );
        let (next, at) = accept(text, start, 26, "http_requests_total");
        assert_eq!(next, "sum by (st) (rate(http_requests_total[5m]))");
        assert_eq!(at, 37);
        assert_eq!(suggestions("ra", 2, &metrics, &labels).1, names(&["rate"]));
        assert!(
            suggestions("up", 2, &metrics, &labels).1.is_empty(),
            "already complete"
        );
        assert!(
            suggestions("up{", 3, &metrics, &labels).1.is_empty(),
            "nothing typed"
        );
    }
}
