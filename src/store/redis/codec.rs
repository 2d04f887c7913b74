//! How sessions and revocation entries are written in Redis: the session hash's fields, the
//! scripts' replies, and the log's members.

use redis::Value;

use super::{corrupt, fingerprint};
use crate::error::{Error, ErrorKind, Result};
use crate::revocation::{Entry, Target};
use crate::session::{Revocation, Session};

pub(super) fn fields(s: &Session) -> Result<Vec<(&'static str, String)>> {
    let body = serde_json::to_string(s)
        .map_err(|e| Error::source_from(ErrorKind::Serialization, "session", e))?;
    Ok(vec![
        ("body", body),
        ("gen", s.generation.to_string()),
        ("sec", s.secret_id.to_string()),
        ("rot", s.rotated_at.to_string()),
        ("used", s.last_used_at.to_string()),
        ("rep", s.grace_replays.to_string()),
        ("idle", s.idle_expires_at.to_string()),
        ("abs", s.absolute_expires_at.to_string()),
        ("rr", s.revoked.map_or("", |r| r.reason.as_str()).to_owned()),
        ("ra", s.revoked.map_or(0, |r| r.at).to_string()),
        // For the rotation script's binding check (the body holds it too).
        ("jkt", s.dpop_jkt.map(|t| t.to_string()).unwrap_or_default()),
        // For its risk check (text: 64 bits do not fit Lua's numbers; empty: none, so a
        // refresh that brings one asks the policy).
        (
            "rfp",
            s.risk_fingerprint
                .map(|p| p.to_u64().to_string())
                .unwrap_or_default(),
        ),
    ])
}

/// The session hash's fields in the order every read returns them (`HMGET`, here and in the
/// scripts).
pub(super) const FIELDS: [&str; 10] = [
    "body", "gen", "sec", "rot", "used", "rep", "idle", "abs", "rr", "ra",
];

/// A session from its fields in [`FIELDS`] order, read in place (no copies of the reply);
/// `None` when the key does not exist.
pub(super) fn from_values(v: &[Value]) -> Result<Option<Session>> {
    let [body, rest @ ..] = v else {
        return Err(corrupt("session fields"));
    };
    if matches!(body, Value::Nil) {
        return Ok(None);
    }
    let [
        generation,
        secret,
        rotated,
        used,
        replays,
        idle,
        abs,
        reason,
        at,
    ] = rest
    else {
        return Err(corrupt("session fields"));
    };
    let num = |v: &Value| -> Result<u64> {
        std::str::from_utf8(bytes(v)?)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(corrupt("session number"))
    };
    let mut s: Session = serde_json::from_slice(bytes(body)?)
        .map_err(|e| Error::source_from(ErrorKind::StoreCorrupt, "session body", e))?;
    s.generation = num(generation)?;
    s.secret_id = u8::try_from(num(secret)?).map_err(|_| corrupt("secret id"))?;
    s.rotated_at = num(rotated)?;
    s.last_used_at = num(used)?;
    s.grace_replays = u32::try_from(num(replays)?).map_err(|_| corrupt("replays"))?;
    s.idle_expires_at = num(idle)?;
    s.absolute_expires_at = num(abs)?;
    let reason = std::str::from_utf8(bytes(reason)?).map_err(|_| corrupt("revoke reason"))?;
    s.revoked = if reason.is_empty() {
        None
    } else {
        Some(Revocation {
            reason: reason.parse()?,
            at: num(at)?,
        })
    };
    Ok(Some(s))
}

pub(super) fn bytes(v: &Value) -> Result<&[u8]> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.as_bytes()),
        _ => Err(corrupt("session field missing")),
    }
}

/// A script's `{code, HMGET FIELDS…[, generation before]}` reply.
pub(super) fn script_reply(v: &Value) -> Result<(i64, Option<Session>, Option<u64>)> {
    let Value::Array(items) = v else {
        return Err(corrupt("script reply"));
    };
    let code = match items.first() {
        Some(Value::Int(c)) => *c,
        _ => return Err(corrupt("script code")),
    };
    let session = match items.get(1) {
        Some(Value::Array(fields)) => from_values(fields)?,
        _ => None,
    };
    let before = match items.get(2) {
        Some(Value::Int(g)) => u64::try_from(*g).ok(),
        _ => None,
    };
    Ok((code, session, before))
}

pub(super) fn encode_entry(e: &Entry) -> String {
    let t = e.target.code();
    format!("{t}:{:032x}:{}:{}", e.id, e.before, e.expires)
}

/// A log member: its version, entry and history fingerprint (members written before
/// fingerprints have none: 0).
pub(super) fn decode_entry(member: &str) -> Result<(u64, Entry, u64)> {
    let bad = || corrupt("revocation log member");
    let mut it = member.split(':');
    let mut next = || it.next().ok_or_else(bad);
    let version: u64 = next()?.parse().map_err(|_| bad())?;
    let target = next()?
        .parse()
        .ok()
        .and_then(Target::from_code)
        .ok_or_else(bad)?;
    let id = u128::from_str_radix(next()?, 16).map_err(|_| bad())?;
    let before = next()?.parse().map_err(|_| bad())?;
    let expires = next()?.parse().map_err(|_| bad())?;
    let head = fingerprint(it.next())?;
    if it.next().is_some() {
        return Err(bad());
    }
    Ok((
        version,
        Entry {
            target,
            id,
            before,
            expires,
        },
        head,
    ))
}
