//! The refresh-token cookie reader: any `Cookie` header, never a panic; what it returns is a
//! non-empty piece of one pair of the header, and only when the refresh cookie is in it.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tidepass::http::cookie::NAME;

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
            let name = if *ours { NAME } else { name.as_str() };
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join(sep);
    if let Some(v) = tidepass::http::cookie::read(&header) {
        assert!(!v.is_empty());
        assert!(header.contains(v));
        // One pair's value (the cookie crate trims the whitespace around it), never a
        // piece spanning pairs, and only when the refresh cookie is there at all.
        assert!(!v.contains(';'), "{v:?} spans pairs in {header:?}");
        assert!(
            header.contains(NAME),
            "{v:?} without the cookie in {header:?}"
        );
    }
});
