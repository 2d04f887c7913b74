//! Token Status Lists over a store ([`crate::issuer::StatusLists`]): indices handed out once
//! across instances, every access token pointing at its session's entry, and every way a
//! session ends setting that entry in the published list.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use super::{GRACE, Rig, kind, rig_with};
use crate::clock::Clock;
use crate::error::ErrorKind;
use crate::issuer::{Login, StatusLists, TokenPair};
use crate::revocation::status_list::{Status, token};
use crate::store::SessionStore;

const BASE: &str = "https://auth.example/statuslists";

fn lists() -> StatusLists {
    StatusLists::new(BASE)
        .and_then(|l| l.rebuild_after(Duration::ZERO))
        // Small blocks: several instances interleave, and a block runs out within the test.
        .and_then(|l| l.reserve(2))
        .expect("status lists")
}

/// The `status.status_list` of an access token: (idx, uri).
fn entry_of(pair: &TokenPair) -> (u64, String) {
    let payload = pair.access.as_str().split('.').nth(1).expect("a JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    let claims: serde_json::Value = serde_json::from_slice(&bytes).expect("claims");
    let st = &claims["status"]["status_list"];
    (
        st["idx"].as_u64().expect("status.status_list.idx"),
        st["uri"]
            .as_str()
            .expect("status.status_list.uri")
            .to_owned(),
    )
}

/// The status the issuer's published list gives `pair`'s entry, checked as a verifier would:
/// the signature against the JWKS keys, `sub` against the token's `uri`.
async fn status<S: SessionStore>(r: &Rig<S>, pair: &TokenPair) -> Status {
    let (idx, uri) = entry_of(pair);
    let k: u64 = uri
        .strip_prefix(&format!("{BASE}/"))
        .and_then(|k| k.parse().ok())
        .expect("a list of ours");
    let list = r
        .issuer
        .status_list(k)
        .await
        .expect("store")
        .expect("the list exists");
    let keys = r.issuer.minter().keys().verifying_keys();
    let verified = token::verify(&list.jwt, &keys, &uri, r.clock.now()).expect("verifies");
    verified
        .list
        .get(usize::try_from(idx).expect("index"))
        .expect("within the list")
}

/// Every session gets its own entry (never shared, across two instances on the store), every
/// access token of a session points at it (refreshes too), and each way a session ends sets
/// it: logout, revoke others, revoke all, reuse detection, elevation (the old session), RFC
/// 7009 revocation of its refresh token. Sessions still alive stay VALID.
pub async fn every_revocation_sets_the_entry<S: SessionStore>(store: S) {
    let shared = Arc::new(store);
    let a = rig_with(shared.clone(), |b| b.status_lists(lists()));
    let b = rig_with(shared.clone(), |b| b.status_lists(lists()));
    b.clock.set(a.clock.now());

    let mut pairs = Vec::new();
    for (i, who) in ["al", "al", "al", "bo", "cy", "di", "ed"]
        .iter()
        .enumerate()
    {
        let r = if i % 2 == 0 { &a } else { &b };
        pairs.push(r.issuer.login(Login::new(*who)).await.expect("login"));
    }
    let mut seen: Vec<(u64, String)> = pairs.iter().map(entry_of).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), pairs.len(), "one entry per session: {seen:?}");
    for p in &pairs {
        assert_eq!(status(&a, p).await, Status::VALID);
    }
    let [al1, al2, al3, bo, cy, di, ed] = <[TokenPair; 7]>::try_from(pairs).expect("seven");

    // A refresh's token points at the session's entry.
    let al1b = a
        .issuer
        .refresh(al1.refresh.expose())
        .await
        .expect("refresh");
    assert_eq!(entry_of(&al1b), entry_of(&al1));

    assert!(b.issuer.logout(al1.session_id).await.expect("logout"));
    assert_eq!(status(&a, &al1b).await, Status::INVALID, "logout");
    assert_eq!(status(&a, &al1).await, Status::INVALID, "every token of it");

    a.issuer
        .revoke_others("al", al2.session_id)
        .await
        .expect("revoke others");
    assert_eq!(status(&b, &al3).await, Status::INVALID, "revoke others");
    assert_eq!(status(&b, &al2).await, Status::VALID, "the one kept");

    b.issuer.revoke_all("bo").await.expect("revoke all");
    assert_eq!(status(&a, &bo).await, Status::INVALID, "revoke all");

    a.issuer.refresh(cy.refresh.expose()).await.expect("rotate");
    a.clock.advance(GRACE);
    b.clock.set(a.clock.now());
    assert_eq!(
        kind(b.issuer.refresh(cy.refresh.expose()).await),
        ErrorKind::RefreshReuse
    );
    assert_eq!(status(&a, &cy).await, Status::INVALID, "reuse detection");

    let di2 = a
        .issuer
        .elevate(di.session_id, 2, None)
        .await
        .expect("elevate");
    assert_eq!(
        status(&a, &di).await,
        Status::INVALID,
        "the elevated-from session"
    );
    assert_eq!(status(&a, &di2).await, Status::VALID, "the new one");
    assert_ne!(entry_of(&di2), entry_of(&di));

    assert!(
        b.issuer
            .revoke_refresh_token(ed.refresh.expose(), None)
            .await
            .expect("RFC 7009")
    );
    assert_eq!(status(&a, &ed).await, Status::INVALID, "RFC 7009");

    assert_eq!(status(&b, &al2).await, Status::VALID, "untouched");
    assert!(
        a.issuer.status_list(1).await.expect("store").is_none(),
        "no list 1 yet"
    );
    assert_eq!(
        a.issuer.status_list_uris().await.expect("store"),
        vec![format!("{BASE}/0")]
    );
}
