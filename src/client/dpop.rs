//! The device's DPoP key (RFC 9449): a key pair made on the device, whose public half goes
//! into every proof and whose private half never leaves it (save it where the platform keeps
//! secrets, through the keeper's storage).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::{Algorithm, SigningKey, Thumbprint};

/// A DPoP key pair (ES256, ES384 or EdDSA, on the crypto backend: ring or aws-lc-rs) that
/// signs proofs.
///
/// Not `Clone`; `Debug` shows the algorithm and thumbprint only.
pub struct DpopKey {
    key: SigningKey,
    header_b64: String,
    jkt: Thumbprint,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.key.algorithm())
            .field("jkt", &self.jkt)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl DpopKey {
    /// A new key pair: `ES256` (the algorithm every DPoP server supports), `ES384` or `EdDSA`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKey`] for another algorithm; [`ErrorKind::Random`] if the system
    /// RNG fails.
    pub fn generate(alg: Algorithm) -> Result<Self> {
        if !matches!(alg, Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA) {
            return Err(Error::with(
                ErrorKind::InvalidKey,
                "a DPoP key is ES256, ES384 or EdDSA",
            ));
        }
        Self::from_signing_key(SigningKey::generate(alg)?)
    }

    /// A key restored from [`DpopKey::export`]'s PKCS#8 PEM.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidKey`] for anything but an ES256, ES384 or EdDSA private key.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let key = SigningKey::from_pem(pem.as_bytes(), None)?;
        if !matches!(
            key.algorithm(),
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA
        ) {
            return Err(Error::with(
                ErrorKind::InvalidKey,
                "a DPoP key is ES256, ES384 or EdDSA",
            ));
        }
        Self::from_signing_key(key)
    }

    fn from_signing_key(key: SigningKey) -> Result<Self> {
        let jkt = key.thumbprint().ok_or(Error::with(
            ErrorKind::InvalidKey,
            "DPoP key is not public-key",
        ))?;
        let Some(Value::Object(full)) = key.public_jwk() else {
            return Err(Error::with(ErrorKind::InvalidKey, "DPoP key has no JWK"));
        };
        // The required members only: the proof need not carry `kid`, `use` or `alg`.
        let jwk: Map<String, Value> = full
            .into_iter()
            .filter(|(k, _)| matches!(k.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"))
            .collect();
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": key.algorithm().as_str(),
            "jwk": jwk,
        });
        Ok(Self {
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            key,
            jkt,
        })
    }

    /// The private key as PKCS#8 PEM, for the device's secret storage.
    ///
    /// # Errors
    ///
    /// As [`SigningKey::export_private`].
    pub fn export(&self) -> Result<Zeroizing<String>> {
        self.key.export_private()
    }

    /// The key's RFC 7638 thumbprint: what the server binds the session and tokens to.
    pub fn thumbprint(&self) -> Thumbprint {
        self.jkt
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// A proof (the `DPoP` header's value) for a request with method `htm` to `htu` at `now`
    /// (Unix seconds, the server's time as best known), for a resource request carrying
    /// `access_token` (its hash goes into `ath`), with the server's `nonce` if it asked for one.
    /// The query and fragment of `htu` are left out, as RFC 9449 §4.2 says.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Random`] if the RNG fails (for the `jti`).
    pub fn proof_at(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<String> {
        let mut jti = [0u8; 16];
        crate::keys::crypto::fill_random(&mut jti)?;
        let htu = htu.split(['?', '#']).next().unwrap_or(htu);
        let mut claims = Map::new();
        claims.insert("jti".into(), URL_SAFE_NO_PAD.encode(jti).into());
        claims.insert("htm".into(), htm.into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), now.into());
        if let Some(token) = access_token {
            claims.insert(
                "ath".into(),
                crate::verify::dpop::access_token_hash(token).into(),
            );
        }
        if let Some(n) = nonce {
            claims.insert("nonce".into(), n.into());
        }
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| Error::source_from(ErrorKind::Serialization, "DPoP claims", e))?;
        crate::token::jws::sign(&self.header_b64, &payload, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::dpop::ProofChecker;

    #[test]
    fn proofs_check_and_keys_survive_export() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
            let key = DpopKey::generate(alg).expect("key");
            let checker = ProofChecker::new();
            let url = "https://api.example/me?x=1";
            let p = key
                .proof_at("GET", url, Some("tok"), None, 1_000)
                .expect("proof");
            let jkt = checker
                .check_at(&p, "GET", "https://api.example/me", Some("tok"), 1_000)
                .expect("checks");
            assert_eq!(jkt, key.thumbprint());
            let back = DpopKey::from_pem(&key.export().expect("pem")).expect("restored");
            assert_eq!(back.thumbprint(), key.thumbprint());
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
        assert!(DpopKey::generate(Algorithm::HS256).is_err());
        assert!(DpopKey::generate(Algorithm::RS256).is_err());
    }
}
