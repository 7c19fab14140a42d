//! The management functions' metrics: `Requests` (Count) by `Route` (the
//! route table's key, never the request's path) and `Status`, one EMF line
//! per invocation. `leak-response` counts its routes the same way.

pub use cog_tokens::metrics::{count_request, REQUESTS, ROUTE, STATUS, UNMATCHED_ROUTE};
use lambda_http::http::Method;

use crate::endpoints::{Endpoint, Function};

/// The `Function` dimension's value: the binary's name.
pub fn function_name(function: Function) -> &'static str {
    match function {
        Function::Issuance => "issue-token",
        Function::Revocation => "revoke-token",
    }
}

/// The route key of a request to `function`, from the route table.
pub fn route_key(function: Function, method: &Method, path: &str) -> &'static str {
    Endpoint::parse(method, path)
        .filter(|endpoint| function.serves(endpoint))
        .map_or(UNMATCHED_ROUTE, |endpoint| endpoint.route_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cog_tokens::metrics::Aggregate;
    use serde_json::{json, Value};

    #[test]
    fn given_a_request_with_ids_in_its_path_then_the_line_names_the_template_and_status() {
        let route = route_key(
            Function::Revocation,
            &Method::DELETE,
            "/v1/orgs/acme/service-users/svc_9/keys/KEY123",
        );
        let mut aggregate = Aggregate::new();
        count_request(&mut aggregate, route, 204);
        let lines = aggregate.lines(function_name(Function::Revocation), 7);
        assert_eq!(lines.len(), 1);
        for id in ["acme", "svc_9", "KEY123"] {
            assert!(!lines[0].contains(id), "{}", lines[0]);
        }
        let document: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(document["Function"], "revoke-token");
        assert_eq!(
            document["Route"],
            "DELETE /v1/orgs/{org}/service-users/{su}/keys/{id}"
        );
        assert_eq!(document["Status"], "204");
        assert_eq!(document["Requests"], 1);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CogTokens");
        assert_eq!(
            directive["Dimensions"],
            json!([
                ["Function"],
                ["Function", "Route"],
                ["Function", "Route", "Status"]
            ])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Requests", "Unit": "Count"}])
        );
    }

    #[test]
    fn given_a_caller_chosen_path_then_the_route_is_unmatched_not_the_path() {
        for (function, method, path) in [
            (
                Function::Issuance,
                Method::GET,
                "/v1/cog_secret-looking-path",
            ),
            (Function::Issuance, Method::DELETE, "/v1/tokens/ABC"), // revoke-token's
            (Function::Revocation, Method::POST, "/v1/tokens"),
            (Function::Issuance, Method::GET, "/v1/orgs//service-users"),
        ] {
            assert_eq!(
                route_key(function, &method, path),
                UNMATCHED_ROUTE,
                "{path}"
            );
        }
    }
}
