//! Where a command's words go: one JSON document on stdout with `--json`, human text on stderr.

use std::borrow::Cow;

use serde::Serialize;

/// A moment (ms since the epoch) for people: `2026-12-02T03:25:36Z`.
pub fn utc_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        updraft_core::device::utc_day(ms),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Text from the server (device data above all) made safe for a terminal: control
/// characters other than newline and tab become `\u{…}` escapes, so a device cannot move
/// the cursor, retitle the window or hide lines in an operator's `updraft app debug`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Human progress and explanations: stderr, never mixed into JSON output.
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", printable(msg.as_ref()));
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", printable(msg.as_ref()));
    }

    /// The command's result: JSON on stdout with `--json`, else the human text on stderr.
    pub fn done(&self, human: impl AsRef<str>, json: &impl Serialize) {
        if self.json {
            println!("{}", serde_json::to_string(json).unwrap_or_default());
        } else {
            eprintln!("{}", printable(human.as_ref()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escape_sequences_from_devices_are_shown_not_obeyed() {
        assert_eq!(
            printable("1.1.0\u{1b}]0;PWNED\u{7}\u{1b}[2K\rfake"),
            "1.1.0\\u{1b}]0;PWNED\\u{7}\\u{1b}[2K\\u{d}fake"
        );
        assert_eq!(printable("a\u{9b}b"), "a\\u{9b}b", "C1 controls too");
        assert_eq!(printable("two\nlines\tok"), "two\nlines\tok");
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
