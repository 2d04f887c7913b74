//! Where a device keeps its session between runs: the keeper saves every rotated refresh
//! token (and its DPoP key) through a [`Storage`] before it hands out the new access token,
//! and [`Keeper::restore`](super::Keeper::restore) loads it on start.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Tokens;

/// What the keeper saves: the tokens, when the access token expires, the offset of the
/// server's clock, and the DPoP key (PKCS#8 PEM) if the session is bound to one.
#[derive(Clone, PartialEq, Eq)]
pub struct Saved {
    /// The tokens.
    pub tokens: Tokens,
    /// When the access token expires, Unix seconds on the server's clock.
    pub expires_at: u64,
    /// The server's clock minus the device's, seconds (from the server's `Date`).
    pub clock_offset: i64,
    /// The DPoP private key, PKCS#8 PEM.
    pub dpop_key: Option<Zeroizing<String>>,
}

impl fmt::Debug for Saved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Saved")
            .field("tokens", &self.tokens)
            .field("expires_at", &self.expires_at)
            .field("clock_offset", &self.clock_offset)
            .field("dpop_key", &self.dpop_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// Why saving or loading failed: what the storage was doing, and the cause when there is one.
#[derive(Debug, thiserror::Error)]
#[error("token storage: {what}")]
pub struct StorageError {
    what: String,
    #[source]
    source: Option<super::BoxError>,
}

impl StorageError {
    /// A failure described by `what` ("the keychain refused the write").
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }

    /// A failure described by `what`, caused by `source` (an I/O error, the platform's).
    pub fn caused_by(what: impl Into<String>, source: impl Into<super::BoxError>) -> Self {
        Self {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

/// The application's place for the session: the platform keychain on a phone, a file on a
/// desktop ([`FileStorage`]). A save must be atomic: after a crash at any instant, `load`
/// returns either the old state or the new one, never a mix.
pub trait Storage: Send + Sync {
    /// The saved state, or `None` when there is none (first start, or after a logout).
    fn load(&self) -> impl Future<Output = Result<Option<Saved>, StorageError>> + Send;
    /// Replace the saved state, atomically and durably, before returning.
    fn save(&self, saved: &Saved) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Forget the saved state (logout, a session that ended).
    fn clear(&self) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// No persistence: the session lives as long as the process (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStorage;

impl Storage for NoStorage {
    async fn load(&self) -> Result<Option<Saved>, StorageError> {
        Ok(None)
    }
    async fn save(&self, _: &Saved) -> Result<(), StorageError> {
        Ok(())
    }
    async fn clear(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// The state in a JSON file, for desktops and tests: written to a temporary file beside it,
/// flushed to disk, renamed over the old one, and the directory flushed, so a crash at any
/// instant leaves the old state or the new one. Created readable by its owner only (Unix).
/// The calls block briefly on the file system.
#[derive(Debug, Clone)]
pub struct FileStorage {
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    access_token: String,
    refresh_token: String,
    expires_in: u64,
    expires_at: u64,
    clock_offset: i64,
    dpop_key: Option<String>,
}

fn io(what: &str, e: std::io::Error) -> StorageError {
    StorageError::caused_by(what, e)
}

impl FileStorage {
    /// State kept in the file at `path` (its directory must exist).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
        }
    }

    fn temp(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn write(&self, bytes: &[u8]) -> Result<(), StorageError> {
        let temp = self.temp();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&temp).map_err(|e| io("create", e))?;
        f.write_all(bytes).map_err(|e| io("write", e))?;
        f.sync_all().map_err(|e| io("sync", e))?;
        drop(f);
        std::fs::rename(&temp, &self.path).map_err(|e| io("rename", e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is.
            #[cfg(unix)]
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("sync directory", e))?;
            #[cfg(not(unix))]
            let _ = dir;
        }
        Ok(())
    }
}

impl Storage for FileStorage {
    async fn load(&self) -> Result<Option<Saved>, StorageError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => Zeroizing::new(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", e)),
        };
        let d: OnDisk = serde_json::from_slice(&bytes)
            .map_err(|e| StorageError::caused_by("the state file is not tidepass's JSON", e))?;
        if d.version != 1 {
            return Err(StorageError::new("the state file has an unknown version"));
        }
        Ok(Some(Saved {
            tokens: Tokens {
                access_token: d.access_token,
                refresh_token: d.refresh_token,
                expires_in: d.expires_in,
            },
            expires_at: d.expires_at,
            clock_offset: d.clock_offset,
            dpop_key: d.dpop_key.map(Zeroizing::new),
        }))
    }

    async fn save(&self, saved: &Saved) -> Result<(), StorageError> {
        let d = OnDisk {
            version: 1,
            access_token: saved.tokens.access_token.clone(),
            refresh_token: saved.tokens.refresh_token.clone(),
            expires_in: saved.tokens.expires_in,
            expires_at: saved.expires_at,
            clock_offset: saved.clock_offset,
            dpop_key: saved.dpop_key.as_ref().map(|k| k.to_string()),
        };
        let bytes = Zeroizing::new(
            serde_json::to_vec(&d).map_err(|e| StorageError::caused_by("encode", e))?,
        );
        // The copies in `d` hold secrets too.
        let OnDisk {
            refresh_token,
            dpop_key,
            access_token,
            ..
        } = d;
        drop((
            Zeroizing::new(refresh_token),
            dpop_key.map(Zeroizing::new),
            Zeroizing::new(access_token),
        ));
        self.write(&bytes)
    }

    async fn clear(&self) -> Result<(), StorageError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", e)),
        }
    }
}
