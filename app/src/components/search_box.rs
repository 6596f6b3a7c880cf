//! A search input bound to a string signal.

use leptos::prelude::*;

#[component]
pub fn SearchBox(
    value: RwSignal<String>,
    placeholder: &'static str,
    testid: &'static str,
) -> impl IntoView {
    #[cfg(feature = "hydrate")]
    keep_text_typed_before_hydration(value, testid);
    view! {
        <input
            type="search"
            placeholder=placeholder
            data-testid=testid
            prop:value=move || value.get()
            on:input=move |ev| value.set(event_target_value(&ev))
        />
    }
}

/// Text typed while the page's WASM was still loading is in the
/// server-rendered box but not in `value`, and hydration sets the box to
/// `value`. So the text is read before hydration and given to `value` just
/// after it (not during: what `value` filters was rendered without it), and
/// no keystroke is lost.
#[cfg(feature = "hydrate")]
fn keep_text_typed_before_hydration(value: RwSignal<String>, testid: &str) {
    use wasm_bindgen::JsCast;
    let hydrating = Owner::current_shared_context().is_some_and(|c| c.during_hydration());
    if !hydrating || !value.get_untracked().is_empty() {
        return;
    }
    let mut typed = document()
        .query_selector(&format!("input[data-testid=\"{testid}\"]"))
        .ok()
        .flatten()
        .and_then(|el| el.dyn_into::<web_sys::HtmlInputElement>().ok())
        .map(|input| input.value())
        .filter(|text| !text.is_empty());
    if typed.is_some() {
        Effect::new(move |_| {
            if let Some(text) = typed.take() {
                value.set(text);
            }
        });
    }
}
