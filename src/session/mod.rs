//! The auth service's data model: sessions (one login on one device), their timeouts, the
//! rotation rule every store applies atomically, and the refresh-token format.
//!
//! Stores ([`crate::store`]) persist these records and the [`crate::Issuer`] drives them;
//! this module depends on neither.
//!
//! (One file of about 610 lines of code on purpose: the session record and the rotation
//! rule every store mirrors, kept beside the fields the rule reads and writes.)

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::keys::Thumbprint;

pub mod refresh;
mod risk;
pub use risk::RiskFingerprint;

/// A session id: 128 random bits, shown as 22 base64url characters. Not a secret (it appears
/// in access tokens as `sid`); knowing it grants nothing without a refresh token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; 16]);

impl SessionId {
    /// A new random id.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Random`] if the system RNG fails.
    pub fn random() -> Result<Self> {
        let mut b = [0u8; 16];
        crate::keys::crypto::fill_random(&mut b)?;
        Ok(Self(b))
    }

    /// The id from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::keys::b64(&self.0))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

impl FromStr for SessionId {
    type Err = Error;
    /// Parse the 22-character form.
    fn from_str(s: &str) -> Result<Self> {
        let mut b = [0u8; 18];
        match crate::token::b64::decode(s.as_bytes(), &mut b) {
            Some(16) if s.len() == 22 => {
                let mut id = [0u8; 16];
                id.copy_from_slice(&b[..16]);
                Ok(Self(id))
            }
            _ => Err(Error::with(ErrorKind::UnknownSession, "not a session id")),
        }
    }
}

impl Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the client told us about itself at login, kept for "your devices" screens and for the
/// risk policy on refresh. Each field is capped at 512 bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientContext {
    /// A label the user recognises ("Alice's iPhone").
    pub device: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The client's IP address as text.
    pub ip: Option<String>,
}

impl ClientContext {
    fn capped(mut self) -> Self {
        for f in [&mut self.device, &mut self.user_agent, &mut self.ip]
            .into_iter()
            .flatten()
        {
            if f.len() > 512 {
                let mut cut = 512;
                while !f.is_char_boundary(cut) {
                    cut -= 1;
                }
                f.truncate(cut);
            }
        }
        self
    }
}

/// Why a session ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RevokeReason {
    /// The user logged out on this device.
    Logout,
    /// The user (or an admin) revoked this one session.
    Revoked,
    /// "Log out everywhere else".
    RevokedOthers,
    /// "Log out everywhere", for example after a password change.
    RevokedAll,
    /// A rotated refresh token was presented again: probable theft.
    ReuseDetected,
    /// Privilege change: the session was replaced by a new one (session-fixation defence).
    Elevated,
    /// The risk policy denied a refresh.
    RiskDenied,
}

impl RevokeReason {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::RevokedOthers => "revoked_others",
            Self::RevokedAll => "revoked_all",
            Self::ReuseDetected => "reuse_detected",
            Self::Elevated => "elevated",
            Self::RiskDenied => "risk_denied",
        }
    }
}

impl FromStr for RevokeReason {
    type Err = Error;
    /// The inverse of [`RevokeReason::as_str`].
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "logout" => Self::Logout,
            "revoked" => Self::Revoked,
            "revoked_others" => Self::RevokedOthers,
            "revoked_all" => Self::RevokedAll,
            "reuse_detected" => Self::ReuseDetected,
            "elevated" => Self::Elevated,
            "risk_denied" => Self::RiskDenied,
            _ => {
                return Err(Error::with(
                    ErrorKind::StoreCorrupt,
                    "unknown revocation reason",
                ));
            }
        })
    }
}

/// A revocation: why and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// Why.
    pub reason: RevokeReason,
    /// When (Unix seconds).
    pub at: u64,
}

/// One login on one device. Holds no secret: refresh tokens are derived, never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The id.
    pub sid: SessionId,
    /// The user.
    pub subject: String,
    /// The generation of the current refresh token (1 at login, +1 per rotation).
    pub generation: u64,
    /// The refresh-secret id the current refresh token is made with.
    pub secret_id: u8,
    /// Login time.
    pub created_at: u64,
    /// Last login or refresh (grace replays included).
    pub last_used_at: u64,
    /// When the current generation was issued.
    pub rotated_at: u64,
    /// Grace replays served for the current generation.
    pub grace_replays: u32,
    /// The session ends at this time unless refreshed before (slides with each rotation, never
    /// past `absolute_expires_at`).
    pub idle_expires_at: u64,
    /// The session ends at this time whatever happens.
    pub absolute_expires_at: u64,
    /// Set when the session was revoked.
    pub revoked: Option<Revocation>,
    /// Scopes its access tokens carry.
    pub scope: Option<String>,
    /// The OAuth client.
    pub client_id: Option<String>,
    /// Custom claims its access tokens carry.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Authentication assurance level (for example NIST AAL 1–3); raised by elevation.
    pub assurance: u8,
    /// When the user last authenticated (Unix seconds).
    pub auth_time: u64,
    /// The device, user agent and IP given at login.
    pub context: ClientContext,
    /// The thumbprint of the DPoP key the session is bound to (RFC 9449), when the login
    /// proved possession of one: every refresh must carry a proof by that key, and its access
    /// tokens carry `cnf.jkt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<Thumbprint>,
    /// The risk policy's fingerprint of `context`, taken at login
    /// ([`RiskPolicy::fingerprint`](crate::issuer::guard::RiskPolicy::fingerprint)): the store
    /// compares it with the presented one on each refresh ([`RotationRules::risk`]). `None`
    /// when the issuer had no policy with a fingerprint then: every refresh with a context
    /// asks the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_fingerprint: Option<RiskFingerprint>,
    /// The session's entry in the issuer's Token Status Lists, when the issuer publishes them
    /// ([`crate::issuer::StatusLists`]): every access token of the session carries
    /// `status.status_list` pointing at it, and the session's revocation sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_index: Option<u64>,
}

impl Session {
    /// When the session stops being usable (without further refreshes).
    pub fn ends_at(&self) -> u64 {
        match self.revoked {
            Some(r) => r.at,
            None => self.idle_expires_at.min(self.absolute_expires_at),
        }
    }

    /// `true` while the session can be refreshed at `now`.
    pub fn is_active_at(&self, now: u64) -> bool {
        self.revoked.is_none() && now < self.ends_at()
    }
}

/// Session timeouts and the refresh grace rule.
///
/// Both timeouts are on by default: a session ends after `idle` without a refresh, and after
/// `absolute` whatever happens. Sessions count in whole seconds (they are stored as Unix
/// seconds), so [`Policy::validate`] refuses a duration with a fraction of a second.
///
/// Start from a preset and adjust fields, or use [`Policy::new`]; call [`Policy::validate`]
/// (the issuer does) before use:
///
/// ```
/// use std::time::Duration;
/// let mut p = tidepass::Policy::web();
/// p.grace = Duration::from_secs(20);
/// assert!(p.validate().is_ok());
/// p.grace = Duration::from_millis(1500);
/// assert!(p.validate().is_err()); // not whole seconds
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Policy {
    /// Idle timeout: each refresh pushes the end to now + idle (never past the absolute end).
    pub idle: Duration,
    /// Absolute lifetime from login.
    pub absolute: Duration,
    /// How long after a rotation the previous refresh token still yields the identical child
    /// (honest concurrent refreshes, or a response lost on a bad network).
    pub grace: Duration,
    /// How many such replays one generation may serve (it bounds how many access tokens one
    /// generation mints). One more is refused with [`ErrorKind::GraceReplayLimit`] and the
    /// session lives on: the parent inside the window is what honest tabs present, so it
    /// never counts as reuse.
    pub max_grace_replays: u32,
    /// What a refresh token from a generation *ahead* of its stored session means. Such a
    /// token's tag proves the issuer minted it, and the issuer mints generation `g` only after
    /// the store acknowledged the rotation to `g`: so the store has lost rotations (a replica
    /// promoted before it had them, a backup restored). `true` (every preset): the session
    /// catches up, rotating from the presented generation
    /// ([`Rotation::Recovered`], event
    /// [`Event::LostRotations`](crate::issuer::events::Event::LostRotations)), so the honest client stays
    /// logged in and any older token is reuse again. `false`: refused with
    /// [`ErrorKind::RefreshFromFuture`] and the session unchanged. The crate docs' threat model
    /// gives the argument.
    pub recover_lost_rotations: bool,
    /// For refresh tokens from a cookie jar shared by concurrent requests
    /// ([`Refresh::shared_jar`](crate::issuer::Refresh::shared_jar), which the token
    /// endpoint uses for cookie refreshes): inside the grace window after a rotation, the
    /// child it issued is handed out again when presented, instead of rotating once more
    /// (`true`, every preset). Requests that share one jar (a page's parallel fetches, tabs)
    /// send the parent on some and, on others, the child an earlier answer has already
    /// stored: rotating that child made the parent a grandparent, and the late parent then
    /// revoked an honest session (seen with chromium: five parallel refreshes from one page).
    /// Such a session rotates at most once per window; the theft signal is unchanged, since
    /// two holders of one token still diverge at the next rotation. Tokens a client holds
    /// itself rotate on every presentation whatever this says. `false`: jar refreshes rotate
    /// on every presentation too.
    pub settle_within_grace: bool,
}

/// The longest grace window [`Policy::validate`] accepts.
pub const MAX_GRACE: Duration = Duration::from_secs(300);

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

impl Policy {
    /// A policy with these timeouts, a 10 s grace window and 64 replays per generation.
    pub const fn new(idle: Duration, absolute: Duration) -> Self {
        Self {
            idle,
            absolute,
            grace: secs(10),
            max_grace_replays: 64,
            recover_lost_rotations: true,
            settle_within_grace: true,
        }
    }

    /// Banking-like: 15 minutes idle, 12 hours absolute, 5 s grace. An unattended session dies
    /// quickly, and nobody stays logged in across days.
    pub const fn banking() -> Self {
        Self {
            idle: secs(15 * 60),
            absolute: secs(12 * 3600),
            grace: secs(5),
            max_grace_replays: 32,
            recover_lost_rotations: true,
            settle_within_grace: true,
        }
    }

    /// Web (the default): 24 hours idle, 14 days absolute, 10 s grace. A browser tab used
    /// daily stays logged in for two weeks; a forgotten one ends the next day.
    pub const fn web() -> Self {
        Self {
            idle: secs(24 * 3600),
            absolute: secs(14 * 24 * 3600),
            grace: secs(10),
            max_grace_replays: 64,
            recover_lost_rotations: true,
            settle_within_grace: true,
        }
    }

    /// Mobile: 30 days idle, 365 days absolute, 30 s grace. Apps refresh silently in the
    /// background and users expect to stay logged in; the device is the second factor, and
    /// reuse detection plus "log out everywhere" are the brakes. The longer grace absorbs
    /// flaky networks that lose refresh responses.
    pub const fn mobile() -> Self {
        Self {
            idle: secs(30 * 24 * 3600),
            absolute: secs(365 * 24 * 3600),
            grace: secs(30),
            max_grace_replays: 64,
            recover_lost_rotations: true,
            settle_within_grace: true,
        }
    }

    /// Check the values make sense.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when a duration is not whole seconds, a timeout is zero,
    /// idle exceeds absolute, or the grace window exceeds [`MAX_GRACE`] or reaches the idle
    /// timeout.
    pub fn validate(&self) -> Result<()> {
        if [self.idle, self.absolute, self.grace]
            .iter()
            .any(|d| d.subsec_nanos() != 0)
        {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "session timeouts and grace are whole seconds",
            ));
        }
        if self.idle.is_zero() || self.absolute.is_zero() || self.idle > self.absolute {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "need 0 < idle <= absolute",
            ));
        }
        if self.grace > MAX_GRACE || self.grace >= self.idle {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                "grace must be <= 300 s and < idle",
            ));
        }
        Ok(())
    }

    /// The rules a store applies for a rotation at `now` under this policy: the next
    /// generation is made with refresh secret `secret_id`, and a reuse is listed until
    /// `list_reuse_until` (0: not listed).
    pub const fn rules(&self, now: u64, secret_id: u8, list_reuse_until: u64) -> RotationRules {
        RotationRules {
            now,
            idle: self.idle.as_secs(),
            grace: self.grace.as_secs(),
            max_grace_replays: self.max_grace_replays,
            recover_lost: self.recover_lost_rotations,
            // The issuer turns it on for a shared cookie jar's refreshes.
            settle: false,
            dpop: None,
            risk: None,
            secret_id,
            list_reuse_until,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::web()
    }
}

/// What a store needs to decide a rotation: the clock reading and the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RotationRules {
    /// The current time (Unix seconds). Stores never read a clock.
    pub now: u64,
    /// The idle timeout, seconds.
    pub idle: u64,
    /// The grace window, seconds.
    pub grace: u64,
    /// The replay cap per generation.
    pub max_grace_replays: u32,
    /// Whether a generation ahead of the store is a lost rotation to recover
    /// ([`Policy::recover_lost_rotations`]) or refused.
    pub recover_lost: bool,
    /// Whether the current generation presented inside the grace window of its own rotation
    /// is handed out again instead of rotating: for a refresh token from a shared cookie jar,
    /// under [`Policy::settle_within_grace`]. `false` from [`Policy::rules`].
    pub settle: bool,
    /// The refresh-secret id the next generation is made with.
    pub secret_id: u8,
    /// The thumbprint of the key whose DPoP proof came with this refresh (checked by the
    /// caller), if any. A DPoP-bound session rotates only for its own key: anything else is
    /// [`Rotation::KeyMismatch`], and nothing changes. `None` from [`Policy::rules`].
    pub dpop: Option<Thumbprint>,
    /// The risk policy's fingerprint of the presented client context, when the issuer checks
    /// one: a live session whose [`Session::risk_fingerprint`] does not
    /// [admit](RiskFingerprint::admits) it is [`Rotation::ContextChanged`], after the binding
    /// check and before every other rule, and nothing changes. `None` (from
    /// [`Policy::rules`]): no check.
    pub risk: Option<RiskFingerprint>,
    /// On reuse, a store whose [`SessionStore::lists_reuse`](crate::store::SessionStore::lists_reuse)
    /// is `true` puts the session on the revocation list until this time (Unix seconds) in
    /// the same atomic step as the revocation. 0: it does not.
    pub list_reuse_until: u64,
}

/// The outcome of presenting generation `g` of a session's refresh token (the table in ARCHITECTURE.md).
/// Each variant holds the session as it is *after* the decision.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Rotation {
    /// `g` was current: the session moved to `g + 1`.
    Rotated(Session),
    /// Inside the grace window of the latest rotation and under the replay cap, `g` was the
    /// previous generation or the one that rotation issued: the caller hands out the identical
    /// child (the session's current generation) again.
    GraceReplay(Session),
    /// `g` was the previous generation inside the grace window, but the generation has served
    /// its cap of replays: refused ([`ErrorKind::GraceReplayLimit`]). Nothing changed; the
    /// session lives on.
    GraceExhausted(Session),
    /// `g` was older, or previous but outside the window: the session has just been revoked
    /// for reuse.
    Reuse(Session),
    /// `g` was newer than the session and recovery is off
    /// ([`Policy::recover_lost_rotations`]): refused. Nothing changed.
    Future(Session),
    /// `g` was newer than the session: the store lost the rotations from `stored` to `g` (a
    /// failover or a restore), and the session has just rotated from `g` to `g + 1` as if
    /// they had never been lost. The caller hands out generation `g + 1`.
    Recovered {
        /// The session after the rotation.
        session: Session,
        /// The generation the store held before (so `g - stored` rotations were lost).
        stored: u64,
    },
    /// The session had already ended (revoked or timed out). Nothing changed.
    Ended(Session),
    /// The session is DPoP-bound and the refresh came without a proof by its key: refused
    /// before any other rule (a thief holding a copied token never rotates it, replays it or
    /// revokes the session). Nothing changed; the session lives on.
    KeyMismatch(Session),
    /// The refresh presented a risk fingerprint ([`RotationRules::risk`]) that the session's
    /// does not admit: the client context may have changed, and the issuer's risk policy must
    /// see the stored session before anything happens. Nothing changed; the issuer rotates
    /// again without the fingerprint if the policy allows.
    ContextChanged(Session),
}

impl Rotation {
    /// The session a store writes back for this outcome (`None`: nothing changed).
    pub fn written(&self) -> Option<&Session> {
        match self {
            Self::Rotated(s) | Self::GraceReplay(s) | Self::Reuse(s) => Some(s),
            Self::Recovered { session, .. } => Some(session),
            Self::Future(_)
            | Self::Ended(_)
            | Self::GraceExhausted(_)
            | Self::KeyMismatch(_)
            | Self::ContextChanged(_) => None,
        }
    }
}

/// The rotation rule, as one pure function of the stored session. Every store applies it
/// inside one atomic step (a lock, a transaction, a compare-and-set, a script) and writes back
/// the returned session when it differs from the stored one.
pub fn decide(current: &Session, presented: u64, rules: &RotationRules) -> Rotation {
    let now = rules.now;
    if !current.is_active_at(now) {
        return Rotation::Ended(current.clone());
    }
    // A bound session answers only its key's holder, before any rule that could change it.
    let bound = current.dpop_jkt.is_some();
    if bound && rules.dpop != current.dpop_jkt {
        return Rotation::KeyMismatch(current.clone());
    }
    // The risk check rides the rotation: a context the stored fingerprint does not admit goes
    // to the issuer's policy before any rule that could change the session.
    if let Some(presented_print) = rules.risk
        && presented_print != RiskFingerprint::ANY
        && !current
            .risk_fingerprint
            .is_some_and(|stored| stored.admits(presented_print))
    {
        return Rotation::ContextChanged(current.clone());
    }
    let mut s = current.clone();
    let rotate_from = |mut s: Session, g: u64| {
        s.generation = g.saturating_add(1);
        s.secret_id = rules.secret_id;
        s.rotated_at = now;
        s.last_used_at = now;
        s.grace_replays = 0;
        s.idle_expires_at = now.saturating_add(rules.idle).min(s.absolute_expires_at);
        s
    };
    // Inside the window after a rotation, the generation it issued and its parent both get the
    // identical child (that generation) again. One cookie jar shared by concurrent requests
    // (tabs, a page's parallel fetches) sends the parent on some and the child, already
    // stored by an earlier answer, on others: rotating the child again would make the parent
    // a grandparent, and the late parent would then revoke an honest session.
    let in_window = now < s.rotated_at.saturating_add(rules.grace);
    // Never for a bound session: there the current generation is presented only when its
    // holder uses it, so "the parent is presented" means "the child was never used" below.
    let settling =
        !bound && rules.settle && presented == s.generation && s.generation > 1 && in_window;
    if presented == s.generation && !settling {
        Rotation::Rotated(rotate_from(s, presented))
    } else if presented > s.generation {
        if !rules.recover_lost {
            return Rotation::Future(s);
        }
        let stored = s.generation;
        Rotation::Recovered {
            session: rotate_from(s, presented),
            stored,
        }
    } else if settling || presented.saturating_add(1) == s.generation && (in_window || bound) {
        // The immediate parent inside the window is what honest concurrent clients present:
        // never reuse. Over the cap it is refused, and nothing changes.
        //
        // For a DPoP-bound session the parent gets its child at any time, and without a cap:
        // only the key's holder can present it (checked above), and the child was never used
        // (using it would have rotated the session past it), so no second chain exists. This
        // is how a device killed between the server's rotation and saving the answer keeps
        // its session, seconds or days later.
        if s.grace_replays >= rules.max_grace_replays && !bound {
            return Rotation::GraceExhausted(s);
        }
        s.grace_replays = s.grace_replays.saturating_add(1);
        s.last_used_at = now;
        Rotation::GraceReplay(s)
    } else {
        s.revoked = Some(Revocation {
            reason: RevokeReason::ReuseDetected,
            at: now,
        });
        Rotation::Reuse(s)
    }
}

/// A new session record for a login at `now`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_session(
    sid: SessionId,
    subject: String,
    now: u64,
    policy: &Policy,
    secret_id: u8,
    scope: Option<String>,
    client_id: Option<String>,
    claims: serde_json::Map<String, serde_json::Value>,
    assurance: u8,
    auth_time: u64,
    context: ClientContext,
    dpop_jkt: Option<Thumbprint>,
) -> Session {
    let absolute = now.saturating_add(policy.absolute.as_secs());
    Session {
        sid,
        subject,
        generation: 1,
        secret_id,
        created_at: now,
        last_used_at: now,
        rotated_at: now,
        grace_replays: 0,
        idle_expires_at: now.saturating_add(policy.idle.as_secs()).min(absolute),
        absolute_expires_at: absolute,
        revoked: None,
        scope,
        client_id,
        claims,
        assurance,
        auth_time,
        context: context.capped(),
        dpop_jkt,
        risk_fingerprint: None,
        status_index: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(now: u64) -> Session {
        new_session(
            SessionId::from_bytes([1; 16]),
            "u".into(),
            now,
            &Policy::banking(),
            1,
            None,
            None,
            Default::default(),
            1,
            now,
            ClientContext::default(),
            None,
        )
    }

    fn rules(now: u64) -> RotationRules {
        Policy::banking().rules(now, 1, 0)
    }

    #[test]
    fn the_table() {
        let s = session(1000);
        let Rotation::Rotated(s2) = decide(&s, 1, &rules(1010)) else {
            panic!("rotate")
        };
        assert_eq!((s2.generation, s2.idle_expires_at), (2, 1010 + 900));
        assert!(matches!(
            decide(&s2, 1, &rules(1014)),
            Rotation::GraceReplay(_)
        ));
        assert!(
            matches!(decide(&s2, 1, &rules(1015)), Rotation::Reuse(_)),
            "grace is [rotated, rotated + grace)"
        );
        // Ahead of the store: a lost rotation, recovered by rotating from the presented one.
        let Rotation::Recovered { session, stored } = decide(&s2, 4, &rules(1011)) else {
            panic!("recover")
        };
        assert_eq!(
            (session.generation, stored, session.rotated_at),
            (5, 2, 1011)
        );
        assert!(matches!(
            decide(&session, 4, &rules(1012)),
            Rotation::GraceReplay(_)
        ));
        assert!(matches!(
            decide(&session, 3, &rules(1012)),
            Rotation::Reuse(_)
        ));
        let refuse = RotationRules {
            recover_lost: false,
            ..rules(1011)
        };
        assert!(matches!(decide(&s2, 3, &refuse), Rotation::Future(_)));
        let Rotation::Rotated(s3) = decide(&s2, 2, &rules(1011)) else {
            panic!("rotate")
        };
        let Rotation::Reuse(dead) = decide(&s3, 1, &rules(1012)) else {
            panic!("older is reuse")
        };
        assert_eq!(
            dead.revoked.map(|r| r.reason),
            Some(RevokeReason::ReuseDetected)
        );
        assert!(matches!(decide(&dead, 3, &rules(1013)), Rotation::Ended(_)));
    }

    #[test]
    fn a_shared_jar_settles_inside_the_window() {
        let jar = |now| RotationRules {
            settle: true,
            ..rules(now)
        };
        let s = session(1000);
        // A login's token has no parent to race with: it rotates at once.
        let Rotation::Rotated(s2) = decide(&s, 1, &jar(1000)) else {
            panic!("rotate")
        };
        // The child inside its own window: the identical child again, not a rotation that
        // would make the parent a grandparent.
        let Rotation::GraceReplay(settled) = decide(&s2, 2, &jar(1001)) else {
            panic!("the child inside the window settles")
        };
        assert_eq!(settled.generation, 2);
        assert!(matches!(
            decide(&settled, 1, &jar(1002)),
            Rotation::GraceReplay(_)
        ));
        // Out of the window it rotates, and the parent is reuse.
        let Rotation::Rotated(s3) = decide(&settled, 2, &jar(1005)) else {
            panic!("rotate after the window")
        };
        assert!(matches!(decide(&s3, 1, &jar(1006)), Rotation::Reuse(_)));
    }

    #[test]
    fn replay_cap_and_timeouts_at_their_boundaries() {
        let s = session(0);
        let Rotation::Rotated(mut s) = decide(&s, 1, &rules(10)) else {
            panic!()
        };
        for _ in 0..Policy::banking().max_grace_replays {
            let Rotation::GraceReplay(n) = decide(&s, 1, &rules(11)) else {
                panic!("replay")
            };
            s = n;
        }
        let Rotation::GraceExhausted(kept) = decide(&s, 1, &rules(11)) else {
            panic!("over the cap: refused, not reuse")
        };
        assert_eq!(kept, s, "nothing changes over the cap");
        assert!(kept.revoked.is_none());
        let s = session(0);
        assert!(matches!(decide(&s, 1, &rules(899)), Rotation::Rotated(_)));
        assert!(
            matches!(decide(&s, 1, &rules(900)), Rotation::Ended(_)),
            "idle end is exclusive"
        );
        // Keep refreshing: the absolute end still wins.
        let mut s = session(0);
        let mut now = 0;
        while now + 800 < 12 * 3600 {
            now += 800;
            let Rotation::Rotated(n) = decide(&s, s.generation, &rules(now)) else {
                panic!("{now}")
            };
            assert!(n.idle_expires_at <= n.absolute_expires_at);
            s = n;
        }
        assert!(matches!(
            decide(&s, s.generation, &rules(12 * 3600)),
            Rotation::Ended(_)
        ));
    }

    #[test]
    fn session_ids_round_trip() {
        let id = SessionId::random().expect("rng");
        assert_eq!(id.to_string().len(), 22);
        assert_eq!(id.to_string().parse::<SessionId>().expect("parse"), id);
        assert!("short".parse::<SessionId>().is_err());
        assert!(Policy::banking().validate().is_ok() && Policy::web().validate().is_ok());
        assert!(
            Policy::new(secs(10), secs(5)).validate().is_err()
                && Policy::new(secs(10), Duration::from_millis(10_500))
                    .validate()
                    .is_err()
                && Policy::new(secs(20), secs(20)).validate().is_ok()
        );
    }
}
