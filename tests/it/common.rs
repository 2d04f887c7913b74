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

/// A test that cannot run. Under `CI=true` it fails, naming `setup`; otherwise the line goes
/// straight to the terminal's stderr, past libtest's output capture (which hides what a
/// passing test prints through `eprintln!`), so whoever ran `cargo test` sees every test that
/// did not run and the command that sets it up.
pub(crate) fn skipped(what: &str, setup: &str) {
    use std::io::Write as _;
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}: required under CI; set it up with: {setup}");
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {what}; set it up with: {setup} ***"
    );
}

/// `tests/data/js`, with `package` installed there. A fresh clone has no `node_modules`: the
/// first test to need one runs `npm ci` (the versions pinned by the lock file) once for the
/// whole run; without npm the test is [`skipped`].
pub(crate) fn js_dir(package: &str) -> Option<&'static str> {
    static INSTALL: std::sync::Mutex<Option<bool>> = std::sync::Mutex::new(None);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/js");
    let installed = || {
        std::path::Path::new(dir)
            .join("node_modules")
            .join(package)
            .is_dir()
    };
    let setup = format!("npm ci --prefix {dir}");
    if installed() {
        return Some(dir);
    }
    let mut tried = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if tried.is_none() && !installed() {
        let npm = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix", dir])
            .stdout(std::process::Stdio::null())
            .status();
        *tried = Some(npm.is_ok_and(|s| s.success()));
    }
    drop(tried);
    if installed() {
        return Some(dir);
    }
    skipped(
        &format!("the npm package {package} is not installed"),
        &setup,
    );
    None
}

/// An external program the test needs (an independent implementation). Under CI it must be
/// there (the test fails, naming it); locally a missing one is [`skipped`], visibly.
pub(crate) fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        skipped(
            &format!("{name} is not on PATH"),
            &format!("apt-get install {name} (or bash .ci/run)"),
        );
    }
    found
}

pub(crate) use crate::proc::Proc;
