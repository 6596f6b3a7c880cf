//! Drawing a time-series chart. `draw` is a pure function from a `ChartSpec`
//! to pixels on any plotters `DrawingBackend`: the browser ships it on the
//! canvas backend, and the tests run it on the SVG backend.

pub mod scale;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use scale::Unit;
use serde::{Deserialize, Serialize};

/// Which y-axis a line is measured on: a chart overlaying two units (bytes
/// and a rate, say) gets a second axis on the right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    #[default]
    Left,
    Right,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    Dark,
    Light,
}

impl Theme {
    fn background(self) -> RGBColor {
        match self {
            Theme::Dark => RGBColor(0x16, 0x1b, 0x22),
            Theme::Light => RGBColor(0xff, 0xff, 0xff),
        }
    }

    fn text(self) -> RGBColor {
        match self {
            Theme::Dark => RGBColor(0xc9, 0xd1, 0xd9),
            Theme::Light => RGBColor(0x24, 0x29, 0x2f),
        }
    }

    fn grid(self) -> RGBColor {
        match self {
            Theme::Dark => RGBColor(0x30, 0x36, 0x3d),
            Theme::Light => RGBColor(0xe1, 0xe4, 0xe8),
        }
    }
}

/// Line colours, readable on both themes (the classic Grafana palette).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (0x7e, 0xb2, 0x6d),
    (0xea, 0xb8, 0x39),
    (0x6e, 0xd0, 0xe0),
    (0xef, 0x84, 0x3c),
    (0xe2, 0x4d, 0x42),
    (0x1f, 0x78, 0xc1),
    (0xba, 0x43, 0xa9),
    (0x70, 0x5d, 0xa0),
    (0x50, 0x86, 0x42),
    (0xcc, 0xa3, 0x00),
];

/// The CSS colour of palette entry `i`, for legends drawn in HTML.
pub fn css_color(i: usize) -> String {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// One line of a chart.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Line {
    pub label: String,
    /// `(ms since the epoch, value)` in time order. `None` and non-finite
    /// values are gaps; so is a jump in time much longer than the usual step.
    pub points: Vec<(i64, Option<f64>)>,
    pub axis: Axis,
    /// Dashed: an overlay such as "the same series 24 h earlier".
    pub dashed: bool,
    /// Index into `PALETTE`.
    pub color: usize,
    /// `(ms, min, max)` where the points are aggregates (bucket means): a
    /// shaded band around the line shows how far the values ranged.
    pub band: Vec<(i64, f64, f64)>,
}

/// Everything `draw` needs, so that a redraw is a function of its inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartSpec<'a> {
    pub lines: &'a [Line],
    /// Time range shown, in ms.
    pub start: i64,
    pub end: i64,
    pub left_unit: Unit,
    pub right_unit: Unit,
    pub theme: Theme,
    /// The viewer's time zone, ms east of UTC, for tick labels.
    pub tz_offset_ms: i64,
}

/// What a draw put on the backend; the page reports it for tests and status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Points inside the time range that were drawn.
    pub points: usize,
    /// Connected pieces of line (a gap starts a new one).
    pub segments: usize,
    /// The plotting area's left and right edges in pixels, for mapping the
    /// mouse to a time.
    pub plot_left: i32,
    pub plot_right: i32,
    /// Shaded min/max bands drawn (one per unbroken run of aggregates).
    pub bands: usize,
}

/// Below this size there is no room for axes: the area is only cleared.
const MIN_WIDTH: u32 = 80;
const MIN_HEIGHT: u32 = 50;

/// Draws the chart on `area`. Empty, tiny or all-NaN inputs draw a cleared
/// (or "No data") area rather than failing.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
) -> Result<Drawn, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let theme = spec.theme;
    area.fill(&theme.background()).map_err(err)?;
    let (width, height) = area.dim_in_pixel();
    if width < MIN_WIDTH || height < MIN_HEIGHT || spec.end <= spec.start {
        return Ok(Drawn::default());
    }
    let font = ("sans-serif", 12).into_font().color(&theme.text());

    let segments: Vec<(&Line, Pieces)> = spec
        .lines
        .iter()
        .map(|line| (line, segments(line, spec.start, spec.end)))
        .collect();
    let bands: Vec<(&Line, Pieces)> = spec
        .lines
        .iter()
        .map(|line| (line, band_runs(&line.band, spec.start, spec.end)))
        .filter(|(_, runs)| !runs.is_empty())
        .collect();
    let widen = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| match (a, b) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, b) => a.or(b),
    };
    let left = widen(bounds(&segments, Axis::Left), bounds(&bands, Axis::Left));
    let right = widen(bounds(&segments, Axis::Right), bounds(&bands, Axis::Right));
    if left.is_none() && right.is_none() {
        let center = (width as i32 / 2, height as i32 / 2);
        let style = font.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
        area.draw(&Text::new("No data", center, style))
            .map_err(err)?;
        return Ok(Drawn::default());
    }
    let (left_lo, left_hi) = left.map_or((0.0, 1.0), |(a, b)| scale::value_range(a, b));
    let (right_lo, right_hi) = right.map_or((left_lo, left_hi), |(a, b)| scale::value_range(a, b));

    let (x0, x1) = (spec.start as f64, spec.end as f64);
    let (time_ticks, step) = scale::time_ticks(
        spec.start,
        spec.end,
        (width / 90).max(2) as usize,
        spec.tz_offset_ms,
    );
    let y_ticks = (height / 40).clamp(2, 8) as usize;
    let label_width = 64;
    let mut chart = ChartBuilder::on(area)
        .margin_top(10)
        .margin_right(if right.is_some() { 4 } else { 14 })
        .margin_left(4)
        .x_label_area_size(22)
        .y_label_area_size(label_width)
        .right_y_label_area_size(if right.is_some() { label_width } else { 0 })
        .build_cartesian_2d(
            Ticked::new(x0..x1, time_ticks.iter().map(|&t| t as f64).collect()),
            Ticked::new(
                left_lo..left_hi,
                scale::unit_ticks(spec.left_unit, left_lo, left_hi, y_ticks),
            ),
        )
        .map_err(err)?
        .set_secondary_coord(
            x0..x1,
            Ticked::new(
                right_lo..right_hi,
                scale::unit_ticks(spec.right_unit, right_lo, right_hi, y_ticks),
            ),
        );

    let tz = spec.tz_offset_ms;
    let time_label = |x: &f64| scale::format_time(*x as i64, step, tz);
    let left_digits = spec.left_unit.digits_for(&scale::unit_ticks(
        spec.left_unit,
        left_lo,
        left_hi,
        y_ticks,
    ));
    let right_digits = spec.right_unit.digits_for(&scale::unit_ticks(
        spec.right_unit,
        right_lo,
        right_hi,
        y_ticks,
    ));
    let left_label = |y: &f64| spec.left_unit.format_digits(*y, left_digits);
    let right_label = |y: &f64| spec.right_unit.format_digits(*y, right_digits);
    chart
        .configure_mesh()
        .bold_line_style(theme.grid())
        .light_line_style(TRANSPARENT)
        .axis_style(theme.grid())
        .label_style(font.clone())
        .x_labels(time_ticks.len())
        .y_labels(y_ticks)
        .x_label_formatter(&time_label)
        .y_label_formatter(&left_label)
        .draw()
        .map_err(err)?;
    if right.is_some() {
        chart
            .configure_secondary_axes()
            .axis_style(theme.grid())
            .label_style(font)
            .y_labels(y_ticks)
            .y_label_formatter(&right_label)
            .draw()
            .map_err(err)?;
    }

    let (x_pixels, _) = chart.plotting_area().get_pixel_range();
    let mut drawn = Drawn {
        plot_left: x_pixels.start,
        plot_right: x_pixels.end,
        ..Drawn::default()
    };
    // Bands first, so that every line is drawn over them.
    for (line, runs) in &bands {
        let (r, g, b) = PALETTE[line.color % PALETTE.len()];
        let fill = RGBColor(r, g, b).mix(0.18).filled();
        for run in runs {
            let outline = run.iter().copied();
            drawn.bands += 1;
            match line.axis {
                Axis::Left => chart.draw_series(std::iter::once(Polygon::new(
                    outline.collect::<Vec<_>>(),
                    fill,
                ))),
                Axis::Right => chart.draw_secondary_series(std::iter::once(Polygon::new(
                    outline.collect::<Vec<_>>(),
                    fill,
                ))),
            }
            .map(drop)
            .map_err(err)?;
        }
    }
    for (line, pieces) in &segments {
        let (r, g, b) = PALETTE[line.color % PALETTE.len()];
        let style = RGBColor(r, g, b).stroke_width(if line.dashed { 1 } else { 2 });
        for piece in pieces {
            drawn.points += piece.len();
            drawn.segments += 1;
            let dots = piece.len() == 1;
            let elements = || piece.iter().map(|&p| Circle::new(p, 2, style.filled()));
            match (line.axis, line.dashed, dots) {
                (Axis::Left, _, true) => chart.draw_series(elements()).map(drop),
                (Axis::Right, _, true) => chart.draw_secondary_series(elements()).map(drop),
                (Axis::Left, false, _) => chart
                    .draw_series(LineSeries::new(piece.iter().copied(), style))
                    .map(drop),
                (Axis::Right, false, _) => chart
                    .draw_secondary_series(LineSeries::new(piece.iter().copied(), style))
                    .map(drop),
                (Axis::Left, true, _) => chart
                    .draw_series(DashedLineSeries::new(piece.iter().copied(), 6, 4, style))
                    .map(drop),
                (Axis::Right, true, _) => chart
                    .draw_secondary_series(DashedLineSeries::new(
                        piece.iter().copied(),
                        6,
                        4,
                        style,
                    ))
                    .map(drop),
            }
            .map_err(err)?;
        }
    }
    area.present().map_err(err)?;
    Ok(drawn)
}

/// A linear axis whose grid lines and labels sit exactly on the given ticks
/// (round clock times, round values) rather than on plotters' own choice.
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Self {
        Ticked {
            inner: range.into(),
            ticks,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        match hint.weight().allow_light_points() {
            true => Vec::new(),
            false => self.ticks.clone(),
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// A line's connected pieces, as plotting coordinates.
type Pieces = Vec<Vec<(f64, f64)>>;

/// Splits a line into connected pieces inside `[start, end]`: a missing or
/// non-finite value ends a piece, and so does a jump in time of more than
/// three times the line's usual step (a scrape target that was down).
fn segments(line: &Line, start: i64, end: i64) -> Pieces {
    let step = typical_step(&line.points);
    let mut pieces: Pieces = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let mut last_t: Option<i64> = None;
    for &(t, v) in &line.points {
        if t < start || t > end {
            continue;
        }
        let jumped = match (last_t, step) {
            (Some(prev), Some(step)) => t - prev > step.saturating_mul(3),
            _ => false,
        };
        last_t = Some(t);
        match v.filter(|v| v.is_finite()) {
            Some(v) if !jumped => current.push((t as f64, v)),
            Some(v) => {
                pieces.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
                current.push((t as f64, v));
            }
            None => pieces.extend((!current.is_empty()).then(|| std::mem::take(&mut current))),
        }
    }
    pieces.extend((!current.is_empty()).then_some(current));
    pieces
}

/// The median time between consecutive points, if there are at least two.
fn typical_step(points: &[(i64, Option<f64>)]) -> Option<i64> {
    let mut steps: Vec<i64> = points
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .filter(|&d| d > 0)
        .collect();
    if steps.is_empty() {
        return None;
    }
    let middle = steps.len() / 2;
    Some(*steps.select_nth_unstable(middle).1)
}

/// The smallest and largest value drawn on one axis.
/// A band's outlines inside `[start, end]`: each unbroken run (no jump in
/// time past three times the usual step, no non-finite edge) as a polygon,
/// maxima forward then minima back.
fn band_runs(band: &[(i64, f64, f64)], start: i64, end: i64) -> Pieces {
    let inside: Vec<&(i64, f64, f64)> = band
        .iter()
        .filter(|(t, lo, hi)| *t >= start && *t <= end && lo.is_finite() && hi.is_finite())
        .collect();
    let mut steps: Vec<i64> = inside.windows(2).map(|w| w[1].0 - w[0].0).collect();
    steps.sort_unstable();
    let usual = steps.get(steps.len() / 2).copied().unwrap_or(0);
    let mut runs: Vec<Vec<&(i64, f64, f64)>> = Vec::new();
    for entry in inside {
        match runs.last_mut() {
            Some(run) if entry.0 - run[run.len() - 1].0 <= 3 * usual => run.push(entry),
            _ => runs.push(vec![entry]),
        }
    }
    runs.into_iter()
        .filter(|run| run.len() > 1)
        .map(|run| {
            let upper = run.iter().map(|(t, _, hi)| (*t as f64, *hi));
            let lower = run.iter().rev().map(|(t, lo, _)| (*t as f64, *lo));
            upper.chain(lower).collect()
        })
        .collect()
}

fn bounds(segments: &[(&Line, Pieces)], axis: Axis) -> Option<(f64, f64)> {
    segments
        .iter()
        .filter(|(line, _)| line.axis == axis)
        .flat_map(|(_, pieces)| pieces.iter().flatten())
        .fold(None, |acc, &(_, v)| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((f64::min(lo, v), f64::max(hi, v))),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn line(points: Vec<(i64, Option<f64>)>) -> Line {
        Line {
            label: "test".into(),
            points,
            ..Line::default()
        }
    }

    fn spec(lines: &[Line]) -> ChartSpec<'_> {
        ChartSpec {
            lines,
            start: 0,
            end: 60 * MIN,
            left_unit: Unit::None,
            right_unit: Unit::None,
            theme: Theme::Dark,
            tz_offset_ms: 0,
        }
    }

    /// Draws on the SVG backend and returns the SVG text and what was drawn.
    fn render(spec: &ChartSpec, size: (u32, u32)) -> (String, Drawn) {
        let mut svg = String::new();
        let drawn = {
            let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            draw(&area, spec).unwrap()
        };
        (svg, drawn)
    }

    fn ramp(n: i64) -> Vec<(i64, Option<f64>)> {
        (0..n).map(|i| (i * MIN, Some(i as f64))).collect()
    }

    #[test]
    fn aggregates_draw_a_band_under_the_line_and_widen_the_axis() {
        let mut with_band = line(ramp(60));
        // Two runs: minutes 0-19 and 40-59 (a gap of 20 minutes between).
        with_band.band = (0..60)
            .filter(|i| !(20..40).contains(i))
            .map(|i| (i * MIN, i as f64 - 5.0, i as f64 + 50.0))
            .collect();
        let (svg, drawn) = render(&spec(std::slice::from_ref(&with_band)), (400, 200));
        assert_eq!(drawn.bands, 2);
        assert_eq!(svg.matches("<polygon").count(), 2);
        // The axis reaches the band's top (108), not only the line's (59).
        assert!(svg.contains("\n100\n"), "no tick at 100");
        let (_, plain) = render(&spec(&[line(ramp(60))]), (400, 200));
        assert_eq!(plain.bands, 0);
    }

    #[test]
    fn empty_data_says_no_data() {
        let (svg, drawn) = render(&spec(&[]), (400, 200));
        assert!(svg.contains("No data"));
        assert_eq!(drawn, Drawn::default());
    }

    #[test]
    fn a_single_point_is_drawn_as_a_dot() {
        let lines = [line(vec![(5 * MIN, Some(3.0))])];
        let (svg, drawn) = render(&spec(&lines), (400, 200));
        assert_eq!((drawn.points, drawn.segments), (1, 1));
        assert!(svg.contains("<circle"), "{svg}");
    }

    #[test]
    fn nan_values_and_missing_points_make_gaps() {
        let mut points = ramp(10);
        points[4].1 = Some(f64::NAN);
        points[7].1 = None;
        let (_, drawn) = render(&spec(&[line(points)]), (400, 200));
        assert_eq!((drawn.points, drawn.segments), (8, 3));
    }

    #[test]
    fn a_long_silence_is_a_gap_not_a_line_across_it() {
        let mut points = ramp(5);
        points.extend((30..35).map(|i| (i * MIN, Some(1.0))));
        assert_eq!(segments(&line(points), 0, 60 * MIN).len(), 2);
    }

    #[test]
    fn all_nan_draws_no_data() {
        let lines = [line(vec![(0, Some(f64::NAN)), (MIN, None)])];
        let (svg, drawn) = render(&spec(&lines), (400, 200));
        assert!(svg.contains("No data"));
        assert_eq!(drawn.points, 0);
    }

    #[test]
    fn zero_and_one_pixel_areas_only_clear() {
        let lines = [line(ramp(10))];
        for size in [(0, 0), (1, 1), (0, 300), (300, 1)] {
            let (_, drawn) = render(&spec(&lines), size);
            assert_eq!(drawn, Drawn::default(), "{size:?}");
        }
    }

    #[test]
    fn many_series_share_the_palette() {
        let lines: Vec<Line> = (0..50)
            .map(|s| Line {
                color: s,
                ..line(
                    (0..60)
                        .map(|i| (i * MIN, Some((i * s as i64) as f64)))
                        .collect(),
                )
            })
            .collect();
        let (svg, drawn) = render(&spec(&lines), (800, 300));
        assert_eq!(drawn.segments, 50);
        assert_eq!(drawn.points, 50 * 60);
        for (i, (r, g, b)) in PALETTE.iter().enumerate() {
            assert!(
                svg.contains(&format!("#{r:02X}{g:02X}{b:02X}")),
                "colour {i}"
            );
        }
    }

    #[test]
    fn axes_are_labelled_in_the_units_and_times_given() {
        let lines = [
            line(vec![(0, Some(1024.0)), (30 * MIN, Some(4096.0))]),
            Line {
                axis: Axis::Right,
                dashed: true,
                ..line(vec![(0, Some(0.5)), (30 * MIN, Some(2.0))])
            },
        ];
        let spec = ChartSpec {
            left_unit: Unit::Bytes,
            right_unit: Unit::PerSecond,
            ..spec(&lines)
        };
        let (svg, drawn) = render(&spec, (600, 300));
        assert_eq!(drawn.segments, 2);
        assert!(svg.contains("KiB"), "left axis in bytes");
        assert!(svg.contains("/s"), "right axis in a rate");
        assert!(svg.contains("00:30"), "time ticks");
    }

    #[test]
    fn points_outside_the_range_are_not_drawn() {
        let points = (-10..70).map(|i| (i * MIN, Some(1.0))).collect();
        let (_, drawn) = render(&spec(&[line(points)]), (400, 200));
        assert_eq!(drawn.points, 61);
    }
}
