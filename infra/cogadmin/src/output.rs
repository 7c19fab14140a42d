//! What the commands print: one JSON object a line with `--json` (or when
//! stdout is not a terminal, so scripts and pipes always get JSON), else
//! `key: value` text; and a progress bar on stderr for long runs, only on a
//! terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json_flag: bool) -> Self {
        Self {
            json: json_flag || !std::io::stdout().is_terminal(),
        }
    }

    /// A command's result: one object.
    pub fn record(&self, value: &Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", text_record(value));
        }
    }

    /// One item of a listing.
    pub fn row(&self, value: &Value) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", text_row(value));
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// `key: value` lines, keys aligned.
fn text_record(value: &Value) -> String {
    let Value::Object(map) = value else {
        return scalar(value);
    };
    let width = map.keys().map(String::len).max().unwrap_or(0);
    map.iter()
        .map(|(key, value)| format!("{key:width$}  {}", scalar(value)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key=value` pairs on one line, empty values left out.
fn text_row(value: &Value) -> String {
    let Value::Object(map) = value else {
        return scalar(value);
    };
    map.iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(key, value)| format!("{key}={}", scalar(value)))
        .collect::<Vec<_>>()
        .join("  ")
}

/// A progress bar (a known total) or spinner on stderr, drawn only when
/// stderr is a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn new(total: Option<u64>) -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = match total {
            Some(total) => {
                let bar = ProgressBar::with_draw_target(Some(total), target);
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, target);
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                {
                    bar.set_style(style);
                }
                bar
            }
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        Self { bar }
    }

    /// `done` of the total so far, and the counts to show.
    pub fn update(&self, done: u64, message: String) {
        self.bar.set_position(done);
        self.bar.set_message(message);
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_output_shows_every_field_and_json_is_one_line() {
        let value = json!({"matched": 3, "dry_run": true, "owner": "user:alice", "until": null});
        let record = text_record(&value);
        assert_eq!(record.lines().count(), 4);
        assert!(record.contains("matched  3"), "{record}");
        assert!(record.contains("owner    user:alice"), "{record}");
        assert!(record.contains("until    -"), "{record}");
        let row = text_row(&value);
        assert!(
            !row.contains("until") && row.contains("owner=user:alice"),
            "{row}"
        );
        assert!(!value.to_string().contains('\n'));
    }
}
