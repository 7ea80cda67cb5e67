//! A 2D field as a heat map: cell `[i, j]` of an `[nx, ny]` array fills the square from
//! `(i, j)` to `(i + 1, j + 1)` on axes in index units, `i` rightwards and `j` upwards (the
//! field as it is indexed, `u[i, j]` at `x = i, y = j`), coloured by viridis from the smallest
//! finite value to the largest; a colour bar on the right gives the scale. Cells that are not
//! finite are magenta and the title counts them.

use std::path::Path;

use ndarray::ArrayView2;
use noether_runtime::RunError;
use plotters::coord::CoordTranslate;
use plotters::prelude::*;

use super::colormap::{NOT_FINITE, colour};
use super::{Area, FONT, Labels, Size, finite_range, render, text};

/// Where the cells were drawn, in pixels of the image (`left..left + width` across,
/// `top..top + height` down): what maps a pixel back to an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapArea {
    /// The first pixel column of the cells.
    pub left: u32,
    /// The first pixel row of the cells.
    pub top: u32,
    /// How many pixel columns the cells cover.
    pub width: u32,
    /// How many pixel rows the cells cover.
    pub height: u32,
}

/// The width of the colour bar's column, its labels included.
const BAR_COLUMN: u32 = 110;

/// Draws `field` as a heat map with a colour bar at `path`.
pub fn heatmap(path: &Path, field: &ArrayView2<'_, f64>, labels: &Labels, size: Size) -> Result<MapArea, RunError> {
    let (nx, ny) = field.dim();
    let range = finite_range(field.iter().copied());
    let bad = field.iter().filter(|v| !v.is_finite()).count();
    let title = match bad {
        0 => labels.title.clone(),
        n => format!("{} ({n} cells not finite, magenta)", labels.title),
    };
    render(path, size, |root| {
        let (map, bar) = root.split_horizontally(size.width.saturating_sub(BAR_COLUMN));
        let mut chart = ChartBuilder::on(&map)
            .caption(&title, (FONT, 20))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..nx as f64, 0.0..ny as f64)
            .map_err(text)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(&labels.x)
            .y_desc(&labels.y)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 14))
            .draw()
            .map_err(text)?;
        let area = MapArea::of(chart.plotting_area());
        let (lo, hi) = range.unwrap_or((0.0, 1.0));
        paint(&chart.plotting_area().strip_coord_spec(), |fx, fy| {
            let i = ((fx * nx as f64) as usize).min(nx - 1);
            let j = (((1.0 - fy) * ny as f64) as usize).min(ny - 1);
            let value = field[[i, j]];
            if value.is_finite() { colour((value - lo) / (hi - lo)) } else { NOT_FINITE }
        })?;
        colour_bar(&bar, (lo, hi))?;
        Ok(area)
    })
}

impl MapArea {
    fn of<CT: CoordTranslate>(area: &DrawingArea<BitMapBackend<'_>, CT>) -> MapArea {
        let (across, down) = area.get_pixel_range();
        MapArea {
            left: across.start as u32,
            top: down.start as u32,
            width: across.len() as u32,
            height: down.len() as u32,
        }
    }
}

/// Colours every pixel of `area` by `shade(fx, fy)` at its centre, where `fx` and `fy` run from
/// 0 to 1 across and down the area.
fn paint(area: &Area<'_>, shade: impl Fn(f64, f64) -> RGBColor) -> Result<(), String> {
    let (width, height) = area.dim_in_pixel();
    for py in 0..height {
        let fy = (f64::from(py) + 0.5) / f64::from(height);
        for px in 0..width {
            let fx = (f64::from(px) + 0.5) / f64::from(width);
            area.draw_pixel((px as i32, py as i32), &shade(fx, fy)).map_err(text)?;
        }
    }
    Ok(())
}

/// The scale: the map's colours from `lo` (bottom) to `hi` (top), labelled on the right.
fn colour_bar(bar: &Area<'_>, (lo, hi): (f64, f64)) -> Result<(), String> {
    let mut chart = ChartBuilder::on(bar)
        .margin_top(40)
        .margin_bottom(50)
        .margin_left(10)
        .margin_right(5)
        .right_y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(text)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_label_style((FONT, 13))
        .y_label_formatter(&|v| super::chart::tick(*v))
        .draw()
        .map_err(text)?;
    paint(&chart.plotting_area().strip_coord_spec(), |_, fy| colour(1.0 - fy))
}
