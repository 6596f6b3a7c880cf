//! The app's pages, one module each.

mod overview;

pub use overview::Overview;
