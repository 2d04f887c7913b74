//! One instance's keys as files: a signing key and a refresh secret in a directory, made on
//! first start and read on every later one, so a restart keeps both. For one process on an
//! embedded store; several instances share a key ring in their store instead
//! ([`KeyRing`](crate::store::key_ring::KeyRing)).

use std::io::Write as _;
use std::path::Path;

use zeroize::Zeroizing;

use super::{Algorithm, KeySet, RingKeys, SigningKey};
use crate::error::{Error, ErrorKind, Result};
use crate::session::refresh::RefreshSecrets;

/// The signing key's file in the directory (PKCS#8 PEM).
pub const SIGNING_KEY_FILE: &str = "signing.pem";
/// The refresh secret's file in the directory (64 hex digits).
pub const REFRESH_SECRET_FILE: &str = "refresh.secret";

fn io(detail: &'static str, e: std::io::Error) -> Error {
    Error::source_from(ErrorKind::InvalidConfig, detail, e)
}

/// The error with the file's path in it (a path is no secret; the contents never appear).
fn at(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Read `path` (refusing one that group or others may read), or write it with `make()` first
/// when it does not exist: to a temporary file of a random name (owner-only, synced), then
/// published with a hard link, which fails if `path` exists; so two processes racing on an
/// empty directory each write a complete file, one link wins, and both read the winner. The
/// directory is synced after, so a power loss cannot lose a key already in use.
fn kept(
    path: &Path,
    make: impl FnOnce() -> Result<Zeroizing<String>>,
) -> Result<Zeroizing<String>> {
    match read_private(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other.map_err(|e| io("a key file cannot be read", at(path, e))),
    }
    let text = make()?;
    let mut name = [0u8; 8];
    super::crypto::fill_random(&mut name)?;
    let suffix: String = name.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension(format!("tmp-{suffix}"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        // Another process published first: theirs is the key.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links (some network and FUSE mounts): a rename, unless
        // the file appeared meanwhile (a narrower race: one of two racing first starts may
        // then read the other's key after its own).
        Err(_) if !path.exists() => std::fs::rename(&tmp, path),
        other => other,
    });
    let _ = std::fs::remove_file(&tmp);
    linked.map_err(|e| io("a key file cannot be written", at(path, e)))?;
    if let Some(dir) = path.parent() {
        // Durable on Unix; elsewhere opening a directory fails, and the link is what there is.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    read_private(path).map_err(|e| io("a key file cannot be read", at(path, e)))
}

/// The file's text, if only its owner may read or write it (on Unix; elsewhere, the text).
/// One open: the mode checked is the mode of the file read.
fn read_private(path: &Path) -> std::io::Result<Zeroizing<String>> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "open to group or others (mode {:o}); a key file must be 0600 or 0400",
                    mode & 0o777
                ),
            ));
        }
    }
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// The signing key (of `alg`, made if missing) and refresh secret (32 random bytes, made if
/// missing) kept in `dir` ([`SIGNING_KEY_FILE`], [`REFRESH_SECRET_FILE`]); the directory is
/// created if needed. The result feeds [`Minter::with_keys`](crate::Minter::with_keys) and
/// [`IssuerBuilder::refresh_secrets`](crate::IssuerBuilder::refresh_secrets).
///
/// ```
/// # fn main() -> tidepass::Result<()> {
/// # let dir = std::env::temp_dir().join(format!("tidepass-doc-{}", std::process::id()));
/// use tidepass::keys::{Algorithm, files};
/// let first = files::load_or_create(&dir, Algorithm::EdDSA)?;
/// let again = files::load_or_create(&dir, Algorithm::EdDSA)?; // a restart: the same keys
/// assert_eq!(first.keys.active().kid(), again.keys.active().kid());
/// # std::fs::remove_dir_all(&dir).ok(); Ok(()) }
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidConfig`] when the directory or a file cannot be made or read, a file
/// is readable by group or others (Unix), or does not hold a key or a secret; [`ErrorKind::UnsupportedAlgorithm`] for an `alg` that cannot
/// be generated.
pub fn load_or_create(dir: &Path, alg: Algorithm) -> Result<RingKeys> {
    std::fs::create_dir_all(dir).map_err(|e| io("the key directory cannot be made", e))?;
    let pem = kept(&dir.join(SIGNING_KEY_FILE), || {
        SigningKey::generate(alg)?.export_private()
    })?;
    let key = SigningKey::from_pem(pem.as_bytes(), None)?;
    let hex = kept(&dir.join(REFRESH_SECRET_FILE), || {
        let mut secret = Zeroizing::new([0u8; 32]);
        super::crypto::fill_random(secret.as_mut())?;
        Ok(Zeroizing::new(
            secret.iter().map(|b| format!("{b:02x}")).collect(),
        ))
    })?;
    let hex = hex.trim();
    let bad = || {
        Error::with(
            ErrorKind::InvalidConfig,
            "the refresh secret file is not hex",
        )
    };
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return Err(bad());
    }
    let secret: Zeroizing<Vec<u8>> = Zeroizing::new(
        (0..hex.len() / 2)
            .map(|i| {
                hex.get(2 * i..2 * i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<_>>()
            .ok_or_else(bad)?,
    );
    Ok(RingKeys {
        keys: KeySet::new(key),
        secrets: RefreshSecrets::from_secret(1, &secret)?,
    })
}
