//! Typed audit events: every security decision the issuer takes.
//!
//! Events go to `tracing` (target `tidepass::issuer::events`) by default; register an [`EventSink`] of
//! your own to count them, ship them to an audit log, or assert on them in tests. Events never
//! carry tokens or secrets.

use std::fmt;
use std::sync::Mutex;

use crate::error::ErrorKind;
use crate::session::{RevokeReason, SessionId};

/// One security decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A session was opened.
    LoggedIn {
        /// The new session.
        sid: SessionId,
        /// The user.
        subject: String,
    },
    /// A refresh rotated the session to `generation`.
    Rotated {
        /// The session.
        sid: SessionId,
        /// The new generation.
        generation: u64,
    },
    /// The previous refresh token was presented inside the grace window: the identical child
    /// was handed out again.
    GraceReplay {
        /// The session.
        sid: SessionId,
        /// The generation handed out (again).
        generation: u64,
    },
    /// The previous refresh token was presented inside the grace window once more than the
    /// replay cap allows: refused, the session kept (not reuse).
    GraceExhausted {
        /// The session.
        sid: SessionId,
        /// The session's current generation.
        generation: u64,
    },
    /// An old refresh token came back: the session was revoked.
    ReuseDetected {
        /// The session.
        sid: SessionId,
        /// The user.
        subject: String,
        /// The generation presented.
        presented: u64,
        /// The session's generation at the time.
        current: u64,
    },
    /// A refresh token's generation was ahead of its stored session: the store lost the
    /// rotations between (a failover to a replica that lagged, a restored backup), and the
    /// session has caught up by rotating from the presented generation
    /// ([`Policy::recover_lost_rotations`](crate::Policy::recover_lost_rotations)).
    LostRotations {
        /// The session.
        sid: SessionId,
        /// The generation presented (the newest the issuer had handed out).
        presented: u64,
        /// The generation the store still held.
        stored: u64,
    },
    /// A refresh token's generation was ahead of its session and recovery is off: refused.
    FutureGeneration {
        /// The session.
        sid: SessionId,
        /// The generation presented.
        presented: u64,
        /// The session's generation.
        current: u64,
    },
    /// A [`CircuitBreaker`](crate::store::CircuitBreaker) opened after `failures` store
    /// failures in a row: store calls fail fast until a probe succeeds.
    StoreCircuitOpened {
        /// The failures in a row that opened it.
        failures: u32,
    },
    /// A probe succeeded: the circuit is closed and calls go to the store again.
    StoreCircuitClosed,
    /// A refresh was refused (bad token, unknown or ended session).
    RefreshRejected {
        /// Why.
        kind: ErrorKind,
    },
    /// A session was revoked.
    Revoked {
        /// The session.
        sid: SessionId,
        /// Why.
        reason: RevokeReason,
    },
    /// The risk policy asked for step-up on a refresh.
    StepUpRequired {
        /// The session.
        sid: SessionId,
    },
    /// A privilege change replaced a session with a new one.
    Elevated {
        /// The old, now revoked, session.
        from: SessionId,
        /// The new session.
        to: SessionId,
        /// The new assurance level.
        assurance: u8,
    },
}

impl Event {
    /// A stable snake_case name for logs and metrics (`"reuse_detected"`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::LoggedIn { .. } => "logged_in",
            Self::Rotated { .. } => "rotated",
            Self::GraceReplay { .. } => "grace_replay",
            Self::GraceExhausted { .. } => "grace_exhausted",
            Self::ReuseDetected { .. } => "reuse_detected",
            Self::LostRotations { .. } => "lost_rotations",
            Self::FutureGeneration { .. } => "future_generation",
            Self::StoreCircuitOpened { .. } => "store_circuit_opened",
            Self::StoreCircuitClosed => "store_circuit_closed",
            Self::RefreshRejected { .. } => "refresh_rejected",
            Self::Revoked { .. } => "revoked",
            Self::StepUpRequired { .. } => "step_up_required",
            Self::Elevated { .. } => "elevated",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LoggedIn { sid, subject } => write!(f, "login sid={sid} sub={subject}"),
            Self::Rotated { sid, generation } => write!(f, "rotate sid={sid} gen={generation}"),
            Self::GraceReplay { sid, generation } => {
                write!(f, "grace replay sid={sid} gen={generation}")
            }
            Self::GraceExhausted { sid, generation } => {
                write!(f, "grace replays exhausted sid={sid} gen={generation}")
            }
            Self::ReuseDetected {
                sid,
                subject,
                presented,
                current,
            } => write!(
                f,
                "reuse detected sid={sid} sub={subject} presented={presented} current={current}"
            ),
            Self::LostRotations {
                sid,
                presented,
                stored,
            } => write!(
                f,
                "store lost rotations sid={sid} presented={presented} stored={stored}"
            ),
            Self::FutureGeneration {
                sid,
                presented,
                current,
            } => {
                write!(
                    f,
                    "future generation sid={sid} presented={presented} current={current}"
                )
            }
            Self::StoreCircuitOpened { failures } => {
                write!(f, "store circuit opened after {failures} failures")
            }
            Self::StoreCircuitClosed => f.write_str("store circuit closed"),
            Self::RefreshRejected { kind } => write!(f, "refresh rejected: {kind}"),
            Self::Revoked { sid, reason } => {
                write!(f, "revoke sid={sid} reason={}", reason.as_str())
            }
            Self::StepUpRequired { sid } => write!(f, "step-up required sid={sid}"),
            Self::Elevated {
                from,
                to,
                assurance,
            } => {
                write!(f, "elevate sid={from} -> {to} assurance={assurance}")
            }
        }
    }
}

/// Receives every [`Event`].
pub trait EventSink: Send + Sync + 'static {
    /// Handle one event. Called inline: keep it quick and never block on I/O.
    fn emit(&self, event: &Event);
}

/// Logs events through `tracing`: reuse and future generations at `warn`, the rest at `info`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

impl EventSink for TracingSink {
    /// Theft signals (reuse, a generation from the future) and a store that lost rotations at
    /// `warn`; refusals at `debug` (an
    /// attack flood must not flood the `info` log); the rest at `info`. Each record carries
    /// the event's stable name as the `event` field.
    fn emit(&self, event: &Event) {
        const T: &str = "tidepass::issuer::events";
        let name = event.name();
        match event {
            Event::ReuseDetected { .. }
            | Event::FutureGeneration { .. }
            | Event::LostRotations { .. }
            | Event::StoreCircuitOpened { .. } => {
                tracing::warn!(target: T, event = name, "{event}");
            }
            Event::RefreshRejected { kind } => {
                tracing::debug!(target: T, event = name, kind = kind.code(), "{event}");
            }
            Event::GraceExhausted { .. } | Event::StepUpRequired { .. } => {
                tracing::debug!(target: T, event = name, "{event}");
            }
            _ => tracing::info!(target: T, event = name, "{event}"),
        }
    }
}

/// Keeps every event in memory; for tests and demos.
#[derive(Debug, Default)]
pub struct MemorySink(Mutex<Vec<Event>>);

impl MemorySink {
    /// Take the events seen so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl EventSink for MemorySink {
    fn emit(&self, event: &Event) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
    }
}

impl<T: EventSink> EventSink for std::sync::Arc<T> {
    fn emit(&self, event: &Event) {
        (**self).emit(event);
    }
}

/// Sends each event to two sinks.
#[derive(Debug)]
pub struct Both<A, B>(pub A, pub B);

impl<A: EventSink, B: EventSink> EventSink for Both<A, B> {
    fn emit(&self, event: &Event) {
        self.0.emit(event);
        self.1.emit(event);
    }
}

/// Counts events through the `metrics` facade (feature `metrics`):
/// `tidepass_logins_total`, `tidepass_refreshes_total{outcome}`,
/// `tidepass_reuse_detected_total`, `tidepass_revocations_total{reason}`,
/// `tidepass_refresh_rejected_total{kind}`, `tidepass_step_up_total`, `tidepass_elevations_total`.
/// Minting counts `tidepass_tokens_minted_total`, verification
/// `tidepass_verify_failures_total{kind}`, and the issuer records
/// `tidepass_store_seconds{op}`. Install any `metrics` recorder (Prometheus, StatsD, …).
///
/// As the issuer signs while a rotation is in flight, `tidepass_store_seconds{op="rotate"}`
/// runs until the issuer has the store's answer (the signature's time where that is longer),
/// and the minted count includes the rare early token that was dropped unseen.
#[cfg(feature = "metrics")]
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricsSink;

/// Every metric tidepass records, with its description and unit (`describe_*` through the
/// `metrics` facade). Call once after installing a recorder; exporters then show `# HELP`.
#[cfg(feature = "metrics")]
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!("tidepass_logins_total", "Sessions opened by a login");
    describe_counter!(
        "tidepass_refreshes_total",
        "Refreshes served, by outcome (rotated, grace_replay)"
    );
    describe_counter!(
        "tidepass_reuse_detected_total",
        "Rotated refresh tokens presented again: sessions revoked for probable theft"
    );
    describe_counter!(
        "tidepass_revocations_total",
        "Sessions revoked, by reason (logout, revoked, revoked_all, reuse_detected, ...)"
    );
    describe_counter!(
        "tidepass_refresh_rejected_total",
        "Refreshes refused, by kind (the ErrorKind code)"
    );
    describe_counter!("tidepass_step_up_total", "Refreshes that demanded step-up");
    describe_counter!(
        "tidepass_store_circuit_opened_total",
        "Times a store circuit breaker opened"
    );
    describe_counter!(
        "tidepass_store_fast_failures_total",
        "Store calls a circuit breaker refused without calling the store"
    );
    metrics::describe_gauge!(
        "tidepass_store_circuit_open",
        "1 while a store circuit breaker is open"
    );
    describe_counter!(
        "tidepass_store_lost_rotations_total",
        "Refreshes that found the store behind the token (a failover or restore lost rotations)"
    );
    describe_counter!(
        "tidepass_elevations_total",
        "Sessions replaced by an elevation"
    );
    describe_counter!("tidepass_tokens_minted_total", "Access tokens signed");
    describe_counter!(
        "tidepass_verify_failures_total",
        "Access tokens refused by a verifier, by kind (the ErrorKind code)"
    );
    describe_counter!(
        "tidepass_revocations_stale_total",
        "Verifications that went ahead with a revocation list past max_staleness (fail open)"
    );
    metrics::describe_gauge!(
        "tidepass_revocations_age_seconds",
        Unit::Seconds,
        "Time since a verifier's revocation list last synced (set by Syncer::run)"
    );
    metrics::describe_gauge!(
        "tidepass_revocations_version_lag",
        "Feed versions a verifier's list is behind after its last sync"
    );
    describe_histogram!(
        "tidepass_store_seconds",
        Unit::Seconds,
        "Time of a store call as the issuer saw it, by op"
    );
}

#[cfg(feature = "metrics")]
impl EventSink for MetricsSink {
    fn emit(&self, event: &Event) {
        use metrics::counter;
        match event {
            Event::LoggedIn { .. } => counter!("tidepass_logins_total").increment(1),
            Event::Rotated { .. } => {
                counter!("tidepass_refreshes_total", "outcome" => "rotated").increment(1);
            }
            Event::GraceReplay { .. } => {
                counter!("tidepass_refreshes_total", "outcome" => "grace_replay").increment(1);
            }
            Event::GraceExhausted { .. } => {
                counter!("tidepass_refresh_rejected_total", "kind" => "grace_exhausted")
                    .increment(1);
            }
            Event::ReuseDetected { .. } => counter!("tidepass_reuse_detected_total").increment(1),
            Event::LostRotations { .. } => {
                counter!("tidepass_refreshes_total", "outcome" => "lost_rotations").increment(1);
                counter!("tidepass_store_lost_rotations_total").increment(1);
            }
            Event::FutureGeneration { .. } => {
                counter!("tidepass_refresh_rejected_total", "kind" => "future_generation")
                    .increment(1);
            }
            Event::RefreshRejected { kind } => {
                counter!("tidepass_refresh_rejected_total", "kind" => kind.code()).increment(1);
            }
            Event::StoreCircuitOpened { .. } => {
                counter!("tidepass_store_circuit_opened_total").increment(1);
            }
            Event::StoreCircuitClosed => {}
            Event::Revoked { reason, .. } => {
                counter!("tidepass_revocations_total", "reason" => reason.as_str()).increment(1);
            }
            Event::StepUpRequired { .. } => counter!("tidepass_step_up_total").increment(1),
            Event::Elevated { .. } => counter!("tidepass_elevations_total").increment(1),
        }
    }
}
