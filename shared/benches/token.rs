//! Token format and hashing costs, each against the baseline measured in the
//! same run: one bare HMAC-SHA-256 of 58 bytes with the key already set up.
//! `scripts/bench-report` turns the results into ratios.

#![allow(clippy::unwrap_used)] // benchmark setup: a failure should abort the run

use std::hint::black_box;

use cog_tokens::{Pepper, PepperVersion, PlainToken};
use criterion::{criterion_group, criterion_main, Criterion};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn token_benches(c: &mut Criterion) {
    let key = [42u8; 32];
    let pepper = Pepper::new(PepperVersion(1), &key).unwrap();
    let token = PlainToken::generate().unwrap();
    let text = token.expose_secret().to_owned();
    let stored = pepper.hash(&token);
    let keyed = Hmac::<Sha256>::new_from_slice(&key).unwrap();

    let mut group = c.benchmark_group("token");
    group.bench_function("baseline_bare_hmac_sha256_58b", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(text.as_bytes()));
            black_box(mac.finalize().into_bytes())
        })
    });
    group.bench_function("generate", |b| {
        b.iter(|| black_box(PlainToken::generate().unwrap()))
    });
    group.bench_function("parse", |b| {
        b.iter(|| black_box(PlainToken::parse(black_box(&text))))
    });
    group.bench_function("hash", |b| {
        b.iter(|| black_box(pepper.hash(black_box(&token))))
    });
    group.bench_function("parse_and_verify", |b| {
        b.iter(|| {
            let parsed = PlainToken::parse(black_box(&text)).unwrap();
            black_box(pepper.verify(&parsed, black_box(&stored)))
        })
    });
    group.finish();
}

criterion_group!(benches, token_benches);
criterion_main!(benches);
