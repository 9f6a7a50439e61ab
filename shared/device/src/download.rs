//! Downloading an update: its manifest's files when it has one (each from a bundle on
//! disk when one has it), else its zip; verified by SHA-256 (after decryption when the app
//! has a public key), written to a staging folder renamed into place, and staged for the
//! next start, with the plugin's reports along the way.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use updraft_core::action::Action;
use updraft_crypto::Session;

use crate::encryption::is_session_key;
use crate::fetch::fetch;
use crate::files::FileIndex;
use crate::lifecycle::{Refused, Report, Verified};
use crate::manifest::{self, Outcome};
use crate::progress::{self, Progress};
use crate::updater::{Downloaded, Error, Update, Updater, blocking, partials, sanitize};

impl Updater {
    /// Downloads `update` and stages it for the next start: its manifest's files when it
    /// has one (each from a bundle on disk when one has it), else its zip; either way
    /// verified by SHA-256 (after decryption, when the app has a public key), written to a
    /// staging folder and renamed into place. A download cut short resumes where it
    /// stopped at the next call.
    pub async fn download(&self, update: &Update) -> Result<Downloaded, Error> {
        let version = update.version.as_str();
        let _one_at_a_time = self.downloading.lock().await;
        if !self.state().wants(version) {
            return Ok(Downloaded::default());
        }
        let session = match (&self.key, is_session_key(&update.session_key)) {
            (Some(_), false) => {
                let e = Error::Bundle(
                    "the app has a public key and the bundle is not encrypted".into(),
                );
                // Refused before any download, as the plugin does: no `download_fail`.
                self.report(Action::SessionKeyRequired, version)?;
                return Err(e);
            }
            (Some(key), true) => match key.session(&update.session_key) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => return Err(self.failed(version, vec![], e)),
            },
            // Without a key an encrypted bundle fails its checksum, as in the plugin.
            (None, _) => None,
        };
        if update.manifest.is_empty() {
            self.download_zip(update, session).await
        } else {
            self.download_files(update, session).await
        }
    }

    async fn download_zip(
        &self,
        update: &Update,
        session: Option<Arc<Session>>,
    ) -> Result<Downloaded, Error> {
        let version = update.version.as_str();
        if update.checksum.is_empty() {
            self.report(Action::ChecksumRequired, version)?;
            return Err(Error::Bundle("the update has no checksum".into()));
        }
        let expected = match &self.key {
            Some(k) => k
                .checksum(&update.checksum)
                .map_err(|e| self.failed(version, vec![], e))?,
            None => update.checksum.to_ascii_lowercase(),
        };
        self.report(Action::DownloadZipStart, version)?;
        // One partial file per version and checksum: a retry resumes it, another bundle
        // does not.
        let key = Sha256::digest(format!("{version}\0{}", update.checksum));
        let partial = partials(&self.dir).join(format!("zip-{}", &hex::encode(key)[..24]));
        let mut progress = Progress::default();
        let fetched = fetch(
            &self.http,
            &update.url,
            &partial,
            self.config.max_bundle_bytes,
            |have, total| {
                let percent = progress::downloading(have, total.unwrap_or(0));
                if let Some(a) = progress.at(percent) {
                    let _ = self.report(a, version);
                }
            },
        )
        .await;
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                if matches!(e, Error::Bundle(_)) {
                    let _ = std::fs::remove_file(&partial);
                }
                return Err(self.failed(version, vec![], e));
            }
        };
        self.report(Action::DownloadZipComplete, version)?;

        // Decrypted (when encrypted) and hashed, off the async threads.
        let (src, limit) = (partial.clone(), self.config.max_bundle_bytes);
        let plain = partial.with_extension("plain");
        let out = plain.clone();
        let hashed = blocking(move || -> Result<(String, PathBuf), Error> {
            match session {
                Some(s) => {
                    let mut input = std::io::BufReader::new(std::fs::File::open(&src)?);
                    let file = std::fs::File::create(&out)?;
                    let mut w = crate::files::Hashing::new(std::io::BufWriter::new(file), limit);
                    s.decrypt_stream(&mut input, &mut w)
                        .map_err(|e| Error::Bundle(format!("cannot decrypt the zip: {e}")))?;
                    Ok((w.finish()?.0, out))
                }
                None => Ok((crate::files::hash_file(&src)?, src)),
            }
        })
        .await?;
        let cleanup = || {
            let _ = std::fs::remove_file(&partial);
            let _ = std::fs::remove_file(&plain);
        };
        let (got, source) = match hashed {
            Ok(h) => h,
            Err(e) => {
                cleanup();
                return Err(self.failed(version, vec![], e));
            }
        };
        // Refused (checksum, a failed version): reported, and nothing is unpacked.
        let accepted = self
            .state()
            .accepts(version, &expected, &Verified::Sha256(&got));
        if let Err((why, reports)) = accepted {
            cleanup();
            return Err(match why {
                Refused::Failed => Error::Refused(why),
                _ => self.failed(version, reports, Error::Refused(why)),
            });
        }
        let id = format!("{}-{}", sanitize(version), &got[..12]);
        let (dir, unpack_id) = (self.dir.clone(), id.clone());
        let unpacked = blocking(move || crate::unpack::unpack(&dir, &unpack_id, &source, limit))
            .await
            .and_then(|r| r);
        cleanup();
        let percents = unpacked.map_err(|e| self.failed(version, vec![], e))?;
        self.queue(
            percents
                .into_iter()
                .chain([progress::PLACED])
                .filter_map(|p| progress.at(p).map(|action| Report::new(action, version))),
        )?;
        self.stage(&id, version, &expected, &Verified::Sha256(&got))?;
        Ok(Downloaded {
            staged: true,
            received: fetched.received,
            ..Downloaded::default()
        })
    }

    async fn download_files(
        &self,
        update: &Update,
        session: Option<Arc<Session>>,
    ) -> Result<Downloaded, Error> {
        let version = update.version.as_str();
        let tasks = manifest::plan(&update.manifest, self.key.as_ref(), version)
            .map_err(|(e, reports)| self.failed(version, reports, e))?;
        self.report(Action::DownloadManifestStart, version)?;
        let id = manifest::bundle_id(&sanitize(version), &tasks);
        let staging = self.dir.join(format!(".staging-{id}"));
        std::fs::create_dir_all(&staging)?;
        let kept: Vec<String> = self
            .state()
            .referenced()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        let job = manifest::Job {
            http: self.http.clone(),
            staging: staging.clone(),
            partials: partials(&self.dir),
            index: Arc::new(FileIndex::load(&self.dir, &kept)),
            session,
            limit: self.config.max_bundle_bytes,
            version: version.to_string(),
        };
        let mut done = Downloaded::default();
        let mut first_error = None;
        let mut progress = Progress::default();
        let total = tasks.len() as u64;
        let mut outcomes = futures_util::stream::iter(&tasks)
            .map(|t| manifest::one(&job, t))
            .buffer_unordered(self.config.parallel_files.max(1));
        let mut completed = 0u64;
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Outcome::Reused => done.files_reused += 1,
                Outcome::Downloaded(bytes) => {
                    done.files_downloaded += 1;
                    done.received += bytes;
                }
                Outcome::Failed(e, reports) => {
                    self.queue(reports)?;
                    first_error.get_or_insert(e);
                    continue;
                }
            }
            completed += 1;
            if let Some(a) = progress.at(progress::downloading(completed, total)) {
                self.report(a, version)?;
            }
        }
        drop(outcomes);
        // The staging folder stays as it is: what was placed is reused by the next attempt.
        if let Some(e) = first_error {
            return Err(self.failed(version, vec![], e));
        }
        self.report(Action::DownloadManifestComplete, version)?;
        let index = tasks
            .iter()
            .map(|t| (t.target.clone(), t.sha.clone()))
            .collect();
        let (dir, place_id) = (self.dir.clone(), id.clone());
        blocking(move || crate::files::place(&dir, &place_id, &staging, &index))
            .await?
            .map_err(|e| self.failed(version, vec![], e.into()))?;
        if let Some(a) = progress.at(progress::PLACED) {
            self.report(a, version)?;
        }
        self.stage(&id, version, &update.checksum, &Verified::Files)?;
        done.staged = true;
        Ok(done)
    }

    /// A bundle whole in its folder: staged for the next start (`download_complete`).
    fn stage(
        &self,
        id: &str,
        version: &str,
        checksum: &str,
        verified: &Verified,
    ) -> Result<(), Error> {
        let refused = self.step(|s| match s.downloaded(id, version, checksum, verified) {
            Ok(r) => (None, r),
            Err((why, r)) => (Some(why), r),
        })?;
        match refused {
            Some(why) => Err(Error::Refused(why)),
            None => Ok(()),
        }
    }
}
