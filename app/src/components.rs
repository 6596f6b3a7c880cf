//! Reusable view pieces.

mod chart_card;
mod metric_names;
mod promql_input;
mod search_box;

pub use chart_card::{ChartCard, ChartQuery, auto_axes};
pub use metric_names::MetricNames;
pub use promql_input::PromqlInput;
pub use search_box::SearchBox;
