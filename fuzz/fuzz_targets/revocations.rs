//! The revocation-list decoder: hostile bytes are refused without a panic, and whatever
//! decodes re-encodes to something that decodes to the same changes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidepass::revocation::{Changes, RevocationList};

fuzz_target!(|data: &[u8]| {
    if let Ok(changes) = Changes::decode(data) {
        let again = Changes::decode(&changes.encode().expect("re-encode")).expect("decode again");
        assert_eq!(again, changes);
        let list = RevocationList::new();
        list.apply_at(changes, 0);
    }
});
