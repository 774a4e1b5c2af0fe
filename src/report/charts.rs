//! The report's pictures, drawn with `plotters` as SVG text (the SVG
//! backend escapes every label, so log text cannot become markup).

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::Report;
use crate::error::{Error, Result};
use crate::time::Micros;

/// The report's charts as SVG documents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Charts {
    /// Alerts per hour or per day.
    pub over_time: String,
    /// Top scanners by their most distinct ports in one bin.
    pub scanners: String,
    /// Ports listed in alerts, 1024 to a bar.
    pub ports: String,
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 320;
const HOUR: Micros = 3_600_000_000;
const DAY: Micros = 24 * HOUR;

/// Draws the report's charts.
pub fn draw(report: &Report) -> Result<Charts> {
    Ok(Charts {
        over_time: over_time(report)?,
        scanners: bars(
            "Top scanners: most distinct ports in one bin",
            report.scanners.iter().map(|s| (s.src.clone(), s.max_ports)).collect(),
            Orientation::Horizontal,
        )?,
        ports: ports(report)?,
    })
}

/// Alerts per hour (ranges up to three days) or per day.
fn over_time(report: &Report) -> Result<String> {
    let starts: Vec<Micros> = report.alerts.iter().map(|a| a.bin_start()).collect();
    let (Some(&first), Some(&last)) = (starts.iter().min(), starts.iter().max()) else {
        return bars("Alerts over time", Vec::new(), Orientation::Vertical);
    };
    let (step, label): (Micros, &str) = if last - first <= 3 * DAY { (HOUR, "%m-%d %H:00") } else { (DAY, "%Y-%m-%d") };
    let mut counts: BTreeMap<Micros, i64> = BTreeMap::new();
    let mut t = first.div_euclid(step) * step;
    while t <= last {
        counts.insert(t, 0);
        t += step;
    }
    for start in starts {
        *counts.entry(start.div_euclid(step) * step).or_default() += 1;
    }
    let bars_data = counts
        .into_iter()
        .map(|(t, n)| {
            let when = chrono::DateTime::from_timestamp_micros(t).unwrap_or_default();
            (when.format(label).to_string(), n)
        })
        .collect();
    let per = if step == HOUR { "hour" } else { "day" };
    bars(&format!("Alerts per {per} (UTC)"), bars_data, Orientation::Vertical)
}

/// How many alerts listed a port, in bars of 1024 ports.
fn ports(report: &Report) -> Result<String> {
    let mut buckets = vec![0_i64; 64];
    for port in report.alerts.iter().flat_map(|a| &a.attempted_ports) {
        if let Ok(p) = usize::try_from(*port) {
            buckets[(p / 1024).min(63)] += 1;
        }
    }
    let data = buckets.into_iter().enumerate().map(|(i, n)| (format!("{}", i * 1024), n)).collect();
    bars("Ports listed in alerts, 1024 ports per bar", data, Orientation::Vertical)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Orientation {
    Vertical,
    Horizontal,
}

/// A bar chart of labelled values.
fn bars(title: &str, data: Vec<(String, i64)>, orientation: Orientation) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_bars(&root, title, &data, orientation).map_err(|e| chart_error(title, e))?;
        root.present().map_err(|e| chart_error(title, e))?;
    }
    Ok(svg)
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    data: &[(String, i64)],
    orientation: Orientation,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let n = data.len().max(1) as i64;
    let top = data.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let values = 0..top + top / 10 + 1;
    // Bars are numbered from 0; horizontal charts list the first one on top.
    let label = |segment: &SegmentValue<i64>, flip: bool| match segment {
        SegmentValue::CenterOf(i) => {
            let index = if flip { n - 1 - i } else { *i };
            usize::try_from(index).ok().and_then(|i| data.get(i)).map(|(l, _)| l.clone()).unwrap_or_default()
        }
        _ => String::new(),
    };
    let style = RGBColor(0x2f, 0x6f, 0xb3).filled();
    let mut chart = ChartBuilder::on(root);
    chart.caption(title, ("sans-serif", 18)).margin(12);
    match orientation {
        Orientation::Vertical => {
            let mut c = chart
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d((0..n).into_segmented(), values)?;
            let every = (n / 8).max(1);
            c.configure_mesh()
                .disable_x_mesh()
                .x_labels(n as usize)
                .x_label_formatter(&|s| match s {
                    SegmentValue::CenterOf(i) if i % every != 0 => String::new(),
                    s => label(s, false),
                })
                .draw()?;
            c.draw_series(
                Histogram::vertical(&c)
                    .style(style)
                    .margin(2)
                    .data(data.iter().enumerate().map(|(i, (_, v))| (i as i64, *v))),
            )?;
        }
        Orientation::Horizontal => {
            let mut c = chart
                .x_label_area_size(30)
                .y_label_area_size(160)
                .build_cartesian_2d(values, (0..n).into_segmented())?;
            c.configure_mesh().disable_y_mesh().y_labels(n as usize).y_label_formatter(&|s| label(s, true)).draw()?;
            c.draw_series(
                Histogram::horizontal(&c)
                    .style(style)
                    .margin(3)
                    .data(data.iter().enumerate().map(|(i, (_, v))| (n - 1 - i as i64, *v))),
            )?;
        }
    }
    if data.is_empty() {
        root.draw(&Text::new(
            "no alerts in this range",
            (WIDTH as i32 / 2 - 80, HEIGHT as i32 / 2),
            ("sans-serif", 16),
        ))?;
    }
    Ok(())
}

fn chart_error(title: &str, e: impl std::fmt::Display) -> Error {
    Error::Input { input: format!("chart `{title}`"), reason: e.to_string() }
}
