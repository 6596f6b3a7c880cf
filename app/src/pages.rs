//! The app's pages, one module each.

mod dashboard;
mod explore;
mod overview;
mod storage;

pub use dashboard::Dashboard;
pub use explore::Explore;
pub use overview::{Overview, format_bytes};
pub use storage::Storage;
