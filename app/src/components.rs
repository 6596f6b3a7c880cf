//! Reusable view pieces.

mod chart_card;
mod search_box;

pub use chart_card::{ChartCard, ChartQuery, auto_axes};
pub use search_box::SearchBox;
