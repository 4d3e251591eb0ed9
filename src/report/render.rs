//! Rendering the report: JSON (the data, schema in docs/report.md), Markdown, and one
//! self-contained HTML file (inline CSS and SVG, no scripts, no external requests, print
//! styles for A4 and Letter). Templates are minijinja with HTML auto-escaping; in
//! Markdown every value goes through [`md_text`] (command lines through [`md_code`])
//! without the template asking for it. Deterministic.

use airlock_verify::escape::Untrusted;
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

/// The auto-escape mode of the Markdown template.
const MARKDOWN: &str = "markdown";

/// Untrusted text in Markdown prose or a table cell: shown as [`Untrusted`] shows it on a
/// terminal (no control character, escape sequence or line break reaches `cat`), then
/// with HTML's special characters as entities (viewers render inline HTML, so
/// `<img onerror=...>` must stay text) and the characters that would open a link, a
/// code span or a table cell escaped.
pub fn md_text(s: &str) -> String {
    let mut out = String::new();
    for c in Untrusted(s).to_string().chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '|' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A command line of an indented code block: Markdown shows it verbatim (entities would
/// show as `&amp;`), so only what would leave the block or reach the terminal, a line
/// break or a control character, is escaped.
pub fn md_code(s: &str) -> String {
    Untrusted(s).to_string()
}

/// The templates, with HTML escaping for the HTML file and [`markdown_formatter`] for the
/// Markdown one.
fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html.j2") {
            AutoEscape::Html
        } else {
            AutoEscape::Custom(MARKDOWN)
        }
    });
    env.set_formatter(markdown_formatter);
    env.add_template("report.md.j2", include_str!("templates/report.md.j2"))
        .and_then(|_| env.add_template("report.html.j2", include_str!("templates/report.html.j2")))
        .map_err(|e| Error::invalid("report template", "<built in>", e))?;
    env.add_function("human", |n: u64| human(n));
    env.add_filter("md", |s: String| Value::from_safe_string(md_text(&s)));
    env.add_filter("code", |s: String| Value::from_safe_string(md_code(&s)));
    Ok(env)
}

/// Every value of the Markdown template goes through [`md_text`], not only those a
/// template remembered to filter: node names, CVE text, chart fields and object names all
/// reach this file. Values already escaped by a filter are marked safe.
fn markdown_formatter(
    out: &mut minijinja::Output,
    state: &minijinja::State,
    value: &Value,
) -> std::result::Result<(), minijinja::Error> {
    if state.auto_escape() != AutoEscape::Custom(MARKDOWN) {
        return minijinja::escape_formatter(out, state, value);
    }
    if value.is_undefined() {
        return Ok(());
    }
    let text = value.to_string();
    let shown = if value.is_safe() {
        text
    } else {
        md_text(&text)
    };
    out.write_str(&shown)
        .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
}

/// Render `r` in `format`.
pub fn render(r: &ChangeReport, format: Format) -> Result<Vec<u8>> {
    if format == Format::Json {
        let mut v =
            serde_json::to_vec_pretty(r).map_err(|e| Error::invalid("report", "<memory>", e))?;
        v.push(b'\n');
        return Ok(v);
    }
    let env = environment()?;
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
        svg_schedule => svg::schedule(r),
    };
    let text = env
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map_err(|e| Error::invalid("report template", name, e))?;
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_text_keeps_html_links_cells_and_escapes_as_text() {
        assert_eq!(
            md_text("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(md_text("a|b`c[d](e)\"&"), "a\\|b\\`c\\[d\\](e)&quot;&amp;");
        assert_eq!(
            md_text("\u{1b}]0;owned\u{7}\n\u{202e}"),
            "\\u{1b}\\]0;owned\\u{7}\\u{a}\\u{202e}"
        );
        assert_eq!(
            md_code("kubectl apply -f x && y > z"),
            "kubectl apply -f x && y > z"
        );
        assert_eq!(md_code("a\nb\u{1b}"), "a\\u{a}b\\u{1b}");
    }
}
