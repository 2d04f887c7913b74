//! The `tidepass` binary, end to end: exit codes, one-line errors, files written.

use std::process::{Command, Output};

use serde_json::Value;

fn tidepass(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidepass"))
        .args(args)
        .output()
        .expect("run tidepass")
}

fn ok(args: &[&str]) -> String {
    let out = tidepass(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

/// Fails with status 1 (or 2 for usage) and one line on stderr, no backtrace.
fn fails(args: &[&str], status: i32) -> String {
    let out = tidepass(args);
    assert_eq!(out.status.code(), Some(status), "{args:?}");
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

fn tmp() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tidepass-cli-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("tmp");
    dir
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn keygen_mint_verify_inspect_for_eddsa_and_hmac() {
    for alg in ["EdDSA", "ES256", "ES384", "HS256"] {
        let dir = tmp();
        let out = dir.join("k");
        let out = out.to_str().expect("path");
        let kid = ok(&["keygen", "--alg", alg, "--out", out]);
        let jwks: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{out}/jwks.json")).expect("jwks"),
        )
        .expect("json");
        let hmac = alg.starts_with("HS");
        let key = if hmac {
            format!("{out}/secret")
        } else {
            format!("{out}/private.pem")
        };
        if hmac {
            assert_eq!(
                jwks["keys"].as_array().map(Vec::len),
                Some(0),
                "HMAC secrets are never published"
            );
        } else {
            assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
            assert!(jwks["keys"][0].get("d").is_none());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&key).expect("key").permissions().mode();
            assert_eq!(mode & 0o077, 0, "private key readable by others: {mode:o}");
        }
        // Never overwrite a key.
        fails(&["keygen", "--alg", alg, "--out", out], 1);

        let mut mint = vec![
            "mint",
            "--key",
            &key,
            "--iss",
            "I",
            "--aud",
            "A",
            "--sub",
            "alice",
            "--scope",
            "read",
            "--claim",
            "tenant=\"acme\"",
            "--claim",
            "level=3",
        ];
        if hmac {
            mint.extend(["--alg", alg]);
        }
        let token = ok(&mint);
        let jwks_path = format!("{out}/jwks.json");
        let mut verify = if hmac {
            vec!["verify", "--key", &key, "--alg", alg]
        } else {
            vec!["verify", "--jwks", &jwks_path]
        };
        verify.extend(["--iss", "I", "--aud", "A", &token]);
        let claims: Value = serde_json::from_str(&ok(&verify)).expect("claims json");
        assert_eq!(
            (
                claims["sub"].as_str(),
                claims["tenant"].as_str(),
                claims["level"].as_u64()
            ),
            (Some("alice"), Some("acme"), Some(3))
        );

        // Wrong audience, pinned clock past expiry: rejected with the reason, exit 1.
        let n = verify.len();
        verify[n - 2] = "B";
        assert!(fails(&verify, 1).contains("audience"));
        let exp = claims["exp"].as_u64().expect("exp").to_string();
        let mut late = verify.clone();
        let n = late.len();
        late[n - 2] = "A";
        late.splice(n - 1..n - 1, ["--at", &exp, "--leeway", "0"]);
        assert!(fails(&late, 1).contains("expired"), "{late:?}");

        let out = tidepass(&["inspect", &token]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("NOT VERIFIED"));
        let shown: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(shown["claims"]["sub"], "alice");
        assert_eq!(shown["header"]["typ"], "at+jwt");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}

#[test]
fn imported_pem_keys_and_their_jwks() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keys");
    let rsa = format!("{data}/rsa2048.pem");
    let jwks: Value =
        serde_json::from_str(&ok(&["jwks", "--key", &rsa, "--alg", "PS256"])).expect("json");
    assert_eq!(jwks["keys"][0]["alg"], "PS256");
    assert!(jwks["keys"][0].get("d").is_none() && jwks["keys"][0].get("p").is_none());
    let pkcs1 = format!("{data}/rsa2048-pkcs1.pem");
    let token = ok(&[
        "mint", "--key", &pkcs1, "--iss", "I", "--aud", "A", "--sub", "s",
    ]);
    let public = format!("{data}/rsa2048.pub.pem");
    ok(&[
        "verify", "--key", &public, "--iss", "I", "--aud", "A", &token,
    ]);
    assert!(fails(&["jwks", "--key", &format!("{data}/rsa1024.pem")], 1).contains("2048"));
    assert!(
        fails(
            &[
                "mint",
                "--key",
                &format!("{data}/p256-sec1.pem"),
                "--iss",
                "I",
                "--aud",
                "A",
                "--sub",
                "s"
            ],
            1
        )
        .contains("pkcs8")
    );
    fails(
        &[
            "mint",
            "--key",
            &format!("{data}/p521.pem"),
            "--iss",
            "I",
            "--aud",
            "A",
            "--sub",
            "s",
        ],
        1,
    );
    let ed = format!("{data}/ed25519.pem");
    let token = ok(&[
        "mint", "--key", &ed, "--iss", "I", "--aud", "A", "--sub", "s",
    ]);
    ok(&[
        "verify",
        "--key",
        &format!("{data}/ed25519.pub.pem"),
        "--iss",
        "I",
        "--aud",
        "A",
        &token,
    ]);
}

#[test]
fn bad_input_is_one_line_and_a_nonzero_exit() {
    fails(&["verify", "--iss", "I", "--aud", "A", "x"], 2);
    fails(&["keygen", "--alg", "ES512", "--out", "/tmp/never"], 2);
    fails(
        &[
            "keygen",
            "--alg",
            "RS256",
            "--out",
            tmp().to_str().expect("p"),
        ],
        1,
    );
    fails(&["inspect", "not-a-token"], 1);
    fails(&["jwks", "--key", "/nonexistent/key.pem"], 1);
    fails(
        &[
            "mint",
            "--key",
            "/dev/null",
            "--iss",
            "I",
            "--aud",
            "A",
            "--sub",
            "s",
        ],
        1,
    );
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/keys");
    fails(
        &[
            "mint",
            "--key",
            &format!("{data}/ed25519.pem"),
            "--iss",
            "I",
            "--aud",
            "A",
            "--sub",
            "s",
            "--claim",
            "sub=evil",
        ],
        1,
    );
    fails(
        &[
            "mint",
            "--key",
            &format!("{data}/ed25519.pem"),
            "--iss",
            "I",
            "--aud",
            "A",
            "--sub",
            "s",
            "--claim",
            "novalue",
        ],
        1,
    );
    assert!(tidepass(&["--help"]).status.success());
}

/// Regressions (issue 10): the header that used to panic the verifier (exit 101 with a
/// backtrace) is one line and exit 1; a token with surrounding whitespace is refused; the
/// Ed25519 key `keygen` writes is one OpenSSL reads.
#[test]
fn hostile_headers_whitespace_and_keygen_output_for_other_tools() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let dir = tmp();
    let out = dir.join("k");
    let out = out.to_str().expect("path");
    ok(&["keygen", "--alg", "EdDSA", "--out", out]);
    let jwks = format!("{out}/jwks.json");
    let hostile = format!(
        "{}.{}.AAAA",
        b64(r#"{"alg":"EdDSA","typ":"aaaaaaaaaaaéx"}"#),
        b64("{}")
    );
    let err = fails(
        &[
            "verify", "--jwks", &jwks, "--iss", "I", "--aud", "A", &hostile,
        ],
        1,
    );
    assert!(err.contains("typ"), "{err}");
    let key = format!("{out}/private.pem");
    let token = ok(&[
        "mint", "--key", &key, "--iss", "I", "--aud", "A", "--sub", "s",
    ]);
    ok(&[
        "verify", "--jwks", &jwks, "--iss", "I", "--aud", "A", &token,
    ]);
    for padded in [
        format!(" {token}"),
        format!("{token}\n"),
        format!("{token} "),
    ] {
        fails(
            &[
                "verify", "--jwks", &jwks, "--iss", "I", "--aud", "A", &padded,
            ],
            1,
        );
    }
    if let Some(openssl) = crate::common::tool("openssl") {
        let check = Command::new(openssl)
            .args(["pkey", "-in", &key, "-noout", "-check"])
            .output()
            .expect("openssl");
        assert!(
            check.status.success(),
            "openssl cannot read keygen's Ed25519 key: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
}
