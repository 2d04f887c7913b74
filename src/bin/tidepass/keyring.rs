//! `tidepass keyring …`: the shared key ring in a store, for operators (README, "Running
//! several auth instances"). The KEK comes from the environment (`TIDEPASS_KEK`; for a
//! re-seal also `TIDEPASS_NEW_KEK`), never from the command line, where `ps` would show it.

use std::time::Duration;

use clap::Subcommand;
use serde_json::json;
use tidepass::clock::{Clock, SystemClock};
use tidepass::keys::{Kek, RingPolicy};
use tidepass::store::key_ring::{
    key_ring_status, reseal_key_ring, retire_signing_key_at, rotate_key_ring_at,
};

use super::{Failure, emit, pretty};

/// Which ring: its store and issuer.
#[derive(clap::Args)]
pub(crate) struct Ring {
    /// redb:PATH, redis://… (rediss://…) or postgres://….
    #[arg(long)]
    store: String,
    /// Key prefix of a Redis store.
    #[arg(long, default_value = "tidepass")]
    prefix: String,
    /// The issuer identifier whose ring it is.
    #[arg(long)]
    issuer: String,
}

#[derive(Subcommand)]
pub(crate) enum KeyringCommand {
    /// What the ring holds: the active kid, the next one, the retired ones, the KEK ids.
    Status {
        #[command(flatten)]
        ring: Ring,
    },
    /// Rotate by hand, in two safe steps: the first call publishes a next key; a call after
    /// --publish-ahead seconds makes it sign (the old key stays verify-only --keep seconds).
    Rotate {
        #[command(flatten)]
        ring: Ring,
        /// Seconds the next key must have been published before it signs (the JWKS max-age
        /// verifiers honour, plus how often instances look, plus a leeway).
        #[arg(long, default_value_t = 375)]
        publish_ahead: u64,
        /// Seconds a retired key stays in the JWKS (the longest token lifetime, plus a leeway).
        #[arg(long, default_value_t = 425)]
        keep: u64,
    },
    /// Stop trusting a leaked signing key at once: it leaves the ring (an active one is
    /// replaced by the next key, or a new one); tokens it signed stop verifying.
    Retire {
        #[command(flatten)]
        ring: Ring,
        /// The leaked key's kid.
        kid: String,
    },
    /// Re-seal the ring under the KEK in TIDEPASS_NEW_KEK (opened with TIDEPASS_KEK).
    Reseal {
        #[command(flatten)]
        ring: Ring,
    },
}

pub(crate) fn keyring(command: KeyringCommand) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("runtime: {e}")))?;
    let now = SystemClock.now();
    let kek = || Kek::from_env("TIDEPASS_KEK").map_err(|e| Failure(format!("TIDEPASS_KEK: {e}")));
    let out = match command {
        KeyringCommand::Status {
            ring:
                Ring {
                    store,
                    prefix,
                    issuer,
                },
        } => rt
            .block_on(async {
                with_store!(&store, &prefix, |s| async {
                    key_ring_status(&s, &issuer).await
                })
            })
            .map(|st| serde_json::to_value(st).unwrap_or_default())?,
        KeyringCommand::Rotate {
            ring:
                Ring {
                    store,
                    prefix,
                    issuer,
                },
            publish_ahead,
            keep,
        } => {
            let kek = kek()?;
            let policy = RingPolicy::signing(
                Duration::from_secs(publish_ahead.saturating_add(1).max(86_400)),
                Duration::from_secs(publish_ahead),
                Duration::from_secs(keep),
            );
            let (keys, changed) = rt.block_on(async {
                with_store!(&store, &prefix, |s| async {
                    rotate_key_ring_at(&s, &kek, &issuer, &policy, now).await
                })
            })?;
            json!({"changed": changed, "active": keys.keys.active().kid().as_str()})
        }
        KeyringCommand::Retire {
            ring:
                Ring {
                    store,
                    prefix,
                    issuer,
                },
            kid,
        } => {
            let kek = kek()?;
            let keys = rt.block_on(async {
                with_store!(&store, &prefix, |s| async {
                    retire_signing_key_at(&s, &kek, &issuer, &kid, now).await
                })
            })?;
            json!({"retired": kid, "active": keys.keys.active().kid().as_str()})
        }
        KeyringCommand::Reseal {
            ring:
                Ring {
                    store,
                    prefix,
                    issuer,
                },
        } => {
            let old = kek()?;
            let new = Kek::from_env("TIDEPASS_NEW_KEK")
                .map_err(|e| Failure(format!("TIDEPASS_NEW_KEK: {e}")))?;
            rt.block_on(async {
                with_store!(&store, &prefix, |s| async {
                    reseal_key_ring(&s, &issuer, &old, &new).await
                })
            })?;
            json!({"sealed_under": new.id()})
        }
    };
    emit(&pretty(&out))
}
