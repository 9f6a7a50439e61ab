//! Work that runs after the answer (bookkeeping writes, release health), counted so that a host can wait for them: `updraft
//! serve` at shutdown, a Lambda function after every answer (its sandbox freezes as soon as
//! the runtime and its extensions ask for the next event, and a frozen write may never run).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Pending {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// Counts one task down when it ends, however it ends (a panic included).
struct Done(Arc<Inner>);

impl Drop for Done {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Pending {
    /// Runs `work` in the background.
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        let done = Done(self.inner.clone());
        tokio::spawn(async move {
            let _done = done;
            work.await;
        });
    }

    /// Returns once no spawned work is running.
    pub async fn settle(&self) {
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.running.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    #[tokio::test]
    async fn settle_waits_for_every_spawned_write() {
        let pending = Pending::default();
        let written = Arc::new(AtomicUsize::new(0));
        for ms in [30, 5, 60] {
            let written = written.clone();
            pending.spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                written.fetch_add(1, Ordering::SeqCst);
            });
        }
        pending.settle().await;
        assert_eq!(written.load(Ordering::SeqCst), 3);
        // Nothing running: returns at once.
        pending.settle().await;
    }

    #[tokio::test]
    async fn a_panicking_write_does_not_hang_settle() {
        let pending = Pending::default();
        pending.spawn(async { panic!("boom") });
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        pending.spawn(async move { r.store(true, Ordering::SeqCst) });
        tokio::time::timeout(Duration::from_secs(5), pending.settle())
            .await
            .expect("settle returns");
        assert!(ran.load(Ordering::SeqCst));
    }
}
