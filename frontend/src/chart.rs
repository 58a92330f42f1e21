//! Day-by-day history charts of the dashboard, drawn as SVG: a value axis with round steps, a
//! label every few days, bars or a line, and each point's value on hover (and for screen readers).

use chrono::NaiveDate;
use leptos::prelude::*;

const W: f64 = 600.0;
const H: f64 = 220.0;
const LEFT: f64 = 36.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 26.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Bars,
    Line,
}

/// The step of the value axis: 1, 2 or 5 times a power of ten, about four steps to the top.
pub fn nice_step(max: i64) -> i64 {
    let raw = (max.max(1) as f64 / 4.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    step.max(1.0) as i64
}

#[component]
pub fn HistoryChart(
    #[prop(into)] title: String,
    days: Vec<NaiveDate>,
    values: Vec<i64>,
    kind: ChartKind,
    /// CSS class giving the series its colour.
    series: &'static str,
) -> impl IntoView {
    let n = days.len().min(values.len());
    let max = values.iter().copied().max().unwrap_or(0).max(0);
    let step = nice_step(max);
    let top = ((max + step - 1) / step).max(1) * step;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let y = move |v: i64| TOP + plot_h - (v as f64 / top as f64) * plot_h;
    let slot = if n == 0 { plot_w } else { plot_w / n as f64 };
    let x_mid = move |i: usize| LEFT + slot * (i as f64 + 0.5);

    let grid = (0..=top / step)
        .map(|k| {
            let v = k * step;
            let yy = y(v);
            view! {
                <g class="grid">
                    <line x1=LEFT x2=W - RIGHT y1=yy y2=yy></line>
                    <text x=LEFT - 6.0 y=yy + 4.0 text-anchor="end">{v.to_string()}</text>
                </g>
            }
        })
        .collect_view();

    let every = n.div_ceil(6).max(1);
    let labels = (0..n)
        .filter(|i| (n - 1 - i).is_multiple_of(every))
        .map(|i| {
            view! {
                <text class="axis-label" x=x_mid(i) y=H - 8.0 text-anchor="middle">
                    {days[i].format("%d %b").to_string()}
                </text>
            }
        })
        .collect_view();

    let tip = |i: usize| format!("{}: {}", days[i].format("%a %d %b %Y"), values[i]);
    let marks = match kind {
        ChartKind::Bars => {
            let bw = (slot * 0.7).max(1.0);
            (0..n)
                .map(|i| {
                    let v = values[i].max(0);
                    let yy = y(v);
                    let h = (TOP + plot_h - yy).max(if v > 0 { 1.0 } else { 0.0 });
                    view! {
                        <rect class="mark" x=x_mid(i) - bw / 2.0 y=TOP + plot_h - h width=bw height=h>
                            <title>{tip(i)}</title>
                        </rect>
                    }
                })
                .collect_view()
                .into_any()
        }
        ChartKind::Line => {
            let points: Vec<String> = (0..n).map(|i| format!("{:.1},{:.1}", x_mid(i), y(values[i].max(0)))).collect();
            let area = if n > 0 {
                format!(
                    "{:.1},{:.1} {} {:.1},{:.1}",
                    x_mid(0),
                    TOP + plot_h,
                    points.join(" "),
                    x_mid(n - 1),
                    TOP + plot_h
                )
            } else {
                String::new()
            };
            // Many days: small points, so the line stays readable.
            let dot = if n > 45 { 1.6 } else { 3.0 };
            let dots = (0..n)
                .map(|i| {
                    view! {
                        <circle class="mark" cx=x_mid(i) cy=y(values[i].max(0)) r=dot>
                            <title>{tip(i)}</title>
                        </circle>
                    }
                })
                .collect_view();
            view! {
                <polygon class="area" points=area></polygon>
                <polyline class="line" points=points.join(" ")></polyline>
                {dots}
            }
            .into_any()
        }
    };

    let total: i64 = values.iter().take(n).sum();
    let summary = match (days.first(), days.get(n.saturating_sub(1))) {
        (Some(first), Some(last)) if n > 0 => {
            format!("{title}, {} to {}: highest {max} on one day, {total} in all", first, last)
        }
        _ => format!("{title}: no data"),
    };
    view! {
        <figure class=format!("chart {series}")>
            <figcaption>{title.clone()}</figcaption>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=summary>
                {grid}
                <line class="axis" x1=LEFT x2=W - RIGHT y1=TOP + plot_h y2=TOP + plot_h></line>
                {marks}
                {labels}
            </svg>
        </figure>
    }
}
