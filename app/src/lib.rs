//! The TinyObs web app: Leptos components rendered on the server and hydrated in
//! the browser, plus the serde types both sides of the HTTP API share.

pub mod api;
pub mod chart;
mod components;
pub mod model;
mod pages;
pub mod templates;
pub mod ui;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{A, Route, Router, Routes},
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
    let ui = ui::Ui::new();
    provide_context(ui);
    #[cfg(feature = "hydrate")]
    {
        ui::browser::persist_theme(ui);
        ui::browser::start_refresh(ui);
        shortcuts(ui);
    }
    let theme_class = move || match ui.theme.get() {
        chart::Theme::Dark => "app theme-dark",
        chart::Theme::Light => "app theme-light",
    };
    view! {
        <Stylesheet id="leptos" href="/pkg/tinyobs.css"/>
        <Title text="TinyObs"/>
        <Router>
            <div class=theme_class data-testid="app">
                <Header/>
                <main>
                    <Routes fallback=|| "Page not found.".into_view()>
                        <Route path=StaticSegment("") view=pages::Dashboard/>
                        <Route path=StaticSegment("explore") view=pages::Explore/>
                        <Route path=StaticSegment("metrics") view=pages::Overview/>
                        <Route path=StaticSegment("storage") view=pages::Storage/>
                    </Routes>
                </main>
                <Help/>
            </div>
        </Router>
    }
}

/// Totals, tabs, the live indicator, the theme toggle and the help button.
#[component]
fn Header() -> impl IntoView {
    let ui = ui::use_ui();
    let stats = LocalResource::new(move || {
        ui.data_tick.track();
        api::get_json::<model::Stats>("/v1/stats")
    });
    let total = move |pick: fn(&model::Stats) -> String| {
        move || {
            stats
                .get()
                .and_then(Result::ok)
                .map_or_else(|| "–".to_string(), |s| pick(&s))
        }
    };
    view! {
        <header>
            <h1>"TinyObs"</h1>
            <nav>
                <A href="/">"Dashboard"</A>
                <A href="/explore">"Explore"</A>
                <A href="/metrics">"Metrics"</A>
                <A href="/storage">"Storage"</A>
            </nav>
            <div class="totals" data-testid="totals">
                <span>"metrics "<b data-testid="total-metrics">{total(|s| s.metrics.to_string())}</b></span>
                <span>"series "<b data-testid="total-series">{total(|s| s.series.to_string())}</b></span>
                <span>"samples "<b data-testid="total-samples">{total(|s| s.samples.to_string())}</b></span>
                <span>"on disk "<b data-testid="total-disk">{total(|s| pages::format_bytes(s.bytes_on_disk))}</b></span>
            </div>
            <span class=move || ui.live.get().class() data-testid="live" title="live updates">
                {move || ui.live.get().label()}
            </span>
            <button
                data-testid="theme-toggle"
                title="theme (t)"
                on:click=move |_| ui.theme.update(|t| *t = toggled(*t))
            >
                {move || match ui.theme.get() {
                    chart::Theme::Dark => "light theme",
                    chart::Theme::Light => "dark theme",
                }}
            </button>
            <button data-testid="help-button" title="keyboard shortcuts (?)" on:click=move |_| ui.help_open.update(|o| *o = !*o)>
                "?"
            </button>
        </header>
    }
}

fn toggled(theme: chart::Theme) -> chart::Theme {
    match theme {
        chart::Theme::Dark => chart::Theme::Light,
        chart::Theme::Light => chart::Theme::Dark,
    }
}

/// Keyboard shortcuts: key and what it does, for the help and the handler.
const SHORTCUTS: [(&str, &str); 6] = [
    ("?", "show or hide this help"),
    ("t", "switch dark / light theme"),
    ("r", "refresh now"),
    ("z", "zoom out"),
    ("c", "compare with 24 h earlier (on / off)"),
    ("1 … 6", "last 15m, 1h, 6h, 24h, 7d, 30d"),
];

#[component]
fn Help() -> impl IntoView {
    let ui = ui::use_ui();
    view! {
        <Show when=move || ui.help_open.get()>
            <div class="help" data-testid="help" role="dialog" aria-label="keyboard shortcuts">
                <h2>"Keyboard shortcuts"</h2>
                <table>
                    {SHORTCUTS
                        .iter()
                        .map(|(key, what)| view! { <tr><td><kbd>{*key}</kbd></td><td>{*what}</td></tr> })
                        .collect_view()}
                </table>
                <button on:click=move |_| ui.help_open.set(false)>"close"</button>
            </div>
        </Show>
    }
}

#[cfg(feature = "hydrate")]
fn shortcuts(ui: ui::Ui) {
    use wasm_bindgen::JsCast;
    let handle = window_event_listener(leptos::ev::keydown, move |ev| {
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
        if typing || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
            return;
        }
        match ev.key().as_str() {
            "?" => ui.help_open.update(|o| *o = !*o),
            "Escape" => ui.help_open.set(false),
            "t" => ui.theme.update(|t| *t = toggled(*t)),
            "r" => ui.data_tick.update(|t| *t += 1),
            "z" => ui.zoom_out(),
            "c" => ui
                .compare
                .update(|c| *c = if c.is_some() { None } else { Some(86_400_000) }),
            digit => {
                if let Some(&(_, ms)) = digit
                    .parse::<usize>()
                    .ok()
                    .and_then(|d| ui::QUICK_RANGES.get(d.wrapping_sub(1)))
                {
                    ui.zoom_stack.set(Vec::new());
                    ui.range.set(ui::TimeRange::Last(ms));
                }
            }
        }
    });
    // The app lives as long as the page.
    std::mem::forget(handle);
}
