//! Shared helpers.

use serde_json::Value;
use tidepass::ErrorKind;

pub(crate) fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub(crate) fn kind<T: std::fmt::Debug>(r: Result<T, tidepass::Error>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

/// Every single-character change in every segment of `token`: the middle and the last
/// character of each part, swapped for another base64url character.
pub(crate) fn tampered(token: &str) -> Vec<String> {
    let parts: Vec<&str> = token.split('.').collect();
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        for pos in [part.len() / 2, part.len() - 1, 0] {
            let mut p: Vec<u8> = part.as_bytes().to_vec();
            // Flip a high bit of the 6-bit value so the decoded bytes change even at the end
            // of a segment, where low bits may be padding.
            p[pos] = match p[pos] {
                b'A'..=b'Z' => b'a' + (p[pos] - b'A'),
                b'a'..=b'z' => b'A' + (p[pos] - b'a'),
                b'0'..=b'4' => b'A',
                b'5'..=b'9' => b'B',
                _ => b'C',
            };
            let mut q = parts.clone();
            let s = String::from_utf8(p).expect("ascii");
            q[i] = &s;
            out.push(q.join("."));
        }
    }
    out
}

/// `tests/data/js`, when `package` is installed there (`npm ci`, which .ci/run runs). Under CI it
/// must be (the test fails, naming it); locally a missing one is reported loudly and skipped.
pub(crate) fn js_dir(package: &str) -> Option<&'static str> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/js");
    if std::path::Path::new(dir)
        .join("node_modules")
        .join(package)
        .is_dir()
    {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "the npm package {package} is required under CI (.ci/run runs npm ci in {dir})"
    );
    eprintln!("SKIPPED: run `npm ci` in {dir}");
    None
}

/// An external program the test needs (an independent implementation). Under CI it must be
/// there (the test fails, naming it); locally a missing one is reported loudly and skipped.
pub(crate) fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "{name} is required under CI (install it in .ci/run)"
        );
        eprintln!("SKIPPED: {name} not found on PATH");
    }
    found
}

pub(crate) use crate::proc::Proc;
