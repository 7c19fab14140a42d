//! `PlainToken::parse` and `TokenId::from_str` on any text: no panic, and a
//! token that parses is exactly its text, with an id that parses alone.
#![no_main]

use cog_tokens::{PlainToken, TokenId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(token) = PlainToken::parse(text) {
        assert_eq!(token.expose_secret(), text);
        let id = token.id();
        assert_eq!(id.as_str().parse::<TokenId>(), Ok(id));
        assert!(text.contains(id.as_str()));
    }
    if let Ok(id) = text.parse::<TokenId>() {
        assert_eq!(id.as_str(), text);
    }
});
