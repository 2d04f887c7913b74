//! RFC 8414 metadata as a resource server reads it (`verify::metadata::Metadata::parse`):
//! any bytes, never a panic. Structure-aware: most inputs are JSON objects built from the
//! fields the parser looks at (so its checks, not serde's, are what gets fuzzed), some are the
//! raw bytes. Whatever it accepts names the issuer asked for and usable URLs, which the HTTP
//! client's parser (`http::Uri`) reads with the same scheme and host.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tidepass::verify::metadata::Metadata;

#[derive(Arbitrary, Debug)]
enum Value {
    Str(String),
    Num(i64),
    Null,
    List(Vec<String>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Option<Vec<u8>>,
    /// Field names (some the parser knows) and values.
    fields: Vec<(u8, String, Value)>,
    /// 0: the issuer asked for is the one in the document (when there is one).
    same_issuer: bool,
    asked: String,
}

const KNOWN: [&str; 5] = [
    "issuer",
    "jwks_uri",
    "introspection_endpoint",
    "tidepass_revocations_endpoint",
    "token_endpoint",
];

fuzz_target!(|input: Input| {
    let mut map = serde_json::Map::new();
    for (pick, name, value) in &input.fields {
        let key = KNOWN
            .get(usize::from(*pick) % 8)
            .map_or(name.clone(), |k| (*k).to_owned());
        let v = match value {
            Value::Str(s) => serde_json::Value::from(s.as_str()),
            Value::Num(n) => serde_json::Value::from(*n),
            Value::Null => serde_json::Value::Null,
            Value::List(l) => serde_json::Value::from(l.clone()),
        };
        map.insert(key, v);
    }
    let asked = if input.same_issuer {
        map.get("issuer")
            .and_then(|v| v.as_str())
            .map_or(input.asked.clone(), str::to_owned)
    } else {
        input.asked.clone()
    };
    let body = match &input.raw {
        Some(raw) => raw.clone(),
        None => serde_json::to_vec(&serde_json::Value::Object(map)).unwrap_or_default(),
    };
    if let Ok(m) = Metadata::parse(&body, &asked) {
        assert_eq!(m.issuer, asked);
        for url in std::iter::once(&m.jwks_uri).chain(m.revocations_endpoint.as_ref()) {
            assert!(
                url.starts_with("https://")
                    || url.starts_with("http://") && asked.starts_with("http://"),
                "{url} accepted for {asked}"
            );
            assert!(!url.contains('#'));
            // The follower's HTTP client parses the URL again (http::Uri): where it reads one,
            // it must read the scheme and host this check saw, with no userinfo.
            if let Ok(uri) = url.parse::<http::Uri>() {
                let (scheme, rest) = url.split_once("://").unwrap_or_default();
                let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
                assert_eq!(uri.scheme_str(), Some(scheme), "{url}");
                assert_eq!(uri.authority().map(|a| a.as_str()), Some(host), "{url}");
                assert!(!host.contains('@'), "{url}");
            }
        }
    }
    let _ = Metadata::url_for(&input.asked);
});
