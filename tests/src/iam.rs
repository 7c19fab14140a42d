//! What a DynamoDB request asks of IAM: the action of each item it reads or
//! writes, the resource (the table or an index), the partition key's prefix
//! (what `dynamodb:LeadingKeys` sees) and the top-level attributes it names
//! (what `dynamodb:Attributes` sees). Read from the requests the recording
//! proxy saw, so tests can hold each function's grants to what it really does.

use std::collections::BTreeSet;

use serde_json::Value;

/// One item-level access.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access {
    /// `dynamodb:UpdateItem`, ...
    pub action: String,
    /// The index queried; `None`: the table.
    pub index: Option<String>,
    /// The partition key up to and including its first `#` (`TOKEN#`), or
    /// all of it when it has none (`PEPPER`).
    pub prefix: String,
    /// Key attributes, attributes written and attributes a condition tests;
    /// empty for reads.
    pub attributes: BTreeSet<String>,
}

/// The partition key's prefix, as a `LeadingKeys` pattern `<prefix>*` matches it.
pub fn key_prefix(partition: &str) -> String {
    match partition.find('#') {
        Some(at) => partition[..=at].to_owned(),
        None => partition.to_owned(),
    }
}

/// The accesses of one request (`target` is its `X-Amz-Target`).
pub fn accesses(target: &str, body: &[u8]) -> Vec<Access> {
    let operation = target.rsplit('.').next().unwrap_or(target);
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let action = |name: &str| format!("dynamodb:{name}");
    match operation {
        "GetItem" => vec![read(action("GetItem"), &body["Key"])],
        "BatchGetItem" => tables(&body["RequestItems"])
            .flat_map(|table| table["Keys"].as_array().cloned().unwrap_or_default())
            .map(|key| read(action("BatchGetItem"), &key))
            .collect(),
        "Query" => vec![query(&body)],
        "PutItem" | "UpdateItem" | "DeleteItem" => vec![write(action(operation), &body)],
        "TransactWriteItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(transact_item)
            .collect(),
        "BatchWriteItem" => tables(&body["RequestItems"])
            .flat_map(|requests| requests.as_array().cloned().unwrap_or_default())
            .filter_map(|request| {
                let item = request["PutRequest"]["Item"]
                    .as_object()
                    .or_else(|| request["DeleteRequest"]["Key"].as_object())?;
                Some(Access {
                    action: action("BatchWriteItem"),
                    index: None,
                    prefix: key_prefix(item.get("pk")?["S"].as_str()?),
                    attributes: item.keys().cloned().collect(),
                })
            })
            .collect(),
        other => vec![Access {
            action: action(other),
            index: None,
            prefix: String::new(),
            attributes: BTreeSet::new(),
        }],
    }
}

fn tables(request_items: &Value) -> impl Iterator<Item = &Value> {
    request_items
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
}

fn partition(key: &Value) -> String {
    key["pk"]["S"].as_str().map(key_prefix).unwrap_or_default()
}

fn read(action: String, key: &Value) -> Access {
    Access {
        action,
        index: None,
        prefix: partition(key),
        attributes: BTreeSet::new(),
    }
}

/// A query's partition: the value its key condition compares the hash key to.
fn query(body: &Value) -> Access {
    let condition = body["KeyConditionExpression"].as_str().unwrap_or_default();
    let value = condition
        .split_whitespace()
        .find(|word| word.starts_with(':'))
        .and_then(|name| body["ExpressionAttributeValues"][name]["S"].as_str())
        .unwrap_or_default();
    Access {
        action: "dynamodb:Query".into(),
        index: body["IndexName"].as_str().map(str::to_owned),
        prefix: key_prefix(value),
        attributes: BTreeSet::new(),
    }
}

fn transact_item(item: &Value) -> Option<Access> {
    let (action, part) = [
        ("PutItem", "Put"),
        ("UpdateItem", "Update"),
        ("DeleteItem", "Delete"),
        ("ConditionCheckItem", "ConditionCheck"),
    ]
    .into_iter()
    .find(|(_, part)| item.get(*part).is_some())?;
    Some(write(format!("dynamodb:{action}"), &item[part]))
}

/// A write: its key's (or new item's) attributes, and every attribute its
/// update and condition expressions name.
fn write(action: String, request: &Value) -> Access {
    let item = request.get("Item").unwrap_or(&request["Key"]);
    let mut attributes: BTreeSet<String> = item
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let names = &request["ExpressionAttributeNames"];
    for expression in ["UpdateExpression", "ConditionExpression"] {
        if let Some(text) = request[expression].as_str() {
            attributes.extend(expression_attributes(text, names));
        }
    }
    Access {
        action,
        index: None,
        prefix: partition(item),
        attributes,
    }
}

const KEYWORDS: [&str; 16] = [
    "SET",
    "REMOVE",
    "ADD",
    "DELETE",
    "AND",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "if_not_exists",
];

/// The top-level attribute names an expression uses (`#name` resolved).
pub fn expression_attributes(expression: &str, names: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut word = String::new();
    // Path separators end a name but the part after them is not top-level.
    let mut nested = false;
    for c in expression.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == '#' || c == ':' {
            word.push(c);
            continue;
        }
        if !word.is_empty() && !nested {
            if let Some(name) = attribute_name(&word, names) {
                found.insert(name);
            }
        }
        nested = c == '.';
        word.clear();
    }
    found
}

fn attribute_name(word: &str, names: &Value) -> Option<String> {
    if word.starts_with(':') || word.chars().next()?.is_ascii_digit() {
        return None;
    }
    if word.starts_with('#') {
        return names[word].as_str().map(str::to_owned);
    }
    if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word)) || word == "list_append" {
        return None;
    }
    Some(word.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_names_its_key_its_changes_and_its_conditions() {
        let body = serde_json::json!({
            "TransactItems": [{"Update": {
                "Key": {"pk": {"S": "TOKEN#abc"}, "sk": {"S": "TOKEN"}},
                "UpdateExpression": "SET revoked_at = :at, #ttl = :ttl REMOVE holds_slot",
                "ConditionExpression": "attribute_exists(pk) AND (attribute_not_exists(rev) OR rev = :rev)",
                "ExpressionAttributeNames": {"#ttl": "ttl"}
            }}]
        });
        let found = accesses(
            "DynamoDB_20120810.TransactWriteItems",
            body.to_string().as_bytes(),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].action, "dynamodb:UpdateItem");
        assert_eq!(found[0].prefix, "TOKEN#");
        let names: Vec<&str> = found[0].attributes.iter().map(String::as_str).collect();
        assert_eq!(
            names,
            ["holds_slot", "pk", "rev", "revoked_at", "sk", "ttl"]
        );
    }

    #[test]
    fn a_query_names_its_index_and_partition() {
        let body = serde_json::json!({
            "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :partition",
            "ExpressionAttributeValues": {":partition": {"S": "OWNER#user#alice"}}
        });
        let found = accesses("DynamoDB_20120810.Query", body.to_string().as_bytes());
        assert_eq!(found[0].index.as_deref(), Some("gsi1"));
        assert_eq!(found[0].prefix, "OWNER#");
    }
}
