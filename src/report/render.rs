//! Rendering the report: JSON (the data, schema in docs/report.md), Markdown, and one
//! self-contained HTML file (inline CSS and SVG, no scripts, no external requests, print
//! styles for A4 and Letter). Templates are minijinja with HTML auto-escaping; Markdown
//! table cells go through the `md` filter. Deterministic.

use minijinja::{AutoEscape, Environment, Value, context};

use super::{ChangeReport, human, svg};
use crate::error::{Error, Result};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// `change-report.md`
    Markdown,
    /// `change-report.html`
    Html,
    /// `change-report.json`
    Json,
}

impl Format {
    /// Parse `md`, `html` or `json`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "md" | "markdown" => Some(Format::Markdown),
            "html" => Some(Format::Html),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The file name it is written as.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Markdown => "change-report.md",
            Format::Html => "change-report.html",
            Format::Json => "change-report.json",
        }
    }
}

/// Render `r` in `format`.
pub fn render(r: &ChangeReport, format: Format) -> Result<Vec<u8>> {
    if format == Format::Json {
        let mut v =
            serde_json::to_vec_pretty(r).map_err(|e| Error::invalid("report", "<memory>", e))?;
        v.push(b'\n');
        return Ok(v);
    }
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_template("report.md.j2", include_str!("templates/report.md.j2"))
        .and_then(|_| env.add_template("report.html.j2", include_str!("templates/report.html.j2")))
        .map_err(|e| Error::invalid("report template", "<built in>", e))?;
    env.add_function("human", |n: u64| human(n));
    env.add_filter("md", |s: String| -> String {
        // One table cell: no pipes, backticks or line breaks that would break the table.
        s.replace('\\', "\\\\")
            .replace('|', "\\|")
            .replace('`', "'")
            .replace(['\n', '\r'], " ")
    });
    let name = if format == Format::Html {
        "report.html.j2"
    } else {
        "report.md.j2"
    };
    let ctx = context! {
        r => Value::from_serialize(r),
        version => env!("CARGO_PKG_VERSION"),
        svg_bytes => svg::bytes_bar(r),
        svg_window => svg::window(r),
        svg_versions => svg::versions(r),
    };
    let text = env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::invalid("report template", name, e))?;
    Ok(text.into_bytes())
}
