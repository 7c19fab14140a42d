//! `extract_bearer` on any header value: no panic, and a credential it
//! returns is a non-empty, space-free part of the value after the scheme.
#![no_main]

use cog_tokens::{extract_bearer, PlainToken};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(credential) = extract_bearer(value) {
        assert!(!credential.is_empty());
        assert!(!credential.contains([' ', '\t']));
        assert!(value.trim_end_matches([' ', '\t']).ends_with(credential));
        assert!(value.trim_start_matches([' ', '\t'])[..6].eq_ignore_ascii_case("bearer"));
        let _ = PlainToken::parse(credential);
    }
});
