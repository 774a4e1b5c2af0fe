//! Filling the report templates. HTML goes through minijinja with escaping
//! on for `.html` templates: host names, vendor strings and anything else
//! from logs is attacker-controlled and always shows as text. The page also
//! carries a Content-Security-Policy that forbids scripts. Markdown escapes
//! table and markup characters with the `md` filter.

use std::path::{Path, PathBuf};

use minijinja::{Environment, context};

use super::Report;
use super::charts::Charts;
use crate::error::{Error, Result};
use crate::watch::state::write_atomically;

const HTML: &str = include_str!("templates/report.html");
const MARKDOWN: &str = include_str!("templates/report.md");

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML file (charts inline, works offline).
    Html,
    /// Markdown (tables; charts as SVG files beside it).
    Md,
}

impl ReportFormat {
    /// The format for `--format` left out: Markdown for `.md`, else HTML.
    pub fn choose(explicit: Option<ReportFormat>, output: &Path) -> ReportFormat {
        let markdown = output.extension().is_some_and(|e| e.eq_ignore_ascii_case("md"));
        explicit.unwrap_or(if markdown { ReportFormat::Md } else { ReportFormat::Html })
    }
}

/// Writes the report to `output`; Markdown writes its charts as SVG files
/// beside it (`<name>-<chart>.svg`), HTML carries them inline.
pub fn write(report: &Report, charts: &Charts, format: ReportFormat, output: &Path, max_alerts: usize) -> Result<()> {
    let mut env = Environment::new();
    env.add_filter("md", escape_markdown);
    let template = |e: minijinja::Error| Error::Input { input: "report template".into(), reason: format!("{e:#}") };
    env.add_template("report.html", HTML).map_err(template)?;
    env.add_template("report.md", MARKDOWN).map_err(template)?;
    let shown = &report.alerts[..report.alerts.len().min(max_alerts)];
    let text = match format {
        ReportFormat::Html => env
            .get_template("report.html")
            .and_then(|t| {
                t.render(context! { charts => charts, shown => shown, ..minijinja::Value::from_serialize(report) })
            })
            .map_err(template)?,
        ReportFormat::Md => {
            let files = chart_files(output);
            for ((_, path), svg) in files.iter().zip([&charts.over_time, &charts.scanners, &charts.ports]) {
                write_atomically(path, svg.as_bytes())?;
            }
            let name = |i: usize| files[i].1.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let chart_files = context! { over_time => name(0), scanners => name(1), ports => name(2) };
            env.get_template("report.md")
                .and_then(|t| t.render(context! { chart_files => chart_files, shown => shown, ..minijinja::Value::from_serialize(report) }))
                .map_err(template)?
        }
    };
    write_atomically(output, text.as_bytes())
}

/// The SVG files a Markdown report at `output` links to.
fn chart_files(output: &Path) -> [(&'static str, PathBuf); 3] {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "report".into());
    let at = |chart: &str| output.with_file_name(format!("{stem}-{chart}.svg"));
    [("over_time", at("over-time")), ("scanners", at("scanners")), ("ports", at("ports"))]
}

/// Text safe inside a Markdown table cell: markup characters escaped, line breaks as spaces.
fn escape_markdown(value: String) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' | '(' | ')' | '{' | '}' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' | '\n' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_markdown;

    #[test]
    fn markdown_cells_cannot_break_out() {
        assert_eq!(escape_markdown("<img src=x onerror=alert(1)>".into()), "&lt;img src=x onerror=alert\\(1\\)&gt;");
        assert_eq!(escape_markdown("a|b\n[c](d)".into()), "a\\|b \\[c\\]\\(d\\)");
    }
}
