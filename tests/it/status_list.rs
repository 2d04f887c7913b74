//! The IETF Token Status List: the draft's own examples as test vectors (decoded by our
//! decoder, the signed example verified with its published key), and our encoder's output
//! read back.

use std::collections::BTreeMap;

use serde_json::Value;
use tidepass::ErrorKind;
use tidepass::keys::{Algorithm, SigningKey, VerifyingKeys};
use tidepass::revocation::status_list::{Bits, Status, StatusList, token};

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/status_list/draft_examples.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every example list decodes to the entries the draft's generator set, and to nothing else.
#[test]
fn the_drafts_lists_decode() {
    let v = vectors();
    let lists = v["lists"].as_array().expect("lists");
    assert_eq!(lists.len(), 6);
    for l in lists {
        let name = l["name"].as_str().expect("name");
        let bits = u8::try_from(l["bits"].as_u64().expect("bits")).expect("u8");
        let list = StatusList::decode(bits, l["lst"].as_str().expect("lst")).expect(name);
        let entries = usize::try_from(l["entries"].as_u64().expect("entries")).expect("usize");
        assert_eq!(list.len(), entries, "{name}");
        if let Some(want) = l["expect_bytes"].as_str() {
            assert_eq!(hex(list.as_bytes()), want, "{name}");
        }
        let set: BTreeMap<usize, u8> = l["statuses"]
            .as_object()
            .expect("statuses")
            .iter()
            .map(|(k, v)| (k.parse().expect("idx"), v.as_u64().expect("v") as u8))
            .collect();
        for idx in 0..list.len() {
            let want = set.get(&idx).copied().unwrap_or(0);
            if bits == 8 {
                continue; // 256 entries at random indices (seed 42): checked by count below
            }
            assert_eq!(list.get(idx), Some(Status(want)), "{name}: entry {idx}");
        }
        if bits == 8 {
            let nonzero = (0..list.len())
                .filter(|&i| list.get(i) != Some(Status::VALID))
                .count();
            // 256 random indices, one of them given 0, a few hit twice.
            assert!(
                (240..=255).contains(&nonzero),
                "{name}: {nonzero} entries set"
            );
        }
        assert_eq!(list.get(list.len()), None, "{name}: past the end");
    }
}

/// The draft's signed example verifies with the example key, and says what its list says.
#[test]
fn the_drafts_token_verifies() {
    let v = vectors();
    let t = &v["token"];
    let keys = VerifyingKeys::from_jwks(&t["jwks"].to_string()).expect("jwks");
    let jwt = t["jwt"].as_str().expect("jwt");
    let uri = t["uri"].as_str().expect("uri");
    let now = t["now"].as_u64().expect("now");
    let verified = token::verify(jwt, &keys, uri, now + 1).expect("verifies");
    assert_eq!(
        hex(verified.list.as_bytes()),
        t["expect_bytes"].as_str().expect("bytes")
    );
    assert_eq!(verified.ttl, Some(43200));
    // Another list's URI, a tampered payload, a wrong key: refused.
    let kind = |r: tidepass::Result<token::VerifiedStatusList>| r.expect_err("refused").kind();
    assert_eq!(
        kind(token::verify(
            jwt,
            &keys,
            "https://example.com/statuslists/2",
            now
        )),
        ErrorKind::InvalidSubject
    );
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].replacen('e', "f", 1);
    assert_eq!(
        kind(token::verify(&parts.join("."), &keys, uri, now)),
        ErrorKind::InvalidSignature
    );
    // Another P-256 key published under the example's kid "12".
    let other = SigningKey::generate(Algorithm::ES256).expect("key");
    let mut jwk = other.public_jwk().expect("jwk");
    jwk["kid"] = "12".into();
    let other_keys =
        VerifyingKeys::from_jwks(&serde_json::json!({ "keys": [jwk] }).to_string()).expect("keys");
    assert_eq!(
        kind(token::verify(jwt, &other_keys, uri, now)),
        ErrorKind::InvalidSignature
    );
    assert_eq!(
        kind(token::verify(jwt, &keys, uri, 2_291_720_170)),
        ErrorKind::Expired
    );
}

/// Our encoder's lists decode to what was set, for every width, at a million entries.
#[test]
fn our_lists_round_trip() {
    for bits in [Bits::One, Bits::Two, Bits::Four, Bits::Eight] {
        let mut list = StatusList::new(bits, 1 << 20).expect("list");
        let max = (1u16 << bits.get()) - 1;
        let mut want = BTreeMap::new();
        for k in 0..2000usize {
            let idx = k.wrapping_mul(2_654_435_761) % (1 << 20);
            let status = Status(u8::try_from(1 + k % usize::from(max)).expect("fits"));
            list.set(idx, status).expect("set");
            want.insert(idx, status);
        }
        let encoded = list.encode().expect("encode");
        assert_eq!(encoded.bits, bits.get());
        let back = StatusList::decode(encoded.bits, &encoded.lst).expect("decode");
        assert_eq!(back, list);
        for (idx, status) in want {
            assert_eq!(back.get(idx), Some(status));
        }
    }
}

/// A token we sign verifies against our JWKS and carries the draft's claims; an access token
/// (another `typ`) is not a status list token. Tampering: [`the_claims_rules`].
#[test]
fn our_tokens_verify_and_carry_the_drafts_claims() {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let mut list = StatusList::new(Bits::One, 1 << 16).expect("list");
    list.set(12345, Status::INVALID).expect("set");
    let uri = "https://auth.example/statuslists/3";
    let jwt = token::sign(&key, uri, &list, 1_800_000_000, 1_800_003_600, 300).expect("sign");
    let header: Value = serde_json::from_slice(&base64_url(jwt.split('.').next().expect("header")))
        .expect("header json");
    assert_eq!(header["typ"], "statuslist+jwt");
    let claims: Value =
        serde_json::from_slice(&base64_url(jwt.split('.').nth(1).expect("claims"))).expect("json");
    assert_eq!(claims["sub"], uri);
    assert_eq!(claims["ttl"], 300);
    assert_eq!(claims["status_list"]["bits"], 1);
    let v = token::verify(&jwt, &keys, uri, 1_800_000_100).expect("verifies");
    assert_eq!(v.list.get(12345), Some(Status::INVALID));
    assert_eq!(v.list.get(12344), Some(Status::VALID));
    // An access token is not a status list token.
    let minter = tidepass::Minter::new(key, "https://auth.example", "api").expect("minter");
    let at = minter.token("ada").mint_at(1_800_000_000).expect("mint");
    assert_eq!(
        token::verify(at.as_str(), &keys, uri, 1_800_000_100)
            .expect_err("typ")
            .kind(),
        ErrorKind::InvalidType
    );
    assert!(
        token::sign(
            &SigningKey::generate(Algorithm::EdDSA).expect("k"),
            uri,
            &list,
            5,
            5,
            1
        )
        .is_err()
    );
}

fn base64_url(part: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url")
}

/// Run `status_list_check.mjs MODE` with `input` on stdin: (exit code, stdout).
pub(crate) fn node_check(
    node: &std::path::Path,
    dir: &str,
    mode: &str,
    input: &Value,
) -> (i32, String) {
    use std::io::Write as _;
    let mut child = std::process::Command::new(node)
        .current_dir(dir)
        .args(["status_list_check.mjs", mode])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("node");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("node");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Checked by implementations nobody here wrote (npm, pinned in tests/data/js): panva/jose
/// verifies our Status List Token against our JWKS and @sd-jwt/jwt-status-list reads our list
/// (every width; the entries we set, and untouched ones); a tampered token is refused; and
/// @sd-jwt's own encoder makes lists our decoder reads.
#[test]
fn independent_libraries_read_our_lists_and_we_read_theirs() {
    let Some(node) = crate::common::tool("node") else {
        return;
    };
    let Some(dir) = crate::common::js_dir("@sd-jwt/jwt-status-list") else {
        return;
    };
    let key = SigningKey::generate(Algorithm::ES256).expect("key");
    let jwks = VerifyingKeys::from_keys([key.verifying_key()])
        .expect("keys")
        .to_jwks();
    let uri = "https://auth.example/statuslists/1";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for bits in [Bits::One, Bits::Two, Bits::Four, Bits::Eight] {
        let mut list = StatusList::new(bits, 100_000).expect("list");
        let top = u8::try_from((1u16 << bits.get()) - 1).expect("fits");
        let set = [(0usize, 1u8), (7, top), (4242, 1), (99_999, top)];
        for (idx, status) in set {
            list.set(idx, Status(status)).expect("set");
        }
        let jwt = token::sign(&key, uri, &list, now, now + 600, 60).expect("sign");
        let mut expect: serde_json::Map<String, Value> = set
            .iter()
            .map(|(i, s)| (i.to_string(), (*s).into()))
            .collect();
        expect.insert("1".into(), 0.into());
        expect.insert("50000".into(), 0.into());
        let input = serde_json::json!({
            "jwt": jwt, "jwks": jwks, "uri": uri, "bits": bits.get(), "expect": expect
        });
        let (code, out) = node_check(&node, dir, "verify", &input);
        assert_eq!(code, 0, "{} bits: {out}", bits.get());
        // A flipped bit in the signature, and a token for another list: jose refuses both.
        // (Not the last character: its low bits are padding, which jose's decoder ignores.)
        let mut forged = jwt.clone().into_bytes();
        let at = forged.len() - 10;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).expect("ascii");
        let (code, _) = node_check(
            &node,
            dir,
            "verify",
            &serde_json::json!({
                "jwt": forged, "jwks": jwks, "uri": uri, "expect": {}
            }),
        );
        assert_eq!(code, 2, "a forged signature is refused");
        let (code, _) = node_check(
            &node,
            dir,
            "verify",
            &serde_json::json!({
                "jwt": jwt, "jwks": jwks, "uri": "https://auth.example/statuslists/2", "expect": {}
            }),
        );
        assert_eq!(code, 2, "another list's token is refused");

        // Their encoder, our decoder.
        let set_json: serde_json::Map<String, Value> = set
            .iter()
            .map(|(i, s)| (i.to_string(), (*s).into()))
            .collect();
        let (code, out) = node_check(
            &node,
            dir,
            "make",
            &serde_json::json!({
                "bits": bits.get(), "len": 100_000, "set": set_json
            }),
        );
        assert_eq!(code, 0, "{out}");
        let theirs: Value = serde_json::from_str(out.trim()).expect("json");
        let decoded = StatusList::decode(
            u8::try_from(theirs["bits"].as_u64().expect("bits")).expect("u8"),
            theirs["lst"].as_str().expect("lst"),
        )
        .expect("their list decodes");
        for (idx, status) in set {
            assert_eq!(
                decoded.get(idx),
                Some(Status(status)),
                "{} bits, {idx}",
                bits.get()
            );
        }
        assert_eq!(decoded.get(1), Some(Status::VALID));
    }
}

/// The claims' own rules, on tokens crafted with the low-level signer: `nbf` and `iat` in the
/// future, `ttl` 0, claims that are an array, a missing `exp` (allowed), a tampered payload;
/// and what `sign` refuses to make.
#[test]
fn the_claims_rules() {
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let keys = VerifyingKeys::from_keys([key.verifying_key()]).expect("keys");
    let uri = "https://auth.example/statuslists/4";
    let now = 1_800_000_000u64;
    let lst = StatusList::new(Bits::One, 64)
        .expect("list")
        .encode()
        .expect("encode");
    let header = serde_json::json!({
        "alg": "EdDSA", "kid": key.kid().as_str(), "typ": "statuslist+jwt"
    })
    .to_string();
    let craft = |claims: Value| {
        key.sign_jws(header.as_bytes(), claims.to_string().as_bytes())
            .expect("sign")
    };
    let claims = |extra: Value| {
        let mut c = serde_json::json!({"sub": uri, "iat": now, "status_list": lst});
        c.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        c
    };
    let kind = |t: &str| {
        token::verify(t, &keys, uri, now)
            .expect_err("refused")
            .kind()
    };
    token::verify(&craft(claims(serde_json::json!({}))), &keys, uri, now)
        .expect("no exp, no ttl: allowed");
    assert_eq!(
        kind(&craft(claims(serde_json::json!({"nbf": now + 3600})))),
        ErrorKind::NotYetValid
    );
    token::verify(
        &craft(claims(serde_json::json!({"nbf": now + 30}))),
        &keys,
        uri,
        now,
    )
    .expect("nbf within the skew");
    assert_eq!(
        kind(&craft(claims(serde_json::json!({"iat": now + 3600})))),
        ErrorKind::IssuedInFuture
    );
    assert_eq!(
        kind(&craft(claims(serde_json::json!({"ttl": 0})))),
        ErrorKind::MissingClaim
    );
    assert_eq!(
        kind(&craft(claims(serde_json::json!({"exp": now})))),
        ErrorKind::Expired
    );
    assert_eq!(
        kind(&craft(serde_json::json!([uri, now, lst]))),
        ErrorKind::Malformed,
        "claims as an array"
    );
    let good = craft(claims(serde_json::json!({})));
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mid = parts[1].len() / 2;
    let flipped = if &parts[1][mid..=mid] == "A" {
        "B"
    } else {
        "A"
    };
    parts[1].replace_range(mid..=mid, flipped);
    assert_eq!(kind(&parts.join(".")), ErrorKind::InvalidSignature);
    // sign refuses a zero ttl and an empty list.
    let list = StatusList::new(Bits::One, 8).expect("list");
    assert!(token::sign(&key, uri, &list, now, now + 60, 0).is_err());
    let empty = StatusList::new(Bits::One, 0).expect("empty");
    assert!(token::sign(&key, uri, &empty, now, now + 60, 60).is_err());
}

/// The auth server's side, in process: the metadata names the aggregation; `/statuslists/k`
/// serves a list only once an index of it was handed out, as `application/statuslist+jwt`
/// with a `Cache-Control` lifetime no longer than its `ttl`, signed by the published keys for
/// its own URI; one URL per list; the CWT form is refused with 406; and a server whose issuer
/// would publish its lists elsewhere does not start.
#[cfg(feature = "server")]
#[tokio::test]
async fn the_auth_server_serves_its_lists() {
    use http::{Request, StatusCode};
    use tidepass::http::server::{AuthServer, Delivery, Reply};
    use tidepass::issuer::StatusLists;
    use tidepass::{Issuer, Login, MemoryStore, Minter};

    let issuer = |lists: Option<&str>| {
        let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
        let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
        let mut b = Issuer::builder(MemoryStore::new(), minter).ephemeral_refresh_secrets();
        if let Some(base) = lists {
            b = b.status_lists(StatusLists::new(base).expect("lists"));
        }
        b.build().expect("issuer")
    };
    let server = AuthServer::builder(issuer(Some("https://auth.example/statuslists")))
        .build()
        .expect("server");
    let get = |uri: &str, accept: Option<&str>| {
        let mut r = Request::get(uri);
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        r.body(Vec::new()).expect("request")
    };
    let json = |r: &Reply| -> Value { serde_json::from_slice(r.body()).expect("json") };

    let meta = server
        .handle(get("/.well-known/oauth-authorization-server", None))
        .await;
    assert_eq!(
        json(&meta)["status_list_aggregation_endpoint"],
        "https://auth.example/statuslists"
    );
    assert_eq!(
        server.handle(get("/statuslists/0", None)).await.status(),
        404
    );
    let none = server.handle(get("/statuslists", None)).await;
    assert_eq!(json(&none)["status_lists"], serde_json::json!([]));

    let (parts, ()) = Request::post("/login")
        .body(())
        .expect("request")
        .into_parts();
    let pair = server
        .login(&parts, Delivery::Body, async { Some(Login::new("alice")) })
        .await;
    assert_eq!(pair.status(), StatusCode::OK);
    let access = json(&pair)["access_token"].as_str().expect("at").to_owned();
    let claims: Value =
        serde_json::from_slice(&base64_url(access.split('.').nth(1).expect("payload")))
            .expect("claims");
    let uri = "https://auth.example/statuslists/0";
    assert_eq!(claims["status"]["status_list"]["uri"], uri);
    let idx = claims["status"]["status_list"]["idx"]
        .as_u64()
        .expect("idx");

    let r = server
        .handle(get("/statuslists/0", Some("application/statuslist+jwt")))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/statuslist+jwt");
    let cache = r.headers()["cache-control"].to_str().expect("ascii");
    let age: u64 = cache
        .strip_prefix("public, max-age=")
        .and_then(|a| a.parse().ok())
        .expect("public, max-age=N");
    assert!(age <= 60, "{cache}");
    let keys = server.issuer().minter().keys().verifying_keys();
    let jwt = std::str::from_utf8(r.body()).expect("utf-8");
    let list = token::verify(jwt, &keys, uri, server.issuer().now()).expect("verifies");
    assert_eq!(list.ttl, Some(60));
    assert_eq!(
        list.list.get(usize::try_from(idx).expect("idx")),
        Some(Status::VALID)
    );
    assert_eq!(
        json(&server.handle(get("/statuslists", None)).await)["status_lists"],
        serde_json::json!([uri])
    );

    for (path, status) in [
        ("/statuslists/1", 404),
        ("/statuslists/00", 404),
        ("/statuslists/0/", 404),
    ] {
        assert_eq!(
            server.handle(get(path, None)).await.status(),
            status,
            "{path}"
        );
    }
    let cwt = server
        .handle(get("/statuslists/0", Some("application/statuslist+cwt")))
        .await;
    assert_eq!(cwt.status(), 406);
    let post = Request::post("/statuslists/0")
        .body(Vec::new())
        .expect("request");
    assert_eq!(server.handle(post).await.status(), 405);

    // Lists published somewhere this server does not serve: refused at start.
    let elsewhere = AuthServer::builder(issuer(Some("https://cdn.example/statuslists"))).build();
    assert_eq!(
        elsewhere.err().map(|e| e.kind()),
        Some(ErrorKind::InvalidConfig)
    );
    // Without lists: no metadata name, no endpoint.
    let plain = AuthServer::builder(issuer(None)).build().expect("server");
    let meta = plain
        .handle(get("/.well-known/oauth-authorization-server", None))
        .await;
    assert!(
        json(&meta)
            .get("status_list_aggregation_endpoint")
            .is_none()
    );
    assert_eq!(
        plain.handle(get("/statuslists/0", None)).await.status(),
        404
    );
    for bad in [
        "http://auth.example/s",
        "https://auth.example/s/",
        "https://auth.example/s?x",
        "ftp://a/s",
        "https://",
    ] {
        assert!(StatusLists::new(bad).is_err(), "{bad}");
    }
    assert!(StatusLists::new("http://127.0.0.1:8080/statuslists").is_ok());
}

/// After a restore, `relist` from a binary (or signed) copy of the feed, which leaves the
/// status index out, still puts the index back: the published list shows the revocation
/// again, not only the native feed.
#[tokio::test]
async fn relist_from_a_binary_copy_keeps_the_status_index() {
    use tidepass::issuer::StatusLists;
    use tidepass::revocation::{Changes, Target};
    use tidepass::store::{SessionStore, relist};
    use tidepass::{Issuer, Login, MemoryStore, Minter};

    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, "https://auth.example", "api").expect("minter");
    let issuer = Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .status_lists(StatusLists::new("https://auth.example/statuslists").expect("lists"))
        .build()
        .expect("issuer");
    let pair = issuer.login(Login::new("alice")).await.expect("login");
    let now = issuer.now();
    // The backup: the session as it was before the logout.
    let before_logout = issuer
        .store()
        .load(pair.session_id)
        .await
        .expect("load")
        .expect("session");
    let index = before_logout.status_index.expect("an index");
    assert!(issuer.logout(pair.session_id).await.expect("logout"));
    let feed = issuer.revocation_changes(None).await.expect("changes");
    let saved = Changes::decode(&feed.encode().expect("encode")).expect("decode");
    let Changes::Snapshot(s) = &saved else {
        panic!("a snapshot")
    };
    assert_eq!(
        s.entries[0].before, 0,
        "the compact form leaves the index out"
    );

    let restored = MemoryStore::new();
    restored.create(&before_logout).await.expect("restore");
    let done = relist(&restored, &saved, now).await.expect("relist");
    assert_eq!(
        (done.appended, done.sessions_revoked, done.unindexed),
        (1, 1, 0)
    );
    let Changes::Snapshot(log) = restored
        .revocation_changes(None, now)
        .await
        .expect("changes")
    else {
        panic!("a snapshot")
    };
    assert_eq!(log.entries.len(), 1);
    assert_eq!(log.entries[0].target, Target::Session);
    assert_eq!(log.entries[0].before, index + 1, "the index is back");
}

/// A list built while the clock was ahead is not kept once the clock steps back: a logout
/// after the step shows in the next list (the rebuild interval counts from the list's `iat`,
/// and a list dated in the future is rebuilt).
#[tokio::test]
async fn a_clock_stepping_back_does_not_freeze_the_list() {
    use std::sync::Arc;
    use tidepass::clock::{Clock as _, ManualClock};
    use tidepass::issuer::StatusLists;
    use tidepass::{Issuer, Login, MemoryStore, Minter};

    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let key = SigningKey::generate(Algorithm::EdDSA).expect("key");
    let minter = Minter::new(key, "https://auth.example", "api")
        .expect("minter")
        .with_clock(clock.clone());
    let issuer = Issuer::builder(MemoryStore::new(), minter)
        .ephemeral_refresh_secrets()
        .clock(clock.clone())
        .status_lists(StatusLists::new("https://auth.example/statuslists").expect("lists"))
        .build()
        .expect("issuer");
    let pair = issuer.login(Login::new("alice")).await.expect("login");
    let uri = "https://auth.example/statuslists/0";
    let keys = issuer.minter().keys().verifying_keys();
    let status = |jwt: &str, now: u64| {
        let list = token::verify(jwt, &keys, uri, now).expect("verifies");
        let payload = pair.access.as_str().split('.').nth(1).expect("payload");
        let claims: Value = serde_json::from_slice(&base64_url(payload)).expect("claims");
        let idx = claims["status"]["status_list"]["idx"]
            .as_u64()
            .expect("idx");
        list.list
            .get(usize::try_from(idx).expect("idx"))
            .expect("entry")
    };
    let ahead = issuer.status_list(0).await.expect("store").expect("list");
    assert_eq!(status(&ahead.jwt, clock.now()), Status::VALID);
    clock.set(clock.now() - 30);
    assert!(issuer.logout(pair.session_id).await.expect("logout"));
    let after = issuer.status_list(0).await.expect("store").expect("list");
    assert_eq!(
        status(&after.jwt, clock.now() + 30),
        Status::INVALID,
        "rebuilt, not the list dated ahead"
    );
}
