//! Every vector in shared/tests/vectors/token-v1.json, produced by an independent
//! Python implementation, must hold for the Rust one.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed setup step should fail the test

use cog_tokens::{Pepper, PepperVersion, PlainToken};
use serde::Deserialize;

#[derive(Deserialize)]
struct VectorFile {
    pepper_hex: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    token: String,
    valid: bool,
    hmac_sha256_hex: Option<String>,
    error: Option<String>,
}

fn load() -> VectorFile {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/token-v1.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn given_the_reference_vectors_then_parse_and_hmac_agree_with_them() {
    let file = load();
    let pepper = Pepper::new(PepperVersion(1), &hex::decode(&file.pepper_hex).unwrap()).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for (index, vector) in file.vectors.iter().enumerate() {
        let parsed = PlainToken::parse(&vector.token);
        if vector.valid {
            valid += 1;
            let token = parsed.unwrap_or_else(|e| panic!("vector {index}: {e}"));
            let expected = vector.hmac_sha256_hex.as_deref().unwrap();
            assert_eq!(
                hex::encode(pepper.hash(&token).as_bytes()),
                expected,
                "vector {index}"
            );
            let stored =
                cog_tokens::TokenHash::from_bytes(&hex::decode(expected).unwrap()).unwrap();
            assert!(pepper.verify(&token, &stored), "vector {index}");
        } else {
            invalid += 1;
            let error = parsed.expect_err(&format!("vector {index} should be invalid"));
            assert_eq!(
                Some(error.code()),
                vector.error.as_deref(),
                "vector {index}"
            );
        }
    }
    assert!(
        valid >= 15 && invalid >= 15,
        "{valid} valid, {invalid} invalid"
    );
}

#[test]
fn the_vectors_cover_every_error_kind() {
    let file = load();
    for code in [
        "missing_prefix",
        "wrong_length",
        "invalid_character",
        "bad_checksum",
    ] {
        assert!(
            file.vectors
                .iter()
                .any(|v| v.error.as_deref() == Some(code)),
            "no vector for {code}"
        );
    }
}
