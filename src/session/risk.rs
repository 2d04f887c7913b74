//! The risk policy's fingerprint of a client context, as sessions store it and stores compare
//! it ([`crate::issuer::guard::RiskPolicy::fingerprint`]).

/// What a [`RiskPolicy`](crate::issuer::guard::RiskPolicy) compares, digested to 64 bits ([`RiskPolicy::fingerprint`](crate::issuer::guard::RiskPolicy::fingerprint)). Stored
/// with each session at login; compared by the store on each refresh.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RiskFingerprint(u64);

impl RiskFingerprint {
    /// A context the policy allows against any other: admits every fingerprint.
    pub const ANY: Self = Self(0);

    /// The fingerprint of `parts` (SHA-256 over each part's length and bytes, its first 64
    /// bits; never [`RiskFingerprint::ANY`]). Stable across processes and versions, so every
    /// instance of a service computes the same one.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        for part in parts {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let digest = ctx.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.as_ref().get(..8).unwrap_or(&[1; 8]));
        Self(u64::from_be_bytes(first).max(1))
    }

    /// The 64 bits, as stores keep them.
    pub fn to_u64(self) -> u64 {
        self.0
    }

    /// The fingerprint from its 64 bits.
    pub fn from_u64(bits: u64) -> Self {
        Self(bits)
    }

    /// Whether a session stored with `self` may rotate for a request presenting `presented`
    /// without asking the policy: they are equal, or either is [`RiskFingerprint::ANY`].
    pub fn admits(self, presented: Self) -> bool {
        self == presented || self == Self::ANY || presented == Self::ANY
    }
}

impl std::fmt::Debug for RiskFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RiskFingerprint({:016x})", self.0)
    }
}
