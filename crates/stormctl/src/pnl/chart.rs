//! `pnl --png FILE`: the cumulative realized PnL of each asset over time, one panel per asset
//! (their units differ: USDT and BTC on one axis would flatten one of them), as a step line that
//! moves at each outcome.
//!
//! Drawn with `plotters`' bitmap backend and PNG encoder. Text goes through its `ab_glyph`
//! renderer with a font compiled into the binary (DejaVu Sans, from the `dejavu` crate), so
//! nothing is looked up on the system: no fontconfig, no freetype, no font files — a fresh
//! machine builds and draws this as it is. The sums are exact `Decimal`s; only the pixel
//! positions are floats.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use rust_decimal::prelude::ToPrimitive;

use super::report::Report;
use crate::output::utc;

/// Width of the image, and height of one asset's panel, pixels.
const WIDTH: u32 = 1000;
const PANEL: u32 = 280;
const TITLE: u32 = 40;
pub(crate) const FONT: &str = "sans-serif";

/// One colour per panel, in turn.
const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
];

/// Registers the compiled-in font once.
pub(crate) fn font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the built-in font is invalid".into())
    })
    .clone()
}

/// The step line of `asset`: (seconds since `t0`, cumulative value), starting at zero.
fn steps(report: &Report, asset: &str, t0: u64) -> Vec<(f64, f64)> {
    let mut pts = vec![(0.0, 0.0)];
    for (t, a, total) in &report.timeline {
        if a != asset {
            continue;
        }
        let x = t.saturating_sub(t0) as f64 / 1000.0;
        let prev = pts.last().map_or(0.0, |p| p.1);
        pts.push((x, prev));
        pts.push((x, total.to_f64().unwrap_or(prev)));
    }
    pts
}

/// The y range of `pts` with zero in it and a little room.
fn y_range(pts: &[(f64, f64)]) -> (f64, f64) {
    let (lo, hi) = pts.iter().fold((0.0_f64, 0.0_f64), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let pad = if hi > lo { (hi - lo) * 0.1 } else { 1.0 };
    (lo - pad, hi + pad)
}

/// Draws the chart of `report` into the PNG file `path`.
pub(crate) fn draw(path: &Path, report: &Report) -> Result<(), String> {
    font()?;
    let assets: Vec<&String> = report.realized.keys().collect();
    let t0 = report.first_ms.unwrap_or(0);
    let end = (report.last_ms.unwrap_or(t0).saturating_sub(t0) as f64 / 1000.0).max(1.0);
    let height = TITLE + PANEL * u32::try_from(assets.len().max(1)).unwrap_or(1);
    let root = BitMapBackend::new(path, (WIDTH, height)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (title, body) = root.split_vertically(TITLE);
    let heading = format!(
        "storm: cumulative realized PnL, {} outcome(s){}",
        report.entries,
        report.first_ms.map(|t| format!(" from {}", utc(t))).unwrap_or_default()
    );
    title.draw_text(&heading, &(FONT, 22).into_font().color(&BLACK), (12, 10)).map_err(err)?;
    if assets.is_empty() {
        body.draw_text("no outcome changed a balance", &(FONT, 18).into_font().color(&BLACK), (12, 20)).map_err(err)?;
    }
    let panels = body.split_evenly((assets.len().max(1), 1));
    for (i, (panel, asset)) in panels.iter().zip(&assets).enumerate() {
        let pts = steps(report, asset, t0);
        let mut pts = pts;
        if let Some(&(_, last)) = pts.last() {
            pts.push((end, last)); // the level holds until the last outcome of the report
        }
        let (y0, y1) = y_range(&pts);
        let total = report.realized.get(*asset).map(|d| d.normalize().to_string()).unwrap_or_default();
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{asset}: {total}"), (FONT, 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(100)
            .build_cartesian_2d(0.0..end, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(format!("seconds since {}", utc(t0)))
            .y_desc(asset.as_str())
            .label_style((FONT, 13))
            .draw()
            .map_err(err)?;
        chart.draw_series(LineSeries::new([(0.0, 0.0), (end, 0.0)], BLACK.mix(0.3))).map_err(err)?;
        let colour = COLOURS[i % COLOURS.len()];
        chart.draw_series(LineSeries::new(pts, colour.stroke_width(2))).map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_steps_at_each_outcome_from_zero() {
        let timeline =
            vec![(1_000, "USDT".into(), "1.5".parse().expect("d")), (3_000, "USDT".into(), "-2".parse().expect("d"))];
        let r = Report { timeline, ..Report::default() };
        let pts = steps(&r, "USDT", 1_000);
        assert_eq!(pts, vec![(0.0, 0.0), (0.0, 0.0), (0.0, 1.5), (2.0, 1.5), (2.0, -2.0)]);
        let (lo, hi) = y_range(&pts);
        assert!(lo < -2.0 && hi > 1.5);
        assert_eq!(y_range(&[(0.0, 0.0)]), (-1.0, 1.0));
    }
}
