//! `tidepass feed …` and `tidepass log …`: revocation feeds and the store's log, for operators
//! (see RELIABILITY.md, "When the revocation log goes back").

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;
use tidepass::keys::VerifyingKeys;
use tidepass::revocation::Changes;

use super::{Failure, emit, pretty, read_text};

/// Open the store `$url` names ([`tidepass::store::AnyStore::connect`]) as `$s` and evaluate
/// `$body` (an async block) with it.
#[cfg(any(feature = "redb", feature = "redis", feature = "postgres"))]
macro_rules! with_store {
    ($url:expr, $prefix:expr, |$s:ident| $body:expr) => {{
        let url: &str = $url;
        if url.starts_with("memory:") {
            // A store of its own, empty and gone at exit: nothing the operator means.
            return Err(Failure("--store: memory: is no store to operate on".into()));
        }
        let $s = tidepass::store::AnyStore::connect(url, $prefix).await?;
        Ok::<_, Failure>($body.await?)
    }};
}

/// Feeds larger than this are refused (the binary form of about 3 million entries).
const MAX_FEED: u64 = 64 << 20;

#[derive(Subcommand)]
pub(crate) enum FeedCommand {
    /// Decode a revocation feed (signed, binary or JSON) and print its summary as JSON:
    /// kind, epoch, versions, history fingerprints, entry counts, and for a signed feed the
    /// key id and signature time. A signed feed is checked against --jwks and --issuer first.
    Inspect {
        /// The issuer's JWKS document (required for a signed feed).
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// The issuer identifier whose log the feed must be (required for a signed feed).
        #[arg(long)]
        issuer: Option<String>,
        /// The feed file; `-` or nothing for standard input.
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum LogCommand {
    /// Print the store's revocation log as JSON: epoch, version, history fingerprint, live
    /// entries.
    Status {
        /// redb:PATH, redis://… (rediss://…) or postgres://….
        #[arg(long)]
        store: String,
        /// Key prefix of a Redis store.
        #[arg(long, default_value = "tidepass")]
        prefix: String,
    },
    /// After restoring a store from a backup (or failing over to a replica that missed
    /// writes): append again every live entry of the saved feeds that the log lacks, and
    /// revoke again every session they list that the store holds as active. Idempotent.
    Relist {
        /// redb:PATH, redis://… (rediss://…) or postgres://….
        #[arg(long)]
        store: String,
        /// Key prefix of a Redis store.
        #[arg(long, default_value = "tidepass")]
        prefix: String,
        /// The issuer's JWKS document (required for signed feeds).
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// The issuer identifier whose log the feeds must be (required for signed feeds).
        #[arg(long)]
        issuer: Option<String>,
        /// Feeds saved before the store went back (signed, binary or JSON).
        #[arg(required = true)]
        feeds: Vec<PathBuf>,
    },
}

/// A feed read from `path` (`-`: standard input): checked when signed.
fn read_feed(
    path: Option<&Path>,
    jwks: Option<&Path>,
    issuer: Option<&str>,
) -> Result<(Changes, Option<u64>), Failure> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    let file = path.filter(|p| p.as_os_str() != "-");
    let name = file.map_or_else(|| "standard input".to_string(), |p| p.display().to_string());
    let reader: Box<dyn std::io::Read> = match file {
        Some(p) => Box::new(std::fs::File::open(p).map_err(|e| Failure(format!("{name}: {e}")))?),
        None => Box::new(std::io::stdin()),
    };
    reader
        .take(MAX_FEED + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure(format!("{name}: {e}")))?;
    if bytes.len() as u64 > MAX_FEED {
        return Err(Failure(format!("{name}: larger than 64 MiB")));
    }
    let bad = |e: &dyn std::fmt::Display| Failure(format!("{name}: {e}"));
    if bytes.starts_with(b"TPRL") {
        return Ok((Changes::decode(&bytes).map_err(|e| bad(&e))?, None));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Failure(format!(
            "{name}: not a revocation feed (binary, JSON or JWS)"
        ))
    })?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.starts_with('{') {
        let changes: Changes = serde_json::from_str(text).map_err(|e| bad(&e))?;
        return Ok((changes, None));
    }
    let Some(jwks) = jwks else {
        return Err(Failure(format!(
            "{name}: a signed feed is checked before use: give --jwks"
        )));
    };
    let Some(issuer) = issuer else {
        return Err(Failure(format!(
            "{name}: a signed feed is checked before use: give --issuer"
        )));
    };
    let keys = VerifyingKeys::from_jwks(&read_text(jwks)?)?;
    let (changes, signed_at) = Changes::verify_signed(text, &keys, issuer).map_err(|e| bad(&e))?;
    Ok((changes, Some(signed_at)))
}

/// The JSON summary of a feed or a log.
fn summary(changes: &Changes) -> serde_json::Value {
    let (kind, epoch, from, to, base, head, entries) = match changes {
        Changes::Snapshot(s) => (
            "snapshot", s.epoch, None, s.version, None, s.head, &s.entries,
        ),
        Changes::Delta(d) => (
            "delta",
            d.epoch,
            Some(d.from),
            d.to,
            Some(d.base),
            d.head,
            &d.entries,
        ),
    };
    let count = |t| entries.iter().filter(|e| e.target == t).count();
    use tidepass::revocation::Target;
    json!({
        "kind": kind,
        "epoch": epoch,
        "from": from,
        "version": to,
        "base": base.map(|b| format!("{b:016x}")),
        "head": format!("{head:016x}"),
        "entries": {
            "token": count(Target::Token),
            "session": count(Target::Session),
            "subject": count(Target::Subject),
        },
    })
}

pub(crate) fn feed(command: FeedCommand) -> Result<(), Failure> {
    match command {
        FeedCommand::Inspect { jwks, issuer, file } => {
            let (changes, signed_at) =
                read_feed(file.as_deref(), jwks.as_deref(), issuer.as_deref())?;
            let mut out = summary(&changes);
            if let (Some(at), Some(obj)) = (signed_at, out.as_object_mut()) {
                obj.insert("signed_at".into(), json!(at));
            }
            emit(&pretty(&out))
        }
    }
}

#[cfg(any(feature = "redb", feature = "redis", feature = "postgres"))]
pub(crate) fn log(command: LogCommand) -> Result<(), Failure> {
    use tidepass::clock::{Clock, SystemClock};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("runtime: {e}")))?;
    let now = SystemClock.now();
    match command {
        LogCommand::Status { store, prefix } => rt.block_on(async {
            let changes = with_store!(&store, &prefix, |s| async {
                tidepass::store::SessionStore::revocation_changes(&s, None, now).await
            })?;
            emit(&pretty(&summary(&changes)))
        }),
        LogCommand::Relist {
            store,
            prefix,
            jwks,
            issuer,
            feeds,
        } => {
            let saved = feeds
                .iter()
                .map(|f| read_feed(Some(f), jwks.as_deref(), issuer.as_deref()).map(|(c, _)| c))
                .collect::<Result<Vec<_>, _>>()?;
            rt.block_on(async {
                let saved = &saved;
                let done = with_store!(&store, &prefix, |s| async {
                    let mut total = (0, 0, 0, 0);
                    for changes in saved {
                        let r = tidepass::store::relist(&s, changes, now).await?;
                        total = (
                            total.0 + r.appended,
                            total.1 + r.sessions_revoked,
                            total.2 + r.subjects,
                            total.3 + r.unindexed,
                        );
                    }
                    Ok::<_, tidepass::Error>(total)
                })?;
                emit(&pretty(&json!({
                    "appended": done.0,
                    "sessions_revoked": done.1,
                    "subjects": done.2,
                    "unindexed": done.3,
                })))?;
                if done.3 > 0 {
                    eprintln!(
                        "tidepass: {} session(s) listed again without their status-list index \
                         (a binary or signed copy, sessions no longer in the store): relist \
                         from a JSON copy to restore them in the status lists too",
                        done.3
                    );
                }
                if done.2 > 0 {
                    eprintln!(
                        "tidepass: {} subject watermark(s) listed again: also revoke those \
                         subjects' sessions by name (Issuer::revoke_all)",
                        done.2
                    );
                }
                Ok(())
            })
        }
    }
}

#[cfg(not(any(feature = "redb", feature = "redis", feature = "postgres")))]
pub(crate) fn log(_: LogCommand) -> Result<(), Failure> {
    Err(Failure(
        "this tidepass was built without a store (features redb, redis, postgres)".into(),
    ))
}
