//! The kill -9 tests' hooks (`--crash-at`), not application code: the library's HTTP client
//! and file storage, stopping at a named point of a refresh until the test kills the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use http::{Request, Response};
use tidepass::client::{
    BoxError, FileStorage, HttpClient, HyperClient, Saved, Storage, StorageError,
};

/// The test hook: where to stop and wait for the kill (armed once the session is set up).
#[derive(Clone, Default)]
pub(crate) struct Crash(pub(crate) Option<String>, pub(crate) Arc<AtomicBool>);

impl Crash {
    pub(crate) async fn point(&self, name: &str) {
        if self.1.load(Relaxed) && self.0.as_deref() == Some(name) {
            println!("CRASH-POINT {name}");
            std::future::pending::<()>().await;
        }
    }
}

/// The library's client and file storage, with the crash points around a send and a save.
#[derive(Clone)]
pub(crate) struct Hooked(
    pub(crate) HyperClient,
    pub(crate) FileStorage,
    pub(crate) Crash,
);

impl HttpClient for Hooked {
    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, BoxError> {
        self.2.point("before-send").await;
        let response = self.0.send(request).await?;
        self.2.point("after-send").await; // the server rotated; the answer is not read
        Ok(response)
    }
    async fn sleep(&self, d: Duration) {
        self.0.sleep(d).await;
    }
}

impl Storage for Hooked {
    async fn load(&self) -> Result<Option<Saved>, StorageError> {
        self.1.load().await
    }
    async fn save(&self, saved: &Saved) -> Result<(), StorageError> {
        self.2.point("after-answer").await;
        self.1.save(saved).await?;
        self.2.point("after-save").await;
        Ok(())
    }
    async fn clear(&self) -> Result<(), StorageError> {
        self.1.clear().await
    }
}
