//! The refresh-token cookie reader: any `Cookie` header, never a panic; what it returns is a
//! non-empty piece of the header that is the value of a `tidepass_refresh` pair in it.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Pairs written as `name=value`, joined with `; ` (or the raw separator).
    pairs: Vec<(bool, String, String)>,
    separator: Option<String>,
}

fuzz_target!(|input: Input| {
    let sep = input.separator.as_deref().unwrap_or("; ");
    let header = input
        .pairs
        .iter()
        .map(|(ours, name, value)| {
            let name = if *ours {
                "tidepass_refresh"
            } else {
                name.as_str()
            };
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join(sep);
    if let Some(v) = tidepass::http::cookie::read(&header) {
        assert!(!v.is_empty());
        assert!(header.contains(v));
        assert!(
            header.contains(&format!("tidepass_refresh={v}"))
                || header.contains(&format!("tidepass_refresh=\"{v}\"")),
            "{v:?} is not the cookie's value in {header:?}"
        );
    }
});
