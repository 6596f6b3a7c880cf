//! Reusable view pieces.

mod chart_card;

pub use chart_card::{ChartCard, ChartQuery, auto_axes};
