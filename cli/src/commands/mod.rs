//! The client commands; each talks to `/v1` through [`crate::client::Api`].

pub mod app;
pub mod bundle;
pub mod channel;
pub mod debug;
pub mod key;
pub mod login;

use std::path::PathBuf;

use anyhow::{anyhow, bail};

use crate::client::Api;
use crate::config;
use crate::output::Out;

/// What every client command needs: where it runs, how to talk, how to print.
pub struct Ctx {
    pub out: Out,
    pub cwd: PathBuf,
    pub flag_key: Option<String>,
    pub flag_url: Option<String>,
}

impl Ctx {
    pub fn resolved(&self) -> anyhow::Result<config::Resolved> {
        config::resolve(
            self.flag_key.as_deref(),
            self.flag_url.as_deref(),
            &self.cwd,
            &config::user_file()?,
        )
    }

    /// An API client with the resolved key, or a clear message on how to log in.
    pub fn api(&self) -> anyhow::Result<Api> {
        let r = self.resolved()?;
        let key = r.api_key.ok_or_else(|| {
            anyhow!(
                "not logged in: run `updraft login <API_KEY> --api-url {}`, or set UPDRAFT_API_KEY",
                r.api_url
            )
        })?;
        Api::new(&r.api_url, &key)
    }

    pub fn app_id(&self, arg: Option<&str>) -> anyhow::Result<String> {
        config::app_id(arg, &self.cwd)
    }
}

/// Asks on the terminal; refuses when nobody can answer.
pub fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        bail!("{question} Pass --yes to confirm when not running in a terminal.");
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("cancelled")
    }
}
