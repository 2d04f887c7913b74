//! The seam for signers outside this process: a KMS or an HSM holds the private key and signs;
//! tidepass holds only the public half. A [`SigningKey::external`] key mints like any other
//! (its `kid` is the public key's RFC 7638 thumbprint, its public half goes into the JWKS), and
//! its private part can never be exported, because tidepass never has it.
//!
//! `sign` is called on the minting path, synchronously: an adapter for a network KMS blocks
//! there, so keep it close (a local HSM, a signing agent on loopback) or mint on a blocking
//! thread.
//!
//! ```
//! use std::sync::Arc;
//! use tidepass::keys::{Algorithm, ExternalSigner, SigningKey};
//!
//! /// Stands in for an HSM: the key never leaves it.
//! struct Hsm(SigningKey);
//! impl ExternalSigner for Hsm {
//!     fn algorithm(&self) -> Algorithm { self.0.algorithm() }
//!     fn public_jwk(&self) -> serde_json::Value { self.0.public_jwk().unwrap_or_default() }
//!     fn sign(&self, message: &[u8]) -> tidepass::Result<Vec<u8>> { self.0.sign_raw(message) }
//! }
//! let hsm = Arc::new(Hsm(SigningKey::generate(Algorithm::ES256)?));
//! let key = SigningKey::external(hsm)?;
//! assert!(key.export_private().is_err(), "nothing to export: the HSM holds it");
//! # Ok::<(), tidepass::Error>(())
//! ```

use std::sync::Arc;

use serde_json::Value;

use super::Algorithm;
use crate::error::Result;

/// A private key held elsewhere (a KMS, an HSM) that signs on tidepass's behalf.
pub trait ExternalSigner: Send + Sync + 'static {
    /// The JWS algorithm it signs with (asymmetric).
    fn algorithm(&self) -> Algorithm;

    /// Its public key as a JWK (`kty` and the public members; no private ones).
    fn public_jwk(&self) -> Value;

    /// The JWS signature of `message` under [`ExternalSigner::algorithm`]: for ECDSA the
    /// fixed-size `r‖s` form (RFC 7518 §3.4), for RSA the modulus-sized block, for EdDSA the
    /// 64 bytes.
    ///
    /// # Errors
    ///
    /// Whatever the device answers; the token is then not minted.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// What the crypto layer keeps of an external signer.
pub(crate) struct External {
    pub(crate) signer: Arc<dyn ExternalSigner>,
    pub(crate) sig_len: usize,
}

impl External {
    /// Ask the device, and hold it to the signature length the algorithm has.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let sig = self.signer.sign(message)?;
        if sig.len() != self.sig_len {
            return Err(crate::Error::with(
                crate::ErrorKind::InvalidKey,
                "the external signer returned a signature of the wrong length",
            ));
        }
        Ok(sig)
    }
}
