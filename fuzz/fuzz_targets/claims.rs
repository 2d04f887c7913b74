//! Differential: the claims fast path against serde_json. The harness writes claims JSON
//! (registered names, repeats, odd names, strings with and without escapes, integers, floats,
//! negatives, nulls, nesting, stray whitespace, Token Status List references) so the fast path
//! is reached; whenever it answers, serde_json must accept the same text and mean the same
//! claims.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tidepass::AccessClaims;

const NAMES: [&str; 15] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "scope",
    "client_id",
    "auth_time",
    "acr",
    "amr",
    "cnf",
    "status",
];

#[derive(Arbitrary, Debug)]
enum Name {
    Registered(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Val {
    Str(String),
    Uint(u64),
    Int(i64),
    Float(f64),
    Null,
    Bool(bool),
    List(Vec<String>),
    Raw(String),
    /// A Token Status List reference as the minter writes it (`idx` any integer).
    Status(i128, String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    members: Vec<(Name, Val)>,
    /// Start from a complete, valid set of claims.
    base: bool,
    /// Whitespace after this many bytes.
    space_at: Option<u8>,
}

fn value(v: &Val) -> String {
    match v {
        Val::Str(s) => serde_json::to_string(s).expect("string"),
        Val::Uint(n) => n.to_string(),
        Val::Int(n) => n.to_string(),
        Val::Float(f) => serde_json::to_string(f).unwrap_or_else(|_| "0.5".into()),
        Val::Null => "null".into(),
        Val::Bool(b) => b.to_string(),
        Val::List(l) => serde_json::to_string(l).expect("list"),
        Val::Raw(r) => r.clone(),
        Val::Status(idx, uri) => format!(
            r#"{{"status_list":{{"idx":{idx},"uri":{}}}}}"#,
            serde_json::to_string(uri).expect("uri")
        ),
    }
}

fuzz_target!(|input: Input| {
    let mut members: Vec<String> = Vec::new();
    if input.base {
        members.extend(
            [
                r#""iss":"https://auth.example""#,
                r#""sub":"alice""#,
                r#""aud":"api""#,
                r#""exp":2000000000"#,
                r#""iat":1700000000"#,
                r#""jti":"01a3185c-5000-7462-8c63-e6a54a2e40a8""#,
            ]
            .map(String::from),
        );
    }
    for (name, v) in &input.members {
        let name = match name {
            Name::Registered(i) => NAMES[usize::from(*i) % NAMES.len()].to_string(),
            Name::Other(s) => s.clone(),
        };
        members.push(format!(
            "{}:{}",
            serde_json::to_string(&name).expect("name"),
            value(v)
        ));
    }
    let mut text = format!("{{{}}}", members.join(","));
    if let Some(at) = input.space_at {
        let at = usize::from(at).min(text.len());
        if text.is_char_boundary(at) {
            text.insert(at, ' ');
        }
    }
    if let Some(fast) = tidepass::fuzzing::claims_fast_path(&text) {
        let full: AccessClaims<serde_json::Value> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("fast path accepted what serde_json refuses ({e}): {text}"));
        assert_eq!(
            serde_json::to_value(&fast).expect("fast"),
            serde_json::to_value(&full).expect("full"),
            "{text}"
        );
    }
});
