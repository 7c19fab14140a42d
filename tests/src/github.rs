//! A stand-in for GitHub's secret scanning: a P-256 key made for the test,
//! its key set served on 127.0.0.1 (counting fetches, or failing while
//! switched off), and signed reports.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use tokio::net::TcpListener;

/// GitHub as the leak-response function sees it. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeGitHub {
    /// The key set's URL (`GITHUB_KEYS_URL`).
    pub keys_url: String,
    pub key_id: String,
    key: SigningKey,
    fetches: Arc<AtomicUsize>,
    /// Off: the key set URL answers 503, as GitHub in an outage.
    serving: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGitHub {
    pub async fn start() -> Self {
        let key = SigningKey::random(&mut rand_core::OsRng);
        let key_id = crate::unique("key");
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let key_set = serde_json::json!({
            "public_keys": [{"key_identifier": key_id, "key": pem, "is_current": true}]
        })
        .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let keys_url = format!(
            "http://{}/meta/public_keys/secret_scanning",
            listener.local_addr().unwrap()
        );
        let fetches = Arc::new(AtomicUsize::new(0));
        let serving = Arc::new(AtomicBool::new(true));
        let (counter, switch) = (Arc::clone(&fetches), Arc::clone(&serving));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counter, key_set) = (Arc::clone(&counter), key_set.clone());
                let switch = Arc::clone(&switch);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let mut response = Response::new(Full::new(Bytes::from(key_set.clone())));
                        if !switch.load(Ordering::SeqCst) {
                            *response.body_mut() = Full::new(Bytes::from("down"));
                            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        }
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            keys_url,
            key_id,
            key,
            fetches,
            serving,
            task,
        }
    }

    /// Serves the key set (`true`) or answers 503 (`false`) from now on.
    pub fn serve_keys(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
    }

    /// The `Github-Public-Key-Signature` of `body`.
    pub fn sign(&self, body: &str) -> String {
        let signature: DerSignature = self.key.sign(body.as_bytes());
        STANDARD.encode(signature.as_bytes())
    }

    /// How often the key set was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// A report body as GitHub sends it: one match per token.
    pub fn report(tokens: &[&str]) -> String {
        let matches: Vec<_> = tokens
            .iter()
            .map(|token| {
                serde_json::json!({
                    "token": token,
                    "type": "cog_personal_access_token",
                    "url": "https://github.com/octo/app/blob/0a1b2c/.env",
                    "source": "content",
                })
            })
            .collect();
        serde_json::to_string(&matches).unwrap()
    }
}
