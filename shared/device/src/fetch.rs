//! One HTTP download into a partial file, resumed with `Range: bytes=N-` from what the file
//! already holds, as the plugin resumes zips and manifest files: a `206` from the offset is
//! appended, a `200` (or a `206` from 0) starts over, `416` means the partial file is
//! whole. A download cut short keeps its bytes for the next attempt; the caller deletes the
//! file once it fails verification or has been used.

use std::path::Path;

use tokio::io::AsyncWriteExt;

use crate::updater::Error;

/// What a finished download holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetched {
    /// The file's size.
    pub size: u64,
    /// Bytes that came over the network this time (the rest were already there).
    pub received: u64,
}

/// `bytes S-E/T` (`T` may be `*`).
fn content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let (start, end) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (end >= start).then_some((start, end, total))
}

fn http(e: impl std::fmt::Display) -> Error {
    Error::Http(e.to_string())
}

/// Downloads `url` into `partial`, at most `limit` bytes in all. `progress(have, total)`
/// is called as bytes arrive (`total` when the server said).
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    partial: &Path,
    limit: u64,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Fetched, Error> {
    let existing = tokio::fs::metadata(partial)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let mut req = client.get(url);
    if existing > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={existing}-"));
    }
    let mut resp = req.send().await.map_err(http)?;
    let status = resp.status().as_u16();
    let (offset, total) = match status {
        416 if existing > 0 => {
            return Ok(Fetched {
                size: existing,
                received: 0,
            });
        }
        200 => (0, resp.content_length()),
        206 => {
            let range = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(content_range);
            match range {
                Some((start, end, Some(total))) if start == existing || start == 0 => {
                    if end + 1 - start != resp.content_length().unwrap_or(end + 1 - start) {
                        return Err(http("a 206 whose body is not its Content-Range"));
                    }
                    (start, Some(total))
                }
                _ => {
                    return Err(http(format!(
                        "a 206 that does not continue from byte {existing}"
                    )));
                }
            }
        }
        _ => {
            return Err(Error::Server {
                status,
                error: "download".into(),
                message: format!("GET {url} answered {status}"),
            });
        }
    };
    if total.is_some_and(|t| t > limit) {
        return Err(Error::Bundle(format!(
            "{url} is {} bytes, more than the {limit} allowed",
            total.unwrap_or(0)
        )));
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(offset > 0)
        .truncate(offset == 0)
        .open(partial)
        .await?;
    let mut have = offset;
    progress(have, total);
    let outcome = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                have += chunk.len() as u64;
                if have > limit || total.is_some_and(|t| have > t) {
                    break Err(Error::Bundle(format!(
                        "{url} sent more than the {} bytes expected",
                        total.unwrap_or(limit).min(limit)
                    )));
                }
                if let Err(e) = file.write_all(&chunk).await {
                    break Err(e.into());
                }
                progress(have, total);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(http(e)),
        }
    };
    // What arrived stays on disk, cut short or not: the next attempt resumes from it.
    file.flush().await?;
    file.sync_all().await?;
    outcome?;
    if let Some(t) = total
        && have != t
    {
        return Err(http(format!("cut short at {have} of {t} bytes")));
    }
    Ok(Fetched {
        size: have,
        received: have - offset,
    })
}

#[cfg(test)]
mod tests {
    use super::content_range;

    #[test]
    fn content_ranges_parse_as_the_plugin_reads_them() {
        assert_eq!(content_range("bytes 0-9/10"), Some((0, 9, Some(10))));
        assert_eq!(content_range(" bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(content_range("bytes 9-5/10"), None);
        assert_eq!(content_range("bytes */10"), None);
        assert_eq!(content_range("items 0-9/10"), None);
        assert_eq!(content_range("bytes 0-x/10"), None);
    }
}
