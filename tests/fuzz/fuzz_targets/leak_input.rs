//! What the leak-response function and the allowlist routes read from
//! anyone: GitHub key sets, signature headers over any body, CIDR lists.
//! No panic; under GitHub's documented key only its documented body
//! verifies; an accepted allowlist reads back from its own text unchanged.
#![no_main]

use cog_tokens::records::allowlist::IpAllowlist;
use leak_response::github_keys::{verify, KeySet};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// GitHub's documented example key and signed body (see github_keys.rs's
/// test vector).
const DOC_BODY: &str = r#"[{"source":"commit","token":"some_token","type":"some_type","url":"https://example.com/base-repo-url/"}]"#;
const DOC_KEY_SET: &str = r#"{"public_keys":[{"key_identifier":"k","key":"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYAGMWO8XgCamYKMJS6jc/qgvSlAd\nAjPuDPRcXU22YxgBrz+zoN19MzuRyW87qEt9/AmtoNP5GrobzUvQSyJFVw==\n-----END PUBLIC KEY-----\n"}]}"#;

fn doc_key() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| KeySet::from_json(DOC_KEY_SET).expect("the documented key parses"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 3 {
        0 => {
            let _ = KeySet::from_json(&text);
        }
        1 => {
            // The first line is the signature header, the rest the body.
            let (signature, body) = text.split_once('\n').unwrap_or((&text, ""));
            let key = doc_key().key("k").expect("the documented key");
            if verify(key, signature, body.as_bytes()).is_ok() {
                assert_eq!(body, DOC_BODY, "a signature verified another body");
            }
        }
        _ => {
            let entries: Vec<&str> = text.split(',').collect();
            if let Ok(list) = IpAllowlist::parse(&entries) {
                let again = IpAllowlist::parse(&list.to_strings()).expect("its own text parses");
                assert_eq!(again, list);
            }
        }
    }
});
