//! The web console's files, built into every binary that serves it (`updraft serve`, the
//! admin Lambda function): plain HTML, CSS and ES modules, no build step beyond `cargo
//! build`, nothing fetched from another host. The route that serves them is
//! `updraft_core::routes::console`.

/// One file of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
}

macro_rules! assets {
    ($($name:literal => $ty:literal,)*) => {
        /// Every file, by its name under `/console/`.
        pub const ALL: &[(&str, Asset)] = &[
            $(($name, Asset { bytes: include_bytes!(concat!("../assets/", $name)), content_type: $ty }),)*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "dom.js" => "text/javascript; charset=utf-8",
    "chart.js" => "text/javascript; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
}

/// The file named `name` (`""` is the page itself).
pub fn asset(name: &str) -> Option<Asset> {
    let name = if name.is_empty() { "index.html" } else { name };
    ALL.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

/// The page's Content-Security-Policy: its own scripts and styles only, no inline script,
/// no other host, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_served_and_nothing_else() {
        assert_eq!(asset("").unwrap().content_type, "text/html; charset=utf-8");
        for (name, a) in ALL {
            assert!(!a.bytes.is_empty(), "{name} is empty");
        }
        assert!(asset("../Cargo.toml").is_none());
        assert!(asset("nope.js").is_none());
    }

    #[test]
    fn scripts_and_styles_stay_within_the_page_weight_budget() {
        // Raw bytes bound the compressed ones: 150 KB compressed is the budget (BENCHMARKS.md
        // has the gzip figure).
        let total: usize = ALL
            .iter()
            .filter(|(n, _)| n.ends_with(".js") || n.ends_with(".css"))
            .map(|(_, a)| a.bytes.len())
            .sum();
        assert!(total <= 150 * 1024, "{total} bytes of JS and CSS");
    }

    #[test]
    fn no_markup_from_strings_and_no_other_host() {
        for (name, a) in ALL {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for banned in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
            ] {
                assert!(!text.contains(banned), "{name} uses {banned}");
            }
            for url in ["http://", "https://"] {
                let outside = text
                    .match_indices(url)
                    .any(|(i, _)| !text[i..].starts_with("http://www.w3.org/2000/svg"));
                assert!(!outside, "{name} names another host");
            }
        }
        let page = std::str::from_utf8(asset("").unwrap().bytes).unwrap();
        assert!(!page.contains("<script>"), "inline script in index.html");
        // No inline handler attributes (` onclick=` and the like) either.
        let handler = page.split(" on").skip(1).any(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(!handler, "an inline event handler in index.html");
    }
}
