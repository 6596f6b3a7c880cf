//! The dashboard routes: Leptos server-side rendering plus the built WASM,
//! JS and CSS files from the site directory.

use app::{PAGE_PATHS, shell};
use axum::Router;
use axum::routing::get;
use leptos::prelude::LeptosOptions;
use std::net::SocketAddr;
use std::path::Path;

pub fn router(site_root: &Path, addr: SocketAddr) -> Router {
    let options = LeptosOptions::builder()
        .output_name("tinyobs")
        .site_root(site_root.to_string_lossy().as_ref())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    // The app's pages are rendered on the server (and hydrated); any other
    // path is a file of the site, or the app's "not found" page with a 404.
    // Rendering spawns tasks on Leptos's executor: tokio's, set up here
    // because leptos_axum does so only inside its own route generation.
    let _ = any_spawner::Executor::init_tokio();
    let render = leptos_axum::render_app_to_stream({
        let options = options.clone();
        move || shell(options.clone())
    });
    let mut router = Router::new();
    for path in PAGE_PATHS {
        router = router.route(path, get(render.clone()));
    }
    router
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
}
