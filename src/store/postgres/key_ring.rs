//! The shared key ring: one row, swapped by compare-and-set on its version.

use super::{PgStore, i, store_err, u};
use crate::error::Result;
use crate::store::key_ring::{KeyStore, StoredRing};

impl KeyStore for PgStore {
    async fn load_key_ring(&self) -> Result<Option<StoredRing>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT version, doc FROM tidepass_key_ring WHERE id = 1",
                &[],
            )
            .await
            .map_err(store_err)?;
        row.map(|r| {
            Ok(StoredRing {
                version: u(r.try_get(0).map_err(store_err)?),
                doc: r.try_get(1).map_err(store_err)?,
            })
        })
        .transpose()
    }

    async fn swap_key_ring(&self, expected: u64, doc: &[u8]) -> Result<bool> {
        let client = self.client().await?;
        let n = if expected == 0 {
            client
                .execute(
                    "INSERT INTO tidepass_key_ring (id, version, doc) VALUES (1, 1, $1)
                     ON CONFLICT (id) DO NOTHING",
                    &[&doc],
                )
                .await
        } else {
            client
                .execute(
                    "UPDATE tidepass_key_ring SET version = version + 1, doc = $2
                     WHERE id = 1 AND version = $1",
                    &[&i(expected), &doc],
                )
                .await
        }
        .map_err(store_err)?;
        Ok(n == 1)
    }
}
