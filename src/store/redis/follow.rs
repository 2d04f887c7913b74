//! Push: a verifier's revocation list following a Redis revocation log over pub/sub.

use redis::aio::ConnectionLike;

use super::{RedisStore, store_err};
use crate::error::{Error, ErrorKind};
use crate::store::SessionStore;

/// Push: keeps a verifier's revocation list in step with a Redis revocation log as soon as an
/// issuer appends (pub/sub announcement, then a delta read), with a catch-up on every
/// (re)connection, and a snapshot after a gap or when the log went back (as
/// [`Syncer`](crate::revocation::Syncer) does). Runs until the task is dropped; `now` is read from `clock`.
///
/// `client` is used for pub/sub (a dedicated connection); `store` reads the log.
pub async fn follow_revocations<C>(
    client: redis::Client,
    store: RedisStore<C>,
    list: std::sync::Arc<crate::revocation::RevocationList>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    on_error: impl Fn(&Error),
) where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    use futures_util::StreamExt as _;
    // One round with the Syncer's rules: a snapshot after a gap or a log that went back.
    let syncer = crate::revocation::Syncer::new(list);
    let sync = || async {
        syncer
            .sync_changes_once(clock.now(), |since| {
                store.revocation_changes(since, clock.now())
            })
            .await
            .map(|_| ())
    };
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await.map_err(store_err)?;
            pubsub.subscribe(store.channel()).await.map_err(store_err)?;
            Ok::<_, Error>(pubsub)
        };
        match subscribed.await {
            Ok(pubsub) => {
                backoff = std::time::Duration::from_millis(100);
                // Anything appended while we were away: catch up first.
                if let Err(e) = sync().await {
                    on_error(&e);
                }
                let mut messages = pubsub.into_on_message();
                while messages.next().await.is_some() {
                    if let Err(e) = sync().await {
                        on_error(&e);
                    }
                }
                on_error(&Error::with(
                    ErrorKind::Store,
                    "revocation subscription lost; reconnecting",
                ));
            }
            Err(e) => on_error(&e),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
    }
}
