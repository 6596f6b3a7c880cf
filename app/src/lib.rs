//! The TinyObs web app: Leptos components rendered on the server and hydrated in
//! the browser, plus the serde types both sides of the HTTP API share.

pub mod api;
pub mod chart;
pub mod model;
mod pages;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
};

/// The HTML document around the app, rendered by the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/tinyobs.css"/>
        <Title text="TinyObs"/>
        <Router>
            <header>
                <h1>"TinyObs"</h1>
                <span class="muted">"metrics in one binary"</span>
            </header>
            <main>
                <Routes fallback=|| "Page not found.".into_view()>
                    <Route path=StaticSegment("") view=pages::Overview/>
                </Routes>
            </main>
        </Router>
    }
}
