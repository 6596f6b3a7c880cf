//! State every view shares, provided once by `App` as context: the theme, the
//! time range, the refresh policy and the live connection to the server.

use crate::chart::Theme;
use leptos::prelude::*;

/// The time range charts show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeRange {
    /// The last `ms` milliseconds, following the clock.
    Last(i64),
    /// A fixed window (a custom range or a drag-zoom), in ms.
    Absolute { start: i64, end: i64 },
}

/// Quick ranges offered as buttons: label and length.
pub const QUICK_RANGES: [(&str, i64); 6] = [
    ("15m", 15 * 60_000),
    ("1h", 3_600_000),
    ("6h", 6 * 3_600_000),
    ("24h", 24 * 3_600_000),
    ("7d", 7 * 24 * 3_600_000),
    ("30d", 30 * 24 * 3_600_000),
];

impl TimeRange {
    /// `[start, end]` in ms at time `now`.
    pub fn bounds(self, now: i64) -> (i64, i64) {
        match self {
            TimeRange::Last(ms) => (now - ms, now),
            TimeRange::Absolute { start, end } => (start, end),
        }
    }

    /// The URL form: `1h` for a quick range, `START-END` (ms) otherwise.
    pub fn to_param(self) -> String {
        match self {
            TimeRange::Last(ms) => QUICK_RANGES
                .iter()
                .find(|(_, len)| *len == ms)
                .map_or_else(|| format!("{ms}ms"), |(label, _)| label.to_string()),
            TimeRange::Absolute { start, end } => format!("{start}-{end}"),
        }
    }

    pub fn from_param(text: &str) -> Option<TimeRange> {
        if let Some((_, ms)) = QUICK_RANGES.iter().find(|(label, _)| *label == text) {
            return Some(TimeRange::Last(*ms));
        }
        if let Some(ms) = text.strip_suffix("ms").and_then(|n| n.parse().ok()) {
            return (ms > 0).then_some(TimeRange::Last(ms));
        }
        let (start, end) = text.split_once('-')?;
        let (start, end) = (start.parse().ok()?, end.parse().ok()?);
        (end > start).then_some(TimeRange::Absolute { start, end })
    }
}

/// How charts refresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// On every push from the server (`/v1/events`).
    Live,
    Every(u32),
    Off,
}

impl Refresh {
    pub const CHOICES: [(&'static str, Refresh); 4] = [
        ("live", Refresh::Live),
        ("10s", Refresh::Every(10)),
        ("1m", Refresh::Every(60)),
        ("off", Refresh::Off),
    ];
}

/// The state of the event stream, shown by the header's indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Live {
    Connecting,
    Connected,
    /// Lost; the next attempt is in this many seconds.
    Retrying(u32),
    /// Live updates are switched off.
    Paused,
}

impl Live {
    pub fn label(self) -> String {
        match self {
            Live::Connecting => "connecting".into(),
            Live::Connected => "live".into(),
            Live::Retrying(s) => format!("reconnecting in {s}s"),
            Live::Paused => "paused".into(),
        }
    }

    pub fn class(self) -> &'static str {
        match self {
            Live::Connected => "live on",
            Live::Paused => "live paused",
            _ => "live off",
        }
    }
}

/// Shared view state. Signals are `Copy`, so the struct is too.
#[derive(Clone, Copy)]
pub struct Ui {
    pub theme: RwSignal<Theme>,
    pub range: RwSignal<TimeRange>,
    /// Ranges zoomed out of, newest last: "zoom out" goes back one.
    pub zoom_stack: RwSignal<Vec<TimeRange>>,
    pub refresh: RwSignal<Refresh>,
    pub live: RwSignal<Live>,
    /// Bumped when data may have changed (a push, a timer, a click on
    /// refresh); every chart refetches when it moves. At most once a second.
    pub data_tick: RwSignal<u64>,
    /// Overlay each line as it was this long ago, dashed (24 h or 7 d).
    pub compare: RwSignal<Option<i64>>,
    pub help_open: RwSignal<bool>,
}

impl Ui {
    pub fn new() -> Self {
        Ui {
            theme: RwSignal::new(Theme::Dark),
            range: RwSignal::new(TimeRange::Last(3_600_000)),
            zoom_stack: RwSignal::new(Vec::new()),
            refresh: RwSignal::new(Refresh::Live),
            live: RwSignal::new(Live::Connecting),
            data_tick: RwSignal::new(0),
            compare: RwSignal::new(None),
            help_open: RwSignal::new(false),
        }
    }

    /// Sets a new range, remembering the current one for "zoom out".
    pub fn zoom_to(&self, range: TimeRange) {
        let current = self.range.get_untracked();
        self.zoom_stack.update(|s| s.push(current));
        self.range.set(range);
    }

    /// Back to the range before the last zoom, or twice as wide.
    pub fn zoom_out(&self) {
        let previous = self.zoom_stack.try_update(|s| s.pop()).flatten();
        let next = previous.unwrap_or_else(|| {
            let (start, end) = self.range.get_untracked().bounds(now_ms());
            let span = end - start;
            TimeRange::Absolute {
                start: start - span / 2,
                end: (end + span / 2).min(now_ms()),
            }
        });
        self.range.set(next);
    }
}

impl Default for Ui {
    fn default() -> Self {
        Ui::new()
    }
}

pub fn use_ui() -> Ui {
    expect_context::<Ui>()
}

/// Milliseconds since the epoch, from the browser's clock (0 on the server,
/// which renders no data).
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// The viewer's time zone as ms east of UTC, for axis labels.
pub fn tz_offset_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        -(js_sys::Date::new_0().get_timezone_offset() as i64) * 60_000
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// Parses an `<input type="datetime-local">` value (`2026-11-25T13:05`, local
/// time) to ms since the epoch.
pub fn parse_datetime_local(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: f64 = t.next().map_or(Ok(0.0), str::parse).ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let days = crate::chart::scale::days_from_civil(year, month, day);
    let local = days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + (second * 1000.0) as i64;
    Some(local - tz_offset_ms())
}

/// Seconds before reconnect attempt `n` of the event stream: 1, 2, 4, …
/// capped at 30, so a server that is down is not hammered.
pub fn backoff(attempt: u32) -> u32 {
    1u32.checked_shl(attempt).unwrap_or(u32::MAX).min(30)
}

/// Browser-only side of the shared state: the saved theme, the event stream
/// and refresh timers.
#[cfg(feature = "hydrate")]
pub mod browser {
    use super::{Live, Refresh, Ui, backoff};
    use crate::chart::Theme;
    use leptos::prelude::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    const THEME_KEY: &str = "tinyobs.theme";
    /// Data refreshes are spaced at least this far apart.
    const MIN_REFRESH_MS: f64 = 1000.0;

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok().flatten()
    }

    /// Loads the saved theme and saves every change. The saved theme is read
    /// in an effect, i.e. after hydration: set before, the page would keep
    /// the server-rendered (dark) classes.
    pub fn persist_theme(ui: Ui) {
        let loaded = Cell::new(false);
        Effect::new(move |_| {
            let theme = ui.theme.get();
            if !loaded.replace(true) {
                let saved = storage().and_then(|s| s.get_item(THEME_KEY).ok().flatten());
                let saved = match saved.as_deref() {
                    Some("light") => Some(Theme::Light),
                    Some("dark") => Some(Theme::Dark),
                    _ => None,
                };
                if let Some(saved) = saved.filter(|s| *s != theme) {
                    ui.theme.set(saved);
                    return;
                }
            }
            let name = match theme {
                Theme::Light => "light",
                Theme::Dark => "dark",
            };
            if let Some(s) = storage() {
                let _ = s.set_item(THEME_KEY, name);
            }
        });
    }

    /// Bumps `data_tick`, but at most once per `MIN_REFRESH_MS`: a burst of
    /// pushes gives one refresh now and one when the burst is over.
    #[derive(Clone)]
    struct Throttle {
        last: Rc<Cell<f64>>,
        pending: Rc<Cell<bool>>,
        tick: RwSignal<u64>,
    }

    impl Throttle {
        fn fire(&self) {
            let now = js_sys::Date::now();
            let wait = self.last.get() + MIN_REFRESH_MS - now;
            if wait <= 0.0 {
                self.last.set(now);
                self.tick.update(|t| *t += 1);
            } else if !self.pending.replace(true) {
                let me = self.clone();
                set_timeout(
                    move || {
                        me.pending.set(false);
                        me.fire();
                    },
                    Duration::from_millis(wait as u64),
                );
            }
        }
    }

    /// Starts the event stream (while refresh is Live) and interval timers
    /// (while it is Every(n)).
    pub fn start_refresh(ui: Ui) {
        let throttle = Throttle {
            last: Rc::new(Cell::new(0.0)),
            pending: Rc::new(Cell::new(false)),
            tick: ui.data_tick,
        };
        // Each connection gets a generation; a stale one's callbacks do nothing.
        let generation = Rc::new(Cell::new(0u32));
        let timer: Rc<Cell<Option<IntervalHandle>>> = Rc::new(Cell::new(None));
        let source: Rc<std::cell::RefCell<Option<web_sys::EventSource>>> = Rc::default();
        Effect::new(move |_| {
            let refresh = ui.refresh.get();
            generation.set(generation.get() + 1);
            if let Some(old) = source.borrow_mut().take() {
                old.close();
            }
            if let Some(handle) = timer.take() {
                handle.clear();
            }
            match refresh {
                Refresh::Live => {
                    connect(ui, throttle.clone(), generation.clone(), source.clone(), 0)
                }
                Refresh::Every(seconds) => {
                    ui.live.set(Live::Paused);
                    let t = throttle.clone();
                    timer.set(
                        set_interval_with_handle(
                            move || t.fire(),
                            Duration::from_secs(seconds.into()),
                        )
                        .ok(),
                    );
                }
                Refresh::Off => ui.live.set(Live::Paused),
            }
        });
    }

    fn connect(
        ui: Ui,
        throttle: Throttle,
        generation: Rc<Cell<u32>>,
        slot: Rc<std::cell::RefCell<Option<web_sys::EventSource>>>,
        attempt: u32,
    ) {
        let mine = generation.get();
        let Ok(es) = web_sys::EventSource::new("/v1/events") else {
            ui.live.set(Live::Retrying(backoff(attempt)));
            return;
        };
        ui.live.set(Live::Connecting);
        // A connection that worked starts the backoff over when it breaks.
        let opened = Rc::new(Cell::new(false));
        let current = {
            let generation = generation.clone();
            move || generation.get() == mine
        };

        let on_ingest = {
            let current = current.clone();
            let throttle = throttle.clone();
            let opened = opened.clone();
            Closure::<dyn FnMut()>::new(move || {
                if current() {
                    opened.set(true);
                    ui.live.set(Live::Connected);
                    throttle.fire();
                }
            })
        };
        let _ = es.add_event_listener_with_callback("ingest", on_ingest.as_ref().unchecked_ref());
        on_ingest.forget();

        let on_error = {
            let es = es.clone();
            let slot = slot.clone();
            Closure::<dyn FnMut()>::new(move || {
                es.close();
                if !current() {
                    return;
                }
                let attempt = if opened.get() { 0 } else { attempt };
                let wait = backoff(attempt);
                ui.live.set(Live::Retrying(wait));
                let (throttle, generation, slot) =
                    (throttle.clone(), generation.clone(), slot.clone());
                set_timeout(
                    move || {
                        if generation.get() == mine {
                            connect(ui, throttle, generation, slot, attempt + 1);
                        }
                    },
                    Duration::from_secs(wait.into()),
                );
            })
        };
        es.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        on_error.forget();
        *slot.borrow_mut() = Some(es);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip_through_the_url() {
        for range in [
            TimeRange::Last(3_600_000),
            TimeRange::Last(123_456),
            TimeRange::Absolute {
                start: 1_000,
                end: 5_000,
            },
        ] {
            assert_eq!(TimeRange::from_param(&range.to_param()), Some(range));
        }
        assert_eq!(TimeRange::Last(3_600_000).to_param(), "1h");
        assert_eq!(TimeRange::from_param("5-1"), None);
        assert_eq!(TimeRange::from_param("nonsense"), None);
        assert_eq!(TimeRange::from_param("0ms"), None);
    }

    #[test]
    fn datetime_inputs_parse_as_local_time() {
        // Tests run outside the browser: the offset is 0.
        assert_eq!(parse_datetime_local("1970-01-02T00:00"), Some(86_400_000));
        assert_eq!(
            parse_datetime_local("2025-11-25T13:01:40"),
            Some(1_764_075_700_000)
        );
        assert_eq!(parse_datetime_local("2025-13-01T00:00"), None);
        assert_eq!(parse_datetime_local("yesterday"), None);
    }

    #[test]
    fn reconnects_back_off_up_to_half_a_minute() {
        let waits: Vec<u32> = (0..8).map(backoff).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(40), 30);
    }

    #[test]
    fn quick_ranges_end_now() {
        assert_eq!(TimeRange::Last(1_000).bounds(10_000), (9_000, 10_000));
    }
}
