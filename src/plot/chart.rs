//! Line charts in panels and histograms.
//!
//! [`panels`] draws each [`Panel`] as its own chart in a grid (one column up to three panels,
//! two beyond), so series of different scales stay readable side by side: a 1D state against
//! its index, every observable against time, sample paths, a loss against the iteration on a
//! log scale. A line breaks where a value is not finite (or, on a log scale, not positive)
//! rather than jumping to it. [`histogram`] bins groups of values on one shared set of bins and
//! draws them translucent, over each other.

use std::path::Path;

use noether_runtime::RunError;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::{Area, FONT, Labels, Size, finite_range, render, text};

/// One line: points `(x[k], y[k])`.
#[derive(Clone, Copy, Debug)]
pub struct Line<'a> {
    /// The legend's name for it.
    pub label: &'a str,
    /// The abscissae.
    pub x: &'a [f64],
    /// The ordinates, one per abscissa.
    pub y: &'a [f64],
}

/// How a panel's y axis is scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Powers of ten; values that are not positive are left out.
    Log,
}

/// One chart: its labels, lines and y scale. Lines are named in a legend when there are two
/// to ten of them.
#[derive(Clone, Debug)]
pub struct Panel<'a> {
    /// Title and axis names.
    pub labels: Labels,
    /// What is drawn, in legend order.
    pub lines: Vec<Line<'a>>,
    /// The y axis's scale.
    pub scale: Scale,
}

/// Ten distinct line colours (Tableau's), cycled.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Lines named in a legend at most; more would cover the chart.
const LEGEND_MAX: usize = 10;

/// Draws `panels` in a grid under `title` at `path`.
pub fn panels(path: &Path, title: &str, panels: &[Panel<'_>], size: Size) -> Result<(), RunError> {
    render(path, size, |root| {
        let body = root.titled(title, (FONT, 20)).map_err(text)?;
        let columns = if panels.len() > 3 { 2 } else { 1 };
        let rows = panels.len().div_ceil(columns).max(1);
        for (area, panel) in body.split_evenly((rows, columns)).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        Ok(())
    })
}

fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> Result<(), String> {
    let usable = |y: f64| panel.scale == Scale::Linear || y > 0.0;
    let points = || panel.lines.iter().flat_map(|l| l.x.iter().copied().zip(l.y.iter().copied()));
    let xs = finite_range(points().filter(|(_, y)| y.is_finite() && usable(*y)).map(|(x, _)| x));
    let ys = finite_range(points().map(|(_, y)| y).filter(|y| usable(*y)));
    let (Some((x0, x1)), Some((y0, y1))) = (xs, ys) else {
        // Nothing finite to draw: the panel says so instead of drawing an empty frame.
        let note = format!("{}: no finite values", panel.labels.title);
        return area.draw(&Text::new(note, (20, 20), (FONT, 15))).map_err(text);
    };
    let mut builder = ChartBuilder::on(area);
    builder.caption(&panel.labels.title, (FONT, 16)).margin(8).x_label_area_size(35).y_label_area_size(70);
    match panel.scale {
        Scale::Linear => {
            // Values far from 1 are drawn in units of a power of ten, named on the axis: tick
            // placement needs ranges of everyday size (a kinetic energy of 1e-25 got one tick).
            let (factor, unit) = axis_unit(y0, y1);
            let scaled: Vec<Vec<f64>> = panel.lines.iter().map(|l| l.y.iter().map(|y| y / factor).collect()).collect();
            let lines = panel.lines.iter().zip(&scaled).map(|(line, y)| Line { y, ..*line }).collect();
            let labels = Labels { y: format!("{}{unit}", panel.labels.y), ..panel.labels.clone() };
            let panel = Panel { labels, lines, scale: Scale::Linear };
            let (y0, y1) = (y0 / factor, y1 / factor);
            let pad = (y1 - y0) * 0.05;
            let chart = builder.build_cartesian_2d(x0..x1, (y0 - pad)..(y1 + pad)).map_err(text)?;
            draw_lines(chart, &panel, usable, tick_counts(area))
        }
        Scale::Log => {
            let chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(text)?;
            draw_lines(chart, panel, usable, tick_counts(area))
        }
    }
}

/// How many tick labels fit along a panel's axes without touching: about one per 70 pixels
/// across (labels are up to 8 characters) and one per 25 down.
fn tick_counts(area: &Area<'_>) -> (usize, usize) {
    let (width, height) = area.dim_in_pixel();
    ((width as usize / 70).max(2), (height as usize / 25).max(2))
}

/// Draws the mesh, the lines of `panel` (split where a value is not `usable`) and the legend.
fn draw_lines<'a, 'b: 'a, Y>(
    mut chart: ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    panel: &Panel<'_>,
    usable: impl Fn(f64) -> bool,
    (x_ticks, y_ticks): (usize, usize),
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(&panel.labels.x)
        .y_desc(&panel.labels.y)
        .label_style((FONT, 13))
        .y_label_formatter(&|v| tick(*v))
        .x_label_formatter(&|v| tick(*v))
        .x_labels(x_ticks)
        .y_labels(y_ticks)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(text)?;
    let legend = (2..=LEGEND_MAX).contains(&panel.lines.len());
    for (k, line) in panel.lines.iter().enumerate() {
        let style = PALETTE[k % PALETTE.len()].stroke_width(2);
        let points: Vec<(f64, f64)> = line.x.iter().copied().zip(line.y.iter().copied()).collect();
        let mut first = true;
        for run in points.split(|(x, y)| !(x.is_finite() && y.is_finite() && usable(*y))) {
            if run.is_empty() {
                continue;
            }
            let series = chart.draw_series(LineSeries::new(run.iter().copied(), style)).map_err(text)?;
            if legend && first {
                series.label(line.label).legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], style));
                first = false;
            }
        }
    }
    if legend {
        draw_legend(&mut chart)?;
    }
    Ok(())
}

/// The legend of the series drawn with labels, in a light box.
fn draw_legend<'a, 'b: 'a, Coords: CoordTranslate>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Coords>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(text)
}

/// One group of values to bin.
#[derive(Clone, Copy, Debug)]
pub struct Group<'a> {
    /// The legend's name for the group.
    pub label: &'a str,
    /// The values; those that are not finite are left out.
    pub values: &'a [f64],
}

/// Bins each group of finite values on shared bins over their joint range (about the square
/// root of the largest group's count of bins, 10 to 60) and draws the counts at `path`.
pub fn histogram(path: &Path, labels: &Labels, groups: &[Group<'_>], size: Size) -> Result<(), RunError> {
    let finite = || groups.iter().flat_map(|g| g.values.iter().copied()).filter(|v| v.is_finite());
    let range = finite_range(finite());
    let dropped: usize = groups.iter().map(|g| g.values.len()).sum::<usize>() - finite().count();
    let title = match dropped {
        0 => labels.title.clone(),
        n => format!("{} ({n} values not finite, left out)", labels.title),
    };
    render(path, size, |root| {
        let Some((lo, hi)) = range else {
            return root.draw(&Text::new(format!("{title}: no finite values"), (20, 20), (FONT, 18))).map_err(text);
        };
        let largest = groups.iter().map(|g| g.values.len()).max().unwrap_or(0);
        let bins = ((largest as f64).sqrt().round() as usize).clamp(10, 60);
        let width = (hi - lo) / bins as f64;
        let counts: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| {
                let mut counts = vec![0; bins];
                for v in g.values.iter().filter(|v| v.is_finite()) {
                    counts[(((v - lo) / width) as usize).min(bins - 1)] += 1;
                }
                counts
            })
            .collect();
        let top = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64 * 1.05;
        let mut chart = ChartBuilder::on(root)
            .caption(&title, (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, 0.0..top)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc(&labels.x)
            .y_desc(&labels.y)
            .label_style((FONT, 13))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(text)?;
        for (k, (group, counts)) in groups.iter().zip(&counts).enumerate() {
            let shade = PALETTE[k % PALETTE.len()];
            let bars = counts.iter().enumerate().map(|(b, &n)| {
                let left = lo + b as f64 * width;
                Rectangle::new([(left, 0.0), (left + width, n as f64)], shade.mix(0.55).filled())
            });
            let series = chart.draw_series(bars).map_err(text)?;
            if groups.len() > 1 {
                series
                    .label(group.label)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], shade.filled()));
            }
        }
        if groups.len() > 1 {
            draw_legend(&mut chart)?;
        }
        Ok(())
    })
}

/// The power of ten a linear axis from `y0` to `y1` is drawn in, and its note for the axis
/// label: 1 (no note) when the larger end is within [`tick`]'s plain range.
fn axis_unit(y0: f64, y1: f64) -> (f64, String) {
    let largest = y0.abs().max(y1.abs());
    let exponent = if largest > 0.0 { largest.log10().floor() } else { 0.0 };
    if (-3.0..5.0).contains(&exponent) {
        (1.0, String::new())
    } else {
        (10f64.powf(exponent), format!(" (×1e{exponent})"))
    }
}

/// A tick label: plain in everyday ranges, scientific beyond, without trailing noise.
pub(super) fn tick(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&magnitude) {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{value:.2e}")
    }
}

#[cfg(test)]
mod tests {
    use super::{axis_unit, tick};

    #[test]
    fn ticks_read_plainly() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(100.0), "100");
        assert_eq!(tick(-0.125), "-0.125");
        assert_eq!(tick(1e-6), "1.00e-6");
    }

    #[test]
    fn axes_far_from_one_are_drawn_in_a_power_of_ten() {
        assert_eq!(axis_unit(-5264.8, -5000.0), (1.0, String::new()));
        assert_eq!(axis_unit(0.0, 0.0), (1.0, String::new()));
        let (factor, unit) = axis_unit(0.0, 8.97e-25);
        assert_eq!(unit, " (×1e-25)");
        assert!((8.97e-25 / factor - 8.97).abs() < 1e-12);
        assert_eq!(axis_unit(-3e7, 1.0).1, " (×1e7)");
    }
}
