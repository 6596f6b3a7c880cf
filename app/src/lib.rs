//! The TinyObs web app: Leptos components rendered on the server and hydrated in
//! the browser, plus the serde types both sides of the HTTP API share.

pub mod api;
pub mod chart;
mod components;
pub mod model;
mod pages;
pub mod templates;
pub mod ui;

use api::Fetched;
use leptos::prelude::*;

/// The HTML document around the app, rendered by the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <title>"TinyObs"</title>
                <link rel="stylesheet" id="leptos" href="/pkg/tinyobs.css"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    let ui = ui::Ui::new();
    provide_context(ui);
    let page = RwSignal::new(Page::at(&current_path()));
    #[cfg(feature = "hydrate")]
    {
        ui::browser::persist_theme(ui);
        ui::browser::start_refresh(ui);
        shortcuts(ui);
        follow_history(page);
    }
    let theme_class = move || match ui.theme.get() {
        chart::Theme::Dark => "app theme-dark",
        chart::Theme::Light => "app theme-light",
    };
    view! {
        <div class=theme_class data-testid="app">
            <Header page/>
            <main>
                {move || match page.get() {
                    Page::Dashboard => view! { <pages::Dashboard/> }.into_any(),
                    Page::Explore => view! { <pages::Explore/> }.into_any(),
                    Page::Metrics => view! { <pages::Overview/> }.into_any(),
                    Page::Storage => view! { <pages::Storage/> }.into_any(),
                    Page::NotFound => "Page not found.".into_any(),
                }}
            </main>
            <Help/>
        </div>
    }
}

/// The app's pages, one per path.
///
/// Four fixed paths do not need a router: the page comes from the request's
/// path on the server and from `location.pathname` in the browser, a tab link
/// switches it with `history.pushState`, and back/forward with `popstate`.
/// Leaving `leptos_router` out keeps its route matching out of the WASM
/// bundle (issue 3's size target).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Page {
    Dashboard,
    Explore,
    Metrics,
    Storage,
    NotFound,
}

/// The tabs in the header: page, path and label.
const TABS: [(Page, &str, &str); 4] = [
    (Page::Dashboard, "/", "Dashboard"),
    (Page::Explore, "/explore", "Explore"),
    (Page::Metrics, "/metrics", "Metrics"),
    (Page::Storage, "/storage", "Storage"),
];

/// The paths the server renders the app at (anything else is a 404).
pub const PAGE_PATHS: [&str; 4] = [TABS[0].1, TABS[1].1, TABS[2].1, TABS[3].1];

impl Page {
    /// The page at `path`; a trailing `/` does not matter.
    fn at(path: &str) -> Page {
        let path = path.trim_end_matches('/');
        TABS.iter()
            .find(|(_, p, _)| p.trim_end_matches('/') == path)
            .map_or(Page::NotFound, |(page, _, _)| *page)
    }
}

/// The path being shown: the request's on the server, the location's in the browser.
fn current_path() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .map(|parts| parts.uri.path().to_string())
            .unwrap_or_default()
    }
    #[cfg(feature = "hydrate")]
    {
        window().location().pathname().unwrap_or_default()
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        String::from("/")
    }
}

/// Back and forward switch the page as the path changes.
#[cfg(feature = "hydrate")]
fn follow_history(page: RwSignal<Page>) {
    let handle = window_event_listener(leptos::ev::popstate, move |_| {
        page.set(Page::at(&current_path()));
    });
    // The app lives as long as the page.
    std::mem::forget(handle);
}

/// A tab link: a plain link (so a new tab or window works), which in the
/// browser switches the page in place.
#[component]
fn TabLink(
    page: RwSignal<Page>,
    to: Page,
    path: &'static str,
    label: &'static str,
) -> impl IntoView {
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
            return;
        }
        ev.prevent_default();
        if page.get_untracked() == to {
            // Already there: keep the page (and its picks) as it is.
            return;
        }
        #[cfg(feature = "hydrate")]
        if let Ok(history) = window().history() {
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(path));
        }
        page.set(to);
    };
    view! {
        <a href=path aria-current=move || (page.get() == to).then_some("page") on:click=on_click>
            {label}
        </a>
    }
}

/// Totals, tabs, the live indicator, the theme toggle and the help button.
#[component]
fn Header(page: RwSignal<Page>) -> impl IntoView {
    let ui = ui::use_ui();
    let stats = Fetched::new(move || {
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
                {TABS
                    .map(|(to, path, label)| view! { <TabLink page to path label/> })
                    .collect_view()}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_its_page_with_or_without_a_trailing_slash() {
        assert_eq!(Page::at("/"), Page::Dashboard);
        assert_eq!(Page::at(""), Page::Dashboard);
        assert_eq!(Page::at("/explore"), Page::Explore);
        assert_eq!(Page::at("/storage/"), Page::Storage);
        assert_eq!(Page::at("/metrics"), Page::Metrics);
        assert_eq!(Page::at("/explorer"), Page::NotFound);
        assert_eq!(Page::at("/explore/x"), Page::NotFound);
    }
}
