//! Helpers the test suites of several packages share (a dev-dependency only): the one way
//! to start `updraft serve` and learn its address, and small zips of given files.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

/// Spawns `cmd` (an `updraft serve` with `--listen 127.0.0.1:0`) with its stdout piped,
/// and reads the address it listens on from its first line. Panics, with the line, if
/// there is none: the test cannot go on without a server.
pub fn spawn_serve(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .expect("the updraft binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("updraft serve prints a line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in updraft serve's first line: {line:?}"))
        .to_string();
    (child, url)
}

/// A zip of `(name, content)` files, deflated.
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = zip::ZipWriter::new(&mut out);
    for (name, text) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .expect("a zip entry");
        w.write_all(text.as_bytes()).expect("zip bytes");
    }
    w.finish().expect("a whole zip");
    out.into_inner()
}
