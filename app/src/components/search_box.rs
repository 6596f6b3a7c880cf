//! A search input bound to a string signal.

use leptos::prelude::*;

#[component]
pub fn SearchBox(
    value: RwSignal<String>,
    placeholder: &'static str,
    testid: &'static str,
) -> impl IntoView {
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
