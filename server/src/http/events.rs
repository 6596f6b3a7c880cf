//! `GET /v1/events`: a server-sent event stream telling open dashboards that
//! new samples arrived, so charts update without polling every query.

use super::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;

/// How often the stream checks for new samples: the floor of a chart's delay.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Sends `ingest` with `{"accepted": N}` (samples accepted since the server
/// started) at once, then whenever N changes, at most every 250 ms. The
/// browser's `EventSource` reconnects on its own; the page adds backoff.
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = (state, ticker, None::<u64>);
    let stream = futures_util::stream::unfold(start, |(mut state, mut ticker, last)| async move {
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = state.stopping.changed() => return None,
            }
            if *state.stopping.borrow() {
                return None;
            }
            let accepted = state.storage.accepted_since_open();
            if last != Some(accepted) {
                let event = Event::default()
                    .event("ingest")
                    .data(format!("{{\"accepted\":{accepted}}}"));
                return Some((Ok(event), (state, ticker, Some(accepted))));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
