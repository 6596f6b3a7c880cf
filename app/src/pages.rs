//! The app's pages, one module each.

mod dashboard;
mod overview;

pub use dashboard::Dashboard;
pub use overview::{Overview, format_bytes};
