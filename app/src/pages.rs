//! The app's pages, one module each.

mod dashboard;
mod explore;
mod overview;

pub use dashboard::Dashboard;
pub use explore::Explore;
pub use overview::{Overview, format_bytes};
