//! Where a command's words go: one JSON document on stdout with `--json`, human text on stderr.

use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Human progress and explanations: stderr, never mixed into JSON output.
    pub fn say(&self, msg: impl AsRef<str>) {
        if !self.json {
            eprintln!("{}", msg.as_ref());
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", msg.as_ref());
    }

    /// The command's result: JSON on stdout with `--json`, else the human text on stderr.
    pub fn done(&self, human: impl AsRef<str>, json: &impl Serialize) {
        if self.json {
            println!("{}", serde_json::to_string(json).unwrap_or_default());
        } else {
            eprintln!("{}", human.as_ref());
        }
    }
}
