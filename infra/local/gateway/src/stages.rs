//! A REST API stage named on the command line (`REST_API_ID/STAGE`), for
//! the control plane's REST flush and the usage-plan stage alike.

/// A REST API stage (`--rest-stage`, `--usage-plan-stage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestStage {
    pub rest_api_id: String,
    pub stage: String,
}

impl std::str::FromStr for RestStage {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once('/') {
            Some((id, stage)) if valid_name(id) && valid_name(stage) => Ok(Self {
                rest_api_id: id.to_owned(),
                stage: stage.to_owned(),
            }),
            _ => Err(format!(
                "expected REST_API_ID/STAGE (letters, digits, - and _), got {text:?}"
            )),
        }
    }
}

/// API and stage ids as API Gateway spells them; they go into paths and ARNs.
pub fn valid_name(text: &str) -> bool {
    (1..=128).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
