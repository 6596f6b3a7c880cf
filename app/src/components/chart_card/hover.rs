//! The mouse over a chart: pixels to times, the values under the cursor for
//! the tooltip, and legend clicks.

use crate::chart::scale::Unit;
use crate::chart::{Axis, Line};
use std::collections::BTreeSet;

/// Where the plotting area sits on the canvas, from the last draw: maps a
/// mouse position to a time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Geometry {
    pub(super) left: i32,
    pub(super) right: i32,
    pub(super) start: i64,
    pub(super) end: i64,
}

impl Geometry {
    pub(super) fn time_at(&self, x: i32) -> Option<i64> {
        if self.right <= self.left || x < self.left || x > self.right {
            return None;
        }
        let f = f64::from(x - self.left) / f64::from(self.right - self.left);
        Some(self.start + (f * (self.end - self.start) as f64) as i64)
    }
}

/// The value of each visible line nearest to time `t`, largest first.
pub(super) fn values_at(
    lines: &[Line],
    hidden: &BTreeSet<usize>,
    t: i64,
    units: (Unit, Unit),
) -> Vec<(usize, String, String)> {
    let mut rows: Vec<(usize, String, f64)> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !hidden.contains(i))
        .filter_map(|(i, line)| {
            let at = line.points.partition_point(|p| p.0 < t);
            let candidates = [at.checked_sub(1), Some(at)];
            let nearest = candidates
                .into_iter()
                .flatten()
                .filter_map(|j| line.points.get(j))
                .min_by_key(|p| (p.0 - t).abs())?;
            Some((i, line.label.clone(), nearest.1?))
        })
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    rows.into_iter()
        .map(|(i, label, v)| {
            let unit = if lines[i].axis == Axis::Right {
                units.1
            } else {
                units.0
            };
            (lines[i].color, label, unit.format(v))
        })
        .collect()
}

/// Legend clicks, as in Grafana: a click shows only that line (or all again
/// if it was already alone); shift/ctrl-click hides or shows just that line.
pub(super) fn toggle_legend(hidden: &mut BTreeSet<usize>, i: usize, count: usize, additive: bool) {
    if additive {
        if !hidden.remove(&i) {
            hidden.insert(i);
        }
        return;
    }
    let alone = !hidden.contains(&i) && hidden.len() + 1 == count;
    hidden.clear();
    if !alone {
        hidden.extend((0..count).filter(|&j| j != i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_clicks_isolate_and_modifiers_toggle() {
        let mut hidden = BTreeSet::new();
        toggle_legend(&mut hidden, 1, 3, false);
        assert_eq!(hidden, BTreeSet::from([0, 2]));
        toggle_legend(&mut hidden, 1, 3, false);
        assert!(hidden.is_empty(), "a second click shows all again");
        toggle_legend(&mut hidden, 2, 3, true);
        assert_eq!(hidden, BTreeSet::from([2]));
        toggle_legend(&mut hidden, 2, 3, true);
        assert!(hidden.is_empty());
    }

    #[test]
    fn tooltips_list_the_nearest_values_largest_first() {
        let line = |color: usize, v: f64| Line {
            label: format!("l{color}"),
            points: vec![(0, Some(v)), (10, Some(v * 2.0)), (20, None)],
            color,
            ..Line::default()
        };
        let lines = [line(0, 1.0), line(1, 5.0), line(2, 3.0)];
        let rows = values_at(&lines, &BTreeSet::from([2]), 9, (Unit::None, Unit::None));
        assert_eq!(
            rows,
            vec![(1, "l1".into(), "10".into()), (0, "l0".into(), "2".into())]
        );
        assert!(values_at(&lines, &BTreeSet::new(), 20, (Unit::None, Unit::None)).is_empty());
    }

    #[test]
    fn geometry_maps_pixels_to_times() {
        let g = Geometry {
            left: 100,
            right: 300,
            start: 0,
            end: 1000,
        };
        assert_eq!(g.time_at(200), Some(500));
        assert_eq!(g.time_at(50), None);
    }
}
