//! Charts drawn on the server as SVG (no script): bars for values by period,
//! and a line. Each bar carries its exact value in a `<title>`, shown on
//! hover and read by screen readers.

use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 200.0;
/// Room under the bars for the labels.
const FOOT: f64 = 24.0;

/// One series: its name (for the legend and titles), CSS class and values.
pub struct Series<'a> {
    pub name: &'a str,
    pub class: &'a str,
    pub values: Vec<i64>,
}

/// Every `step`-th label, so at most about twelve show.
fn shown(n: usize) -> usize {
    n.div_ceil(12).max(1)
}

/// Grouped bars: one group per label, one bar per series (negative values
/// drawn as zero).
pub fn bars(title: &str, labels: &[String], series: &[Series<'_>]) -> Markup {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = labels.len().max(1);
    let group = WIDTH / n as f64;
    let bar = (group * 0.8 / series.len().max(1) as f64).max(1.0);
    let step = shown(labels.len());
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + FOOT)) role="img" aria-label=(title) {
                title { (title) }
                @for (i, label) in labels.iter().enumerate() {
                    @for (j, s) in series.iter().enumerate() {
                        @let v = s.values.get(i).copied().unwrap_or(0).max(0);
                        @let h = v as f64 / max * HEIGHT;
                        rect class=(s.class)
                            x=(format!("{:.1}", i as f64 * group + group * 0.1 + j as f64 * bar))
                            y=(format!("{:.1}", HEIGHT - h)) width=(format!("{bar:.1}"))
                            height=(format!("{h:.1}")) {
                            title { (label) " · " (s.name) ": " (v) }
                        }
                    }
                    @if i % step == 0 {
                        text x=(format!("{:.1}", i as f64 * group + group / 2.0))
                            y=(format!("{:.1}", HEIGHT + 16.0)) text-anchor="middle" { (label) }
                    }
                }
            }
            figcaption {
                (title)
                @for s in series { " " span class=(format!("key {}", s.class)) { "■" } " " (s.name) }
            }
        }
    }
}

/// A line through the values, one point per label.
pub fn line(title: &str, labels: &[String], name: &str, values: &[i64]) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let min = values.iter().copied().min().unwrap_or(0).min(0) as f64;
    let n = values.len().max(1);
    let x = |i: usize| WIDTH * (i as f64 + 0.5) / n as f64;
    let y = |v: i64| HEIGHT - (v as f64 - min) / (max - min).max(1.0) * HEIGHT;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
        .collect();
    let step = shown(labels.len());
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + FOOT)) role="img" aria-label=(title) {
                title { (title) }
                polyline.line points=(points.join(" ")) {}
                @for (i, v) in values.iter().enumerate() {
                    circle.dot cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(*v))) r="3" {
                        title { (labels.get(i).map(String::as_str).unwrap_or("")) " · " (name) ": " (v) }
                    }
                    @if i % step == 0 {
                        text x=(format!("{:.1}", x(i))) y=(format!("{:.1}", HEIGHT + 16.0))
                            text-anchor="middle" { (labels.get(i).map(String::as_str).unwrap_or("")) }
                    }
                }
            }
            figcaption { (title) }
        }
    }
}
