//! `boot.png`: median `t_root` against payload size for the three
//! variants — the RFC's graph made from our numbers (plotters, bitmap).

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

use crate::bench::record::{Report, Variant};
use crate::bench::render;

/// `(payload MiB, median t_root)` of `v`, payloads with no finished boot left out.
pub fn series(r: &Report, v: Variant) -> Vec<(f64, f64)> {
    r.payloads
        .iter()
        .filter_map(|&p| render::summary(r, v, p, 1).map(|s| (p as f64, s.median)))
        .collect()
}

fn color(v: Variant) -> RGBColor {
    match v {
        Variant::Dracut => RGBColor(200, 40, 40),
        Variant::Systemd => RGBColor(40, 90, 200),
        Variant::Pid1 => RGBColor(30, 150, 60),
    }
}

/// Draws the plot into `png` (800×500).
///
/// Errors: nothing to plot, or the drawing/encoding fails (e.g. no font).
pub fn draw(r: &Report, png: &Path) -> Result<()> {
    let all: Vec<(Variant, Vec<(f64, f64)>)> =
        Variant::ALL.iter().map(|&v| (v, series(r, v))).collect();
    let points = all.iter().flat_map(|(_, s)| s.iter());
    let (mut xmax, mut ymax) = (1.0_f64, 1.0_f64);
    for &(x, y) in points {
        xmax = xmax.max(x);
        ymax = ymax.max(y);
    }
    if all.iter().all(|(_, s)| s.is_empty()) {
        return Err(anyhow!("no finished boots to plot"));
    }
    let root = BitMapBackend::new(png, (800, 500)).into_drawing_area();
    let e = |e: &dyn std::fmt::Display| anyhow!("plot {}: {e}", png.display());
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "median t_root vs unread initrd payload ({}, {} MiB)",
                r.vm.accel, r.vm.memory_mib
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..xmax * 1.05, 0.0..ymax * 1.15)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc("payload (MiB)")
        .y_desc("t_root (s, kernel timestamp)")
        .draw()
        .map_err(|x| e(&x))?;
    for (v, s) in &all {
        if s.is_empty() {
            continue;
        }
        let c = color(*v);
        chart
            .draw_series(LineSeries::new(s.iter().copied(), c.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(v.label())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(s.iter().map(|&p| Circle::new(p, 4, c.filled())))
            .map_err(|x| e(&x))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    root.present()
        .map_err(|x| e(&x))
        .with_context(|| format!("cannot write {}", png.display()))
}
