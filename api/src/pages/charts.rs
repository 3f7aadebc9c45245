//! Line charts drawn as inline SVG on the server: no script, no CDN, nothing the CSP blocks.
//! Every chart is a `<figure>` whose SVG carries a text summary (`role="img"` with a title and
//! description) and whose caption holds the legend and, folded away, the numbers as a table —
//! the accessible equivalent. Every label is escaped; colours come from CSS classes.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::http::html::escape;

/// The drawing's coordinate space; the SVG scales to its container's width.
const WIDTH: f64 = 400.0;
const HEIGHT: f64 = 170.0;
/// Room for the value labels on the left and the time labels below.
const LEFT: f64 = 34.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 22.0;

/// One line of a chart: its name and one value per step.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// Its name in the legend and the table.
    pub label: &'a str,
    /// One value per step.
    pub values: &'a [u64],
}

/// A chart to draw.
#[derive(Debug, Clone, Copy)]
pub struct Chart<'a> {
    /// Unique on the page; prefixes the ids of its title and description.
    pub id: &'a str,
    /// What it shows.
    pub title: &'a str,
    /// Each step's start.
    pub steps: &'a [DateTime<Utc>],
    /// How a step's time is written (a `chrono` format).
    pub time_format: &'a str,
    /// The time zone steps are written in (the practice's).
    pub zone: Tz,
    /// Its lines (at most six are told apart by colour).
    pub lines: &'a [Line<'a>],
}

/// `value` as an SVG coordinate.
fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}

impl Chart<'_> {
    fn peak(&self) -> u64 {
        self.lines
            .iter()
            .flat_map(|line| line.values.iter().copied())
            .max()
            .unwrap_or(0)
    }

    /// The text equivalent of the picture: each line's total and peak.
    fn summary(&self) -> String {
        let (Some(first), Some(last)) = (self.steps.first(), self.steps.last()) else {
            return "No data.".to_owned();
        };
        let lines: Vec<String> = self
            .lines
            .iter()
            .map(|line| {
                format!(
                    "{}: {} in total, at most {} per step",
                    line.label,
                    line.values.iter().sum::<u64>(),
                    line.values.iter().max().copied().unwrap_or(0)
                )
            })
            .collect();
        format!(
            "From {} to {} ({}). {}.",
            first.with_timezone(&self.zone).format(self.time_format),
            last.with_timezone(&self.zone).format(self.time_format),
            self.zone.name(),
            lines.join("; ")
        )
    }

    fn svg(&self) -> String {
        let peak = self.peak().max(1);
        let steps = self.steps.len().max(2) - 1;
        let plot_width = WIDTH - LEFT - RIGHT;
        let plot_height = HEIGHT - TOP - BOTTOM;
        let x = |i: usize| LEFT + plot_width * i as f64 / steps as f64;
        let y = |v: u64| TOP + plot_height * (1.0 - v as f64 / peak as f64);
        let mut svg = format!(
            "<svg class=\"chart-svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" focusable=\"false\">\
             <title id=\"{id}-title\">{title}</title><desc id=\"{id}-desc\">{desc}</desc>",
            id = escape(self.id),
            title = escape(self.title),
            desc = escape(&self.summary()),
        );
        for value in [0, peak / 2, peak] {
            let at = coordinate(y(value));
            svg.push_str(&format!(
                "<line class=\"chart-grid\" x1=\"{}\" x2=\"{}\" y1=\"{at}\" y2=\"{at}\"/>\
                 <text class=\"chart-label\" x=\"{}\" y=\"{at}\" text-anchor=\"end\" dominant-baseline=\"middle\">{value}</text>",
                coordinate(LEFT),
                coordinate(WIDTH - RIGHT),
                coordinate(LEFT - 4.0),
            ));
        }
        if let (Some(first), Some(last)) = (self.steps.first(), self.steps.last()) {
            svg.push_str(&format!(
                "<text class=\"chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"start\">{}</text>\
                 <text class=\"chart-label\" x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                coordinate(LEFT),
                coordinate(HEIGHT - 6.0),
                escape(
                    &first
                        .with_timezone(&self.zone)
                        .format(self.time_format)
                        .to_string()
                ),
                coordinate(WIDTH - RIGHT),
                coordinate(HEIGHT - 6.0),
                escape(
                    &last
                        .with_timezone(&self.zone)
                        .format(self.time_format)
                        .to_string()
                ),
            ));
        }
        for (n, line) in self.lines.iter().enumerate() {
            let points: Vec<String> = line
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| format!("{},{}", coordinate(x(i)), coordinate(y(*v))))
                .collect();
            svg.push_str(&format!(
                "<polyline class=\"chart-line chart-series-{}\" fill=\"none\" points=\"{}\"/>",
                n % 6,
                points.join(" ")
            ));
        }
        svg.push_str("</svg>");
        svg
    }

    /// The numbers as a table: the steps with anything to show.
    fn table(&self) -> String {
        let head: String = self
            .lines
            .iter()
            .map(|line| format!("<th scope=\"col\">{}</th>", escape(line.label)))
            .collect();
        let rows: String = self
            .steps
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                self.lines
                    .iter()
                    .any(|l| l.values.get(*i).is_some_and(|v| *v > 0))
            })
            .map(|(i, step)| {
                let cells: String = self
                    .lines
                    .iter()
                    .map(|l| format!("<td>{}</td>", l.values.get(i).copied().unwrap_or(0)))
                    .collect();
                format!(
                    "<tr><th scope=\"row\">{}</th>{cells}</tr>",
                    escape(
                        &step
                            .with_timezone(&self.zone)
                            .format(self.time_format)
                            .to_string()
                    )
                )
            })
            .collect();
        let body = if rows.is_empty() {
            "<p class=\"muted small\">Nothing to count in this range.</p>".to_owned()
        } else {
            format!(
                "<div class=\"table-wrap\"><table><caption>{} (steps with no activity are left out)</caption>\
                 <thead><tr><th scope=\"col\">From ({})</th>{head}</tr></thead><tbody>{rows}</tbody></table></div>",
                escape(self.title),
                escape(self.zone.name())
            )
        };
        format!("<details class=\"chart-table\"><summary>Numbers</summary>{body}</details>")
    }

    /// The whole figure: the picture, its legend and its table.
    pub fn render(&self) -> String {
        let legend: String = self
            .lines
            .iter()
            .enumerate()
            .map(|(n, line)| {
                format!(
                    "<li><span class=\"chart-swatch chart-series-{}\" aria-hidden=\"true\"></span>{}: {}</li>",
                    n % 6,
                    escape(line.label),
                    line.values.iter().sum::<u64>()
                )
            })
            .collect();
        format!(
            "<figure class=\"chart\">{}<figcaption><span class=\"chart-title\">{}</span>\
             <ul class=\"chart-legend\">{legend}</ul></figcaption>{}</figure>",
            self.svg(),
            escape(self.title),
            self.table()
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn steps(count: i64) -> Vec<DateTime<Utc>> {
        (0..count)
            .map(|i| DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(i))
            .collect()
    }

    #[test]
    fn labels_are_escaped_and_the_chart_is_labelled_for_screen_readers() {
        let steps = steps(3);
        let chart = Chart {
            id: "calls",
            title: "Calls <by> client",
            steps: &steps,
            time_format: "%H:%M",
            zone: Tz::UTC,
            lines: &[Line {
                label: "<script>alert(1)</script>",
                values: &[1, 0, 4],
            }],
        };
        let html = chart.render();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;: 5"));
        assert!(html.contains("role=\"img\" aria-labelledby=\"calls-title calls-desc\""));
        assert!(html.contains("5 in total, at most 4 per step"), "{html}");
        // The quiet step is left out of the table.
        assert_eq!(html.matches("<tr><th scope=\"row\">").count(), 2, "{html}");
    }

    #[test]
    fn the_highest_value_reaches_the_top_and_zero_the_bottom() {
        let steps = steps(2);
        let chart = Chart {
            id: "c",
            title: "t",
            steps: &steps,
            time_format: "%H:%M",
            zone: Tz::UTC,
            lines: &[Line {
                label: "l",
                values: &[0, 10],
            }],
        };
        let svg = chart.svg();
        let top = coordinate(TOP);
        let bottom = coordinate(HEIGHT - BOTTOM);
        assert!(
            svg.contains(&format!(
                "points=\"{},{bottom} {},{top}\"",
                coordinate(LEFT),
                coordinate(WIDTH - RIGHT)
            )),
            "{svg}"
        );
    }
}
