//! Plots of results as PNG images, drawn in pure Rust (plotters) with an embedded font.
//!
//! Input: plain data (ndarray views, slices) with names and titles, a [`Size`] and a path.
//! Output: a PNG of exactly that size at that path, written atomically (complete or absent, as
//! every result file: [`noether_runtime::output`]), or a [`RunError::Write`] naming the path.
//! Nothing here needs a system library or a system font: text is drawn with DejaVu Sans, cut
//! down to Latin-1 and embedded (`assets/fonts`).
//!
//! | module | job |
//! |---|---|
//! | `colormap` | the perceptual colour map (viridis) and the colour of cells that are not finite |
//! | `heatmap` | a 2D field as a heat map with a colour bar, axes in index units |
//! | `chart` | line charts in panels (series, paths, a loss on a log scale) and histograms |
//! | `figures` | which figures a finished run, sampling run or fit gets, and their file names |
//!
//! ```no_run
//! let field = ndarray::Array2::<f64>::zeros((32, 32));
//! let labels = noether::plot::Labels { title: "u".into(), x: "i".into(), y: "j".into() };
//! noether::plot::heatmap(std::path::Path::new("u.png"), &field.view(), &labels, noether::plot::Size::default())?;
//! # Ok::<(), noether::RunError>(())
//! ```

mod chart;
mod colormap;
mod figures;
mod heatmap;

use std::path::Path;
use std::str::FromStr;
use std::sync::Once;

use noether_runtime::RunError;
use plotters::prelude::*;

pub use chart::{Group, Line, Panel, Scale, histogram, panels};
pub use colormap::{NOT_FINITE, TOP, colour};
pub use figures::{Plotted, fit, simulation};
pub use heatmap::{MapArea, heatmap};

/// An image's size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
}

impl Size {
    /// The smallest side a plot keeps its labels readable at, and the largest we draw.
    const SIDES: std::ops::RangeInclusive<u32> = 200..=8000;
}

impl Default for Size {
    fn default() -> Self {
        Size { width: 800, height: 600 }
    }
}

impl FromStr for Size {
    type Err = String;

    /// `800x600`.
    fn from_str(text: &str) -> Result<Size, String> {
        let bad = || format!("`{text}` is not a size; write WIDTHxHEIGHT in pixels, e.g. 800x600");
        let (width, height) = text.split_once(['x', 'X']).ok_or_else(bad)?;
        let side = |s: &str| s.trim().parse::<u32>().map_err(|_| bad());
        let size = Size { width: side(width)?, height: side(height)? };
        if !Size::SIDES.contains(&size.width) || !Size::SIDES.contains(&size.height) {
            return Err(format!("`{text}`: each side must be {} to {} pixels", Size::SIDES.start(), Size::SIDES.end()));
        }
        Ok(size)
    }
}

/// The title and axis labels of a chart.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    /// Above the chart.
    pub title: String,
    /// Under the x axis.
    pub x: String,
    /// Beside the y axis.
    pub y: String,
}

/// The font family every text is drawn in: the embedded one, registered under this name.
const FONT: &str = "sans-serif";

/// Registers the embedded font with plotters, once per process.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        let bytes = include_bytes!("../../assets/fonts/DejaVuSans-subset.ttf");
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("the embedded font is a valid TrueType font"));
    });
}

/// The drawing area plotters draws on: an RGB buffer in memory.
type Area<'b> = DrawingArea<BitMapBackend<'b>, plotters::coord::Shift>;

/// Draws with `draw` on a white canvas of `size`, then writes it as a PNG at `path`, atomically.
fn render<T>(path: &Path, size: Size, draw: impl FnOnce(&Area<'_>) -> Result<T, String>) -> Result<T, RunError> {
    let fail = |reason: String| RunError::Write { path: path.display().to_string(), reason };
    register_font();
    let mut pixels = vec![0u8; size.width as usize * size.height as usize * 3];
    let drawn = {
        let area = BitMapBackend::with_buffer(&mut pixels, (size.width, size.height)).into_drawing_area();
        area.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        let drawn = draw(&area).map_err(fail)?;
        area.present().map_err(|e| fail(e.to_string()))?;
        drawn
    };
    let png = encode_png(&pixels, size).map_err(fail)?;
    noether_runtime::output::write_bytes(path, &png)?;
    Ok(drawn)
}

fn encode_png(rgb: &[u8], size: Size) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, size.width, size.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// The smallest and largest finite values, widened where they meet so an axis has a length;
/// `None` when no value is finite.
fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    if lo == hi {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.05 };
        return Some((lo - pad, hi + pad));
    }
    Some((lo, hi))
}

/// A plotters error as text.
fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}
