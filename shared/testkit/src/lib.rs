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

/// One HTTP/1.1 request from `sock`, for the servers and proxies tests play: its head (the
/// request line and headers, without the blank line) and its body (`content-length`
/// bytes). `None` if the peer closes first.
pub async fn read_request(
    sock: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut read = async |buf: &mut Vec<u8>| match sock.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    };
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        read(&mut buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + 4 + len {
        read(&mut buf).await?;
    }
    Some((head, buf[head_end + 4..head_end + 4 + len].to_vec()))
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
