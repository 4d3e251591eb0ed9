//! Progress bars for long work: drawn on a terminal, silent otherwise (pipes, CI, `--json`).

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-count progress bar; hidden unless `enabled` and stderr is a terminal.
pub fn bytes_bar(message: &str, enabled: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if !enabled || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// A thread-safe "add n bytes" callback for a bar. A bar never shows more done than its
/// total: work whose size was not known up front (a file of unknown size) raises the
/// total instead.
pub fn callback(bar: &ProgressBar) -> Arc<dyn Fn(u64) + Send + Sync> {
    let b = bar.clone();
    Arc::new(move |n| {
        if let Some(len) = b.length() {
            let pos = b.position().saturating_add(n);
            if pos > len {
                b.set_length(pos);
            }
        }
        b.inc(n)
    })
}
