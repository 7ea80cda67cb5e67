//! The colour map of heat maps: viridis (perceptually uniform, readable in grey and by most
//! colour-blind readers), as its ten-step table interpolated linearly, and a colour for cells
//! that are not finite, which viridis never produces.

use plotters::style::RGBColor;

/// Viridis at ten evenly spaced points from the lowest value to the highest.
const VIRIDIS: [(u8, u8, u8); 10] = [
    (0x44, 0x01, 0x54),
    (0x48, 0x28, 0x78),
    (0x3e, 0x4a, 0x89),
    (0x31, 0x68, 0x8e),
    (0x26, 0x82, 0x8e),
    (0x1f, 0x9e, 0x89),
    (0x35, 0xb7, 0x79),
    (0x6d, 0xcd, 0x59),
    (0xb4, 0xde, 0x2c),
    (0xfd, 0xe7, 0x25),
];

/// The colour of the highest value.
pub const TOP: RGBColor = RGBColor(0xfd, 0xe7, 0x25);

/// The colour of NaN and infinite cells: magenta, far from every colour of the map.
pub const NOT_FINITE: RGBColor = RGBColor(0xff, 0x00, 0xff);

/// The colour of `t` in `[0, 1]` (clamped): 0 is the lowest value, 1 the highest.
pub fn colour(t: f64) -> RGBColor {
    let scaled = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let below = (scaled.floor() as usize).min(VIRIDIS.len() - 2);
    let frac = scaled - below as f64;
    let (a, b) = (VIRIDIS[below], VIRIDIS[below + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * frac).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_the_table_ends_and_brightness_rises() {
        assert_eq!(colour(0.0), RGBColor(0x44, 0x01, 0x54));
        assert_eq!(colour(1.0), TOP);
        assert_eq!(colour(7.0), TOP);
        let luma = |c: RGBColor| 0.299 * f64::from(c.0) + 0.587 * f64::from(c.1) + 0.114 * f64::from(c.2);
        let steps: Vec<f64> = (0..=100).map(|k| luma(colour(f64::from(k) / 100.0))).collect();
        assert!(steps.windows(2).all(|w| w[1] >= w[0]), "{steps:?}");
    }
}
