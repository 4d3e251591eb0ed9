//! Inline SVG charts for the HTML report, where a picture reads faster than a table:
//! what the bundle's bytes are made of, old against new versions, and the change window
//! on a timeline. Plain SVG text (no scripts, no external fonts), deterministic, and every
//! label escaped.

use super::{ChangeReport, human};
use crate::time::Timestamp;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#7f7f7f",
];

/// A horizontal stacked bar of the bundle's bytes by kind, with a legend.
pub fn bytes_bar(r: &ChangeReport) -> String {
    let total: u64 = r.summary.bytes_by_kind.iter().map(|(_, b)| b).sum();
    let (w, bar_h) = (640.0, 28.0);
    let rows = r.summary.bytes_by_kind.len();
    let h = bar_h + 12.0 + 20.0 * rows as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="bundle bytes by kind" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#
    );
    let mut x = 0.0;
    for (i, (label, bytes)) in r.summary.bytes_by_kind.iter().enumerate() {
        let width = if total == 0 {
            0.0
        } else {
            w * *bytes as f64 / total as f64
        };
        let c = COLORS[i % COLORS.len()];
        out.push_str(&format!(
            r#"<rect x="{x:.1}" y="0" width="{width:.1}" height="{bar_h}" fill="{c}"><title>{} {}</title></rect>"#,
            esc(label),
            human(*bytes)
        ));
        let y = bar_h + 12.0 + 20.0 * i as f64;
        let pct = if total == 0 {
            0.0
        } else {
            100.0 * *bytes as f64 / total as f64
        };
        out.push_str(&format!(
            r#"<rect x="0" y="{:.1}" width="12" height="12" fill="{c}"/><text x="18" y="{:.1}" font-size="12">{}: {} ({pct:.1}%)</text>"#,
            y - 10.0,
            y,
            esc(label),
            human(*bytes)
        ));
        x += width;
    }
    out.push_str("</svg>");
    out
}

/// Old and new versions of each changing component, as two columns joined by arrows.
pub fn versions(r: &ChangeReport) -> String {
    let rows: Vec<_> = r
        .inventory
        .changes
        .iter()
        .filter(|c| c.from != c.to)
        .collect();
    let (w, row_h) = (640.0, 22.0);
    let h = 30.0 + row_h * rows.len().max(1) as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="component versions before and after" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><text x="200" y="16" font-size="12" font-weight="bold">before</text><text x="430" y="16" font-size="12" font-weight="bold">after</text>"#
    );
    if rows.is_empty() {
        out.push_str(r#"<text x="0" y="44" font-size="12">no component changes version</text>"#);
    }
    for (i, c) in rows.iter().enumerate() {
        let y = 30.0 + row_h * i as f64 + 12.0;
        out.push_str(&format!(
            r##"<text x="0" y="{y:.1}" font-size="12">{}</text><text x="200" y="{y:.1}" font-size="12" fill="#555">{}</text><line x1="330" y1="{:.1}" x2="420" y2="{:.1}" stroke="#999" marker-end="url(#a)"/><text x="430" y="{y:.1}" font-size="12" font-weight="bold">{}</text>"##,
            esc(&c.component),
            esc(c.from.as_deref().unwrap_or("(new)")),
            y - 4.0,
            y - 4.0,
            esc(c.to.as_deref().unwrap_or("(removed)"))
        ));
    }
    out.push_str(r##"<defs><marker id="a" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#999"/></marker></defs></svg>"##);
    out
}

/// The change window on a timeline drawn to scale, with "now" (`--now`) and the
/// target's end of life when known: a 3-day window a year before end of life is a thin
/// bar far from the red line, as it is.
pub fn window(r: &ChangeReport) -> String {
    let s = &r.summary;
    let at = |t: &Option<String>| t.as_deref().and_then(|t| Timestamp::parse(t, false).ok());
    let (nb, exp, now) = (at(&s.not_before), at(&s.expires), at(&r.decision.now));
    let eol = s
        .target_end_of_life
        .as_deref()
        .and_then(|d| Timestamp::parse(&format!("{d}T00:00Z"), false).ok());
    let (w, h) = (640.0, 84.0);
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="change window" width="{w}" height="{h}" viewBox="0 0 {w} {h}"><line x1="10" y1="40" x2="630" y2="40" stroke="#999"/>"##
    );
    let points: Vec<i64> = [nb, exp, now, eol].iter().flatten().map(|t| t.0).collect();
    let (Some(lo), Some(hi)) = (points.iter().min(), points.iter().max()) else {
        out.push_str(r#"<text x="10" y="20" font-size="12">no change window set at build (valid at any time)</text></svg>"#);
        return out;
    };
    // 4% margin each side; a single point sits in the middle.
    let span = ((hi - lo) as f64).max(1.0);
    let x = |t: Timestamp| 10.0 + 620.0 * (0.04 + 0.92 * (t.0 - lo) as f64 / span);
    match (nb, exp) {
        (Some(a), Some(b)) => {
            let (x1, x2) = (x(a), x(b));
            out.push_str(&format!(
                r##"<rect x="{x1:.1}" y="30" width="{:.1}" height="20" fill="#2ca02c" opacity="0.7"><title>change window</title></rect><text x="{x1:.1}" y="24" font-size="11" text-anchor="{}">window {}</text><text x="{x2:.1}" y="64" font-size="11" text-anchor="{}">to {}</text>"##,
                (x2 - x1).max(3.0),
                if x1 > 320.0 { "end" } else { "start" },
                esc(&a.to_string()),
                if x2 > 320.0 { "end" } else { "start" },
                esc(&b.to_string())
            ));
        }
        (Some(a), None) => out.push_str(&format!(
            r##"<rect x="{:.1}" y="30" width="{:.1}" height="20" fill="#2ca02c" opacity="0.5"/><text x="{:.1}" y="24" font-size="11">from {} (no end)</text>"##,
            x(a),
            630.0 - x(a),
            x(a),
            esc(&a.to_string())
        )),
        (None, Some(b)) => out.push_str(&format!(
            r##"<rect x="10" y="30" width="{:.1}" height="20" fill="#2ca02c" opacity="0.5"/><text x="{:.1}" y="64" font-size="11" text-anchor="end">until {}</text>"##,
            x(b) - 10.0,
            x(b),
            esc(&b.to_string())
        )),
        (None, None) => out.push_str(r#"<text x="10" y="78" font-size="12">no change window set at build (valid at any time)</text>"#),
    }
    let mut marker = |t: Timestamp, color: &str, label: String, y: f64| {
        let xt = x(t);
        let anchor = if xt > 320.0 { "end" } else { "start" };
        out.push_str(&format!(
            r##"<line x1="{xt:.1}" y1="26" x2="{xt:.1}" y2="56" stroke="{color}" stroke-width="2"/><text x="{xt:.1}" y="{y}" font-size="11" fill="{color}" text-anchor="{anchor}">{}</text>"##,
            esc(&label)
        ));
    };
    if let Some(t) = now {
        marker(t, "#1f4e9c", format!("now {t}"), 78.0);
    }
    if let Some(t) = eol {
        let d = s.target_end_of_life.as_deref().unwrap_or_default();
        marker(t, "#d62728", format!("target end of life {d}"), 12.0);
    }
    out.push_str("</svg>");
    out
}

/// A catch-up schedule as two step lines over the phases: the control plane's minor and
/// the workers' minor after each phase (empty without a schedule).
pub fn schedule(r: &ChangeReport) -> String {
    let Some(v) = &r.schedule else {
        return String::new();
    };
    let s = &v.schedule;
    let minor = |ver: &str| crate::cluster::parse_version(ver).map_or(0, |(_, m, _)| m);
    let mut cp = vec![minor(&s.from)];
    let mut workers = vec![minor(&s.from)];
    cp.extend(s.phases.iter().map(|p| minor(&p.control_plane)));
    workers.extend(s.phases.iter().map(|p| minor(&p.workers_after)));
    let lo = workers.iter().chain(&cp).min().copied().unwrap_or(0);
    let hi = workers.iter().chain(&cp).max().copied().unwrap_or(0);
    let (w, left, top, row_h) = (640.0, 60.0, 20.0, 28.0);
    let col = (w - left - 20.0) / s.phases.len().max(1) as f64;
    let h = top + row_h * (hi - lo) as f64 + 60.0;
    let x = |i: usize| left + col * i as f64;
    let y = |m: u32| top + row_h * (hi - m) as f64;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="control plane and worker versions over the phases" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#
    );
    for m in lo..=hi {
        out.push_str(&format!(
            r##"<line x1="{left}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#ddd"/><text x="0" y="{2:.1}" font-size="12">1.{m}</text>"##,
            y(m),
            w - 20.0,
            y(m) + 4.0
        ));
    }
    for i in 0..=s.phases.len() {
        let label = if i == 0 {
            "start".to_string()
        } else {
            format!("phase {i}")
        };
        out.push_str(&format!(
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            x(i),
            h - 30.0,
            esc(&label)
        ));
    }
    for (line, color, dash, name, row) in [
        (&cp, COLORS[0], "", "control plane", 0.0),
        (
            &workers,
            COLORS[1],
            r#" stroke-dasharray="6 3""#,
            "workers",
            1.0,
        ),
    ] {
        // A step line: flat within a phase, up at its end.
        let mut d = format!("M{:.1},{:.1}", x(0), y(line[0]));
        for (i, m) in line.iter().enumerate().skip(1) {
            d.push_str(&format!(" H{:.1} V{:.1}", x(i), y(*m)));
        }
        out.push_str(&format!(
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="3"{dash}><title>{name}</title></path>"#
        ));
        let ly = h - 12.0;
        let lx = left + 160.0 * row;
        out.push_str(&format!(
            r#"<rect x="{lx:.1}" y="{:.1}" width="12" height="4" fill="{color}"/><text x="{:.1}" y="{ly:.1}" font-size="12">{name}</text>"#,
            ly - 6.0,
            lx + 18.0
        ));
    }
    out.push_str("</svg>");
    out
}
