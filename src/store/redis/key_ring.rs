//! The shared key ring on Redis: one hash, `{p}:{k}:ring` (`v`: its version, `doc`: the
//! document), written by a compare-and-set script. One key, so one slot on a cluster.

use redis::Script;
use redis::aio::ConnectionLike;

use super::{RedisStore, store_err};
use crate::error::Result;
use crate::store::key_ring::{KeyStore, StoredRing};

/// Write ARGV[2] as version ARGV[1] + 1 if the stored version is still ARGV[1] (0: none).
const SWAP: &str = r#"
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', v + 1, 'doc', ARGV[2])
return 1
"#;

impl<C: ConnectionLike + Clone + Send + Sync + 'static> RedisStore<C> {
    fn ring_key(&self) -> String {
        format!("{}:{{k}}:ring", self.prefix)
    }
}

impl<C: ConnectionLike + Clone + Send + Sync + 'static> KeyStore for RedisStore<C> {
    async fn load_key_ring(&self) -> Result<Option<StoredRing>> {
        let mut con = self.con.clone();
        let (v, doc): (Option<u64>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.ring_key())
            .arg("v")
            .arg("doc")
            .query_async(&mut con)
            .await
            .map_err(store_err)?;
        Ok(match (v, doc) {
            (Some(version), Some(doc)) => Some(StoredRing { version, doc }),
            _ => None,
        })
    }

    async fn swap_key_ring(&self, expected: u64, doc: &[u8]) -> Result<bool> {
        let _turn = self.turn().await?;
        let mut con = self.writes.clone();
        let written: i64 = Script::new(SWAP)
            .key(self.ring_key())
            .arg(expected)
            .arg(doc)
            .invoke_async(&mut con)
            .await
            .map_err(store_err)?;
        self.replicated(&mut con).await?;
        Ok(written == 1)
    }
}
