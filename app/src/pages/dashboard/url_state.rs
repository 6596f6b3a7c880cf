//! Keeps the view in the URL (`?range=1h&f=service:api&q=cpu&hide=1`), so
//! that a link reproduces it, and reads it back on load.

use super::filters::Filters;
use crate::ui::{TimeRange, Ui};
use leptos::prelude::*;

/// The parts of the dashboard's state the URL holds.
#[derive(Clone, Copy)]
pub struct ViewState {
    pub ui: Ui,
    /// `auto`, `tpl:<id>` or `saved:<id>` (`d=`).
    pub choice: RwSignal<String>,
    pub filters: RwSignal<Filters>,
    /// Label filters shown (a filter in the URL is shown too).
    pub shown: RwSignal<Vec<String>>,
    pub search: RwSignal<String>,
    pub hide_system: RwSignal<bool>,
}

pub fn sync(view: ViewState) {
    let ViewState {
        ui,
        choice,
        filters,
        search,
        hide_system,
        ..
    } = view;
    let Some(window) = web_sys::window() else {
        return;
    };
    let location = window.location();
    // Read once, in an effect (after hydration), so that the server-rendered
    // toolbar is updated to the URL's view rather than assumed to match it.
    Effect::new(move |done: Option<()>| {
        if done.is_none() {
            read(&location, view);
        }
    });
    Effect::new(move |_| {
        let Ok(params) = web_sys::UrlSearchParams::new() else {
            return;
        };
        params.set("range", &ui.range.get().to_param());
        let chosen = choice.get();
        if chosen != super::panels::AUTO {
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
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    });
}

fn read(location: &web_sys::Location, view: ViewState) {
    let ViewState {
        ui,
        choice,
        filters,
        shown,
        search,
        hide_system,
    } = view;
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
        if let Some((name, value)) = pair.as_string().as_deref().and_then(|p| p.split_once(':')) {
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
