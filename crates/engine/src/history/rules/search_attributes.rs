//! Search attributes: the system attributes every run has, the custom ones a namespace
//! registers (`OperatorService.AddSearchAttributes`, `--search-attribute NAME=TYPE`), and
//! checking and decoding the values runs carry. Values travel as JSON payloads; the type is
//! the namespace's, as on the real server (a payload's own `type` metadata is not trusted).

use std::collections::{BTreeMap, HashMap};

use temporalio_protos::temporal::api::{
    common::v1::{Payload, SearchAttributes},
    enums::v1::IndexedValueType,
};

/// Every system search attribute the real server (1.32) lists, with its type.
pub(crate) const SYSTEM: [(&str, IndexedValueType); 33] = {
    use IndexedValueType::{Bool, Datetime, Int, Keyword, KeywordList};
    [
        ("BatcherNamespace", Keyword),
        ("BatcherUser", Keyword),
        ("BinaryChecksums", KeywordList),
        ("BuildIds", KeywordList),
        ("CloseTime", Datetime),
        ("ExecutionDuration", Int),
        ("ExecutionStatus", Keyword),
        ("ExecutionTime", Datetime),
        ("HistoryLength", Int),
        ("HistorySizeBytes", Int),
        ("ParentRunId", Keyword),
        ("ParentWorkflowId", Keyword),
        ("RootRunId", Keyword),
        ("RootWorkflowId", Keyword),
        ("RunId", Keyword),
        ("StartTime", Datetime),
        ("StateTransitionCount", Int),
        ("TaskQueue", Keyword),
        ("TemporalChangeVersion", KeywordList),
        ("TemporalExternalPayloadCount", Int),
        ("TemporalExternalPayloadSizeBytes", Int),
        ("TemporalNamespaceDivision", Keyword),
        ("TemporalPauseInfo", KeywordList),
        ("TemporalReportedProblems", KeywordList),
        ("TemporalSchedulePaused", Bool),
        ("TemporalScheduledById", Keyword),
        ("TemporalScheduledStartTime", Datetime),
        ("TemporalUsedWorkerDeploymentVersions", KeywordList),
        ("TemporalWorkerDeployment", Keyword),
        ("TemporalWorkerDeploymentVersion", Keyword),
        ("TemporalWorkflowVersioningBehavior", Keyword),
        ("WorkflowId", Keyword),
        ("WorkflowType", Keyword),
    ]
};

/// System attributes a workflow or client may set itself (the SDKs upsert
/// `TemporalChangeVersion` for patches); the others are the server's to fill in.
const SETTABLE_SYSTEM: [&str; 11] = [
    "BatcherNamespace",
    "BatcherUser",
    "BinaryChecksums",
    "BuildIds",
    "TemporalChangeVersion",
    "TemporalNamespaceDivision",
    "TemporalPauseInfo",
    "TemporalReportedProblems",
    "TemporalSchedulePaused",
    "TemporalScheduledById",
    "TemporalScheduledStartTime",
];

/// The name the real server gives a type in messages and `type` metadata.
pub(crate) fn type_name(ty: IndexedValueType) -> &'static str {
    match ty {
        IndexedValueType::Text => "Text",
        IndexedValueType::Keyword => "Keyword",
        IndexedValueType::Int => "Int",
        IndexedValueType::Double => "Double",
        IndexedValueType::Bool => "Bool",
        IndexedValueType::Datetime => "Datetime",
        IndexedValueType::KeywordList => "KeywordList",
        IndexedValueType::Unspecified => "Unspecified",
    }
}

pub(crate) fn system_type(name: &str) -> Option<IndexedValueType> {
    SYSTEM.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A namespace's custom attributes: name to `IndexedValueType` value.
pub(crate) type Custom = BTreeMap<String, i32>;

/// The type of `name` in a namespace with `custom` attributes.
pub(crate) fn type_of(name: &str, custom: &Custom) -> Option<IndexedValueType> {
    system_type(name).or_else(|| {
        custom
            .get(name)
            .and_then(|t| IndexedValueType::try_from(*t).ok())
    })
}

/// A decoded search attribute value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Typed {
    /// Keyword or Text.
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Epoch milliseconds.
    Time(i64),
    List(Vec<String>),
}

fn encoding(payload: &Payload) -> &[u8] {
    payload.metadata.get("encoding").map_or(&[], Vec::as_slice)
}

/// Whether `payload` unsets its attribute: JSON `null` or an empty list, or the
/// `binary/null` encoding. (A payload without an encoding is no value at all: the real
/// server refuses it.)
pub(crate) fn is_unset(payload: &Payload) -> bool {
    let data = payload.data.trim_ascii();
    match encoding(payload) {
        b"binary/null" => true,
        b"json/plain" => data == b"null" || data == b"[]",
        _ => false,
    }
}

/// The value of `payload` as `ty`, or why it is not one (the offending value, as the real
/// server's message shows it).
pub(crate) fn decode(payload: &Payload, ty: IndexedValueType) -> Result<Typed, String> {
    if encoding(payload) != b"json/plain" {
        return Err(format!(
            "value from <{}>",
            String::from_utf8_lossy(encoding(payload))
        ));
    }
    let text = String::from_utf8_lossy(&payload.data);
    let shown = || text.trim().trim_matches('"').to_owned();
    let json: serde_json::Value = serde_json::from_slice(&payload.data).map_err(|_| shown())?;
    let value = match (ty, &json) {
        (IndexedValueType::Keyword | IndexedValueType::Text, serde_json::Value::String(s)) => {
            Typed::Str(s.clone())
        }
        (IndexedValueType::Int, serde_json::Value::Number(n)) => {
            Typed::Int(n.as_i64().ok_or_else(shown)?)
        }
        (IndexedValueType::Double, serde_json::Value::Number(n)) => {
            Typed::Double(n.as_f64().ok_or_else(shown)?)
        }
        (IndexedValueType::Bool, serde_json::Value::Bool(b)) => Typed::Bool(*b),
        (IndexedValueType::Datetime, serde_json::Value::String(s)) => {
            Typed::Time(crate::time::parse_rfc3339(s).ok_or_else(shown)?)
        }
        (IndexedValueType::KeywordList, serde_json::Value::String(s)) => {
            Typed::List(vec![s.clone()])
        }
        (IndexedValueType::KeywordList, serde_json::Value::Array(items)) => Typed::List(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(shown)?,
        ),
        _ => return Err(shown()),
    };
    Ok(value)
}

/// Checks the attributes a start, a signal-with-start or a command sets: each must be
/// registered in `namespace` (or a system attribute clients may set) and hold a value of
/// its type. The message is the real server's.
pub(crate) fn check(
    fields: &HashMap<String, Payload>,
    namespace: &str,
    custom: &Custom,
) -> Result<(), String> {
    // In name order, so the first error is the same every time.
    let mut names: Vec<&String> = fields.keys().collect();
    names.sort();
    for name in names {
        let payload = &fields[name];
        if system_type(name).is_some() && !SETTABLE_SYSTEM.contains(&name.as_str()) {
            return Err(format!("search attribute {name} is reserved by system"));
        }
        let Some(ty) = type_of(name, custom) else {
            return Err(format!(
                "Namespace {namespace} has no mapping defined for search attribute {name}"
            ));
        };
        if is_unset(payload) {
            continue;
        }
        if let Err(value) = decode(payload, ty) {
            return Err(format!(
                "invalid value for search attribute {name} of type {}: {value}",
                type_name(ty)
            ));
        }
    }
    Ok(())
}

/// Attributes a schedule (or its workflow action) is given: each must be registered (the
/// real server's message otherwise), unset values are dropped, and each value is stamped
/// with its type, a one-element list of a single-valued type unwrapped, as the real server
/// returns them (the SDKs' untyped attributes always send lists).
pub(crate) fn typed(
    attributes: Option<SearchAttributes>,
    namespace: &str,
    custom: &Custom,
) -> Result<Option<SearchAttributes>, String> {
    let Some(attributes) = attributes else {
        return Ok(None);
    };
    let mut indexed_fields = HashMap::new();
    for (name, payload) in attributes.indexed_fields {
        let Some(ty) = type_of(&name, custom) else {
            return Err(format!(
                "Namespace {namespace} has no mapping defined for search attribute {name}"
            ));
        };
        if is_unset(&payload) {
            continue;
        }
        let mut payload = with_type(&payload, Some(ty));
        if ty != IndexedValueType::KeywordList
            && let Ok(serde_json::Value::Array(mut items)) =
                serde_json::from_slice::<serde_json::Value>(&payload.data)
            && items.len() == 1
            && let Some(item) = items.pop()
        {
            payload.data = item.to_string().into_bytes();
        }
        indexed_fields.insert(name, payload);
    }
    Ok(Some(SearchAttributes { indexed_fields }))
}

/// `payload` with the `type` metadata the real server adds to the attributes it returns.
pub(crate) fn with_type(payload: &Payload, ty: Option<IndexedValueType>) -> Payload {
    let mut payload = payload.clone();
    if let Some(ty) = ty {
        payload
            .metadata
            .insert("type".to_owned(), type_name(ty).as_bytes().to_vec());
    }
    payload
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: text.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn decodes_each_type() {
        use IndexedValueType as T;
        assert_eq!(
            decode(&json("\"a b\""), T::Text),
            Ok(Typed::Str("a b".into()))
        );
        assert_eq!(decode(&json("5"), T::Int), Ok(Typed::Int(5)));
        assert_eq!(decode(&json("5"), T::Double), Ok(Typed::Double(5.0)));
        assert_eq!(decode(&json("true"), T::Bool), Ok(Typed::Bool(true)));
        assert_eq!(
            decode(&json("\"1970-01-01T00:00:01Z\""), T::Datetime),
            Ok(Typed::Time(1000))
        );
        assert_eq!(
            decode(&json("[\"a\",\"b\"]"), T::KeywordList),
            Ok(Typed::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(decode(&json("\"x\""), T::Int), Err("x".into()));
        assert_eq!(decode(&json("1.5"), T::Int), Err("1.5".into()));
        assert!(is_unset(&json("null")) && !is_unset(&json("0")));
        // What the Rust SDK sends to unset an attribute: the real server refuses it.
        assert!(!is_unset(&Payload::default()));
        assert_eq!(
            decode(&Payload::default(), T::Int),
            Err("value from <>".into())
        );
    }

    #[test]
    fn checks_names_and_values_like_the_real_server() {
        let custom: Custom = [("CustomInt".to_owned(), IndexedValueType::Int as i32)].into();
        let fields = |name: &str, value: &str| [(name.to_owned(), json(value))].into();
        assert_eq!(check(&fields("CustomInt", "3"), "default", &custom), Ok(()));
        assert_eq!(
            check(&fields("CustomInt", "null"), "default", &custom),
            Ok(())
        );
        assert_eq!(
            check(
                &fields("TemporalChangeVersion", "[\"p-1\"]"),
                "default",
                &custom
            ),
            Ok(())
        );
        assert_eq!(
            check(&fields("CustomInt", "\"notint\""), "default", &custom),
            Err("invalid value for search attribute CustomInt of type Int: notint".into())
        );
        assert_eq!(
            check(&fields("Undefined", "1"), "default", &custom),
            Err("Namespace default has no mapping defined for search attribute Undefined".into())
        );
        assert_eq!(
            check(&fields("WorkflowId", "\"x\""), "default", &custom),
            Err("search attribute WorkflowId is reserved by system".into())
        );
    }
}
