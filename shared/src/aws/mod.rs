//! AWS adapters: DynamoDB storage, KMS peppers, and client set-up.
//!
//! Clients find local emulators only through the standard SDK variables
//! (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_KMS`): no special code path.
//!
//! Layer 5: implements the ports of `store`; may import `store`, `records`,
//! `token`, never a use case (`authorize`, `management`, `events`).

pub mod dynamodb;
pub mod kms;

/// An AWS SDK error (DynamoDB's and KMS's are one type) as `kind` or
/// `service error CODE`: never its `Debug` text, which can carry request and
/// response bodies.
pub(crate) fn sdk_error_summary<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    use aws_sdk_dynamodb::error::SdkError as E2;
    match error {
        E2::ConstructionFailure(_) => "request construction failed".to_owned(),
        E2::TimeoutError(_) => "timeout".to_owned(),
        E2::DispatchFailure(failure) if failure.is_timeout() => "dispatch timeout".to_owned(),
        E2::DispatchFailure(failure) if failure.is_io() => "connection failed".to_owned(),
        E2::DispatchFailure(_) => "dispatch failure".to_owned(),
        E2::ResponseError(_) => "unreadable response".to_owned(),
        E2::ServiceError(service) => format!(
            "service error {}",
            service.err().code().unwrap_or("(no code)")
        ),
        _ => "unknown SDK error".to_owned(),
    }
}

/// The roots every AWS endpoint's certificate chains to (Amazon Trust
/// Services: Amazon Root CA 1 to 4, Starfield Services Root G2), compiled in
/// so that a cold start reads and parses no system certificate store
/// (docs/deploy.md, "Trust roots").
pub const AWS_TRUST_ROOTS: &[u8] = include_bytes!("../../certs/amazon-trust-services.pem");

/// Shared SDK configuration from the standard AWS environment, built once per
/// cold start. Its HTTPS client is the SDK's own (rustls on aws-lc-rs)
/// trusting [`AWS_TRUST_ROOTS`] only; `COG_TLS_ROOTS=system` trusts the
/// system store instead (an endpoint behind another CA).
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let trust = match std::env::var("COG_TLS_ROOTS").as_deref() {
        Ok("system") => TrustStore::default(),
        _ => TrustStore::empty().with_pem_certificate(AWS_TRUST_ROOTS),
    };
    let mut client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    // Building a context only stores the trust store; it cannot fail today.
    if let Ok(context) = TlsContext::builder().with_trust_store(trust).build() {
        client = client.tls_context(context);
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(client.build_https())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    #[test]
    fn the_compiled_in_roots_are_amazons_five_and_parse() {
        let roots = CertificateDer::pem_slice_iter(super::AWS_TRUST_ROOTS)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        assert_eq!(roots.len(), 5);
        let text = String::from_utf8_lossy(super::AWS_TRUST_ROOTS);
        for name in [
            "Amazon_Root_CA_1",
            "Amazon_Root_CA_4",
            "Starfield_Services_Root",
        ] {
            assert!(text.contains(name), "{name}");
        }
        // Where this machine has Mozilla's store, the same bytes are in it.
        if let Ok(system) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") {
            let system: Vec<_> = CertificateDer::pem_slice_iter(&system)
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            assert!(roots.iter().all(|root| system.contains(root)));
        }
    }
}
