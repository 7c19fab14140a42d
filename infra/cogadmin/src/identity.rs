//! Where the commands go (a local emulator or AWS) and who runs them: the
//! audit actor is the operator's own identity, never a constant.

use std::net::IpAddr;

use anyhow::Result;

use crate::exit::{fail, Failure};

/// The DynamoDB endpoint the SDK will use, as configured: the service's own
/// variable, else the global one (environment or profile). `None` is AWS.
pub fn dynamodb_endpoint(config: &aws_config::SdkConfig) -> Option<String> {
    let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    if ignored {
        return None;
    }
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .or_else(|| config.endpoint_url().map(str::to_owned))
}

/// Whether `url`'s host is this machine (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The audit actor. Against AWS: the caller's identity from STS
/// (`operator:<ARN>`; an assumed role's ARN names its session), with
/// `--actor` added when given. Against a local emulator, where STS is not
/// run: `--actor`, else the login name, else the uid.
pub async fn resolve_actor(
    config: &aws_config::SdkConfig,
    local: bool,
    given: Option<&str>,
) -> Result<String> {
    let given = given.map(str::trim).filter(|name| !name.is_empty());
    if local {
        let name = given
            .map(str::to_owned)
            .or_else(login_name)
            .ok_or_else(|| fail(Failure::Usage, "no operator identity: pass --actor"))?;
        return Ok(format!("operator:{name}"));
    }
    let sts = aws_sdk_sts::Client::new(config);
    let identity = sts.get_caller_identity().send().await.map_err(|error| {
        fail(
            Failure::Unavailable,
            format!(
                "reading the caller's identity from STS (the audit actor): {}",
                aws_sdk_sts::error::DisplayErrorContext(&error)
            ),
        )
    })?;
    let arn = identity
        .arn()
        .filter(|arn| !arn.is_empty())
        .ok_or_else(|| fail(Failure::Unavailable, "STS returned no caller ARN"))?;
    Ok(match given {
        Some(name) => format!("operator:{name} ({arn})"),
        None => format!("operator:{arn}"),
    })
}

fn login_name() -> Option<String> {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.trim().is_empty())
        .or_else(uid)
}

/// The process's uid, read from procfs (no `unsafe`, no libc).
fn uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    let real = line.split_whitespace().nth(1)?;
    Some(format!("uid-{real}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_this_machine_counts_as_local() {
        for local in [
            "http://127.0.0.1:8000",
            "http://localhost:8000/",
            "http://LOCALHOST",
            "https://127.1.2.3",
            "http://[::1]:8000",
            "http://user@127.0.0.1:1",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "https://dynamodb.eu-west-1.amazonaws.com",
            "http://10.0.0.5:8000",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://[2001:db8::1]:8000",
            "http://127.0.0.1@evil.example:80",
            "",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }

    #[tokio::test]
    async fn locally_the_actor_is_the_one_given_or_the_login_never_a_constant() {
        let config = aws_config::SdkConfig::builder().build();
        let given = resolve_actor(&config, true, Some(" alice ")).await.unwrap();
        assert_eq!(given, "operator:alice");
        let login = resolve_actor(&config, true, Some("")).await.unwrap();
        assert!(login.starts_with("operator:") && login.len() > "operator:".len());
    }
}
