//! Payloads as people read them: what the default converter wrote as `json/plain` is shown as
//! JSON, `binary/null` as `null`, anything else (a custom codec, encryption, protobuf) as
//! `{"encoding": ..., "base64": ...}` so nothing is lost or guessed at.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use temporalio_protos::temporal::api::common::v1::{Payload, Payloads};

const ENCODING_KEY: &str = "encoding";
const JSON_PLAIN: &str = "json/plain";
const BINARY_NULL: &str = "binary/null";

/// One payload as JSON.
pub(crate) fn decode(payload: &Payload) -> Value {
    let encoding = payload
        .metadata
        .get(ENCODING_KEY)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .unwrap_or_default();
    match encoding.as_str() {
        JSON_PLAIN => {
            serde_json::from_slice(&payload.data).unwrap_or_else(|_| raw(&encoding, &payload.data))
        }
        BINARY_NULL => Value::Null,
        _ => raw(&encoding, &payload.data),
    }
}

/// Several payloads (workflow input, a result, signal arguments) as JSON: `null` for none,
/// the value itself for one, an array for more.
pub(crate) fn decode_all(payloads: Option<&Payloads>) -> Value {
    match payloads.map(|p| p.payloads.as_slice()).unwrap_or_default() {
        [] => Value::Null,
        [one] => decode(one),
        many => Value::Array(many.iter().map(decode).collect()),
    }
}

fn raw(encoding: &str, data: &[u8]) -> Value {
    json!({ "encoding": encoding, "base64": STANDARD.encode(data) })
}

/// A JSON value as arguments the default converter would have written: none for `null`
/// (what a `()` input is), else one `json/plain` payload.
pub(crate) fn encode_args(value: &Value) -> Option<Payloads> {
    if value.is_null() {
        return None;
    }
    let mut payload = Payload {
        data: serde_json::to_vec(value).unwrap_or_default(),
        ..Payload::default()
    };
    payload
        .metadata
        .insert(ENCODING_KEY.to_owned(), JSON_PLAIN.as_bytes().to_vec());
    Some(Payloads {
        payloads: vec![payload],
    })
}

/// Rewrites a serialised proto message in place: every payload (an object with
/// `metadata.encoding`, as the proto JSON mapping writes it with base64 bytes) becomes its
/// decoded value, and every `{"payloads": [..]}` list becomes an array of decoded values.
pub(crate) fn decode_in_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(decoded) = payload_from_json(map) {
                *value = decoded;
                return;
            }
            if map.len() == 1
                && let Some(Value::Array(list)) = map.get_mut("payloads")
            {
                let mut list = std::mem::take(list);
                list.iter_mut().for_each(decode_in_json);
                *value = Value::Array(list);
                return;
            }
            map.values_mut().for_each(decode_in_json);
        }
        Value::Array(list) => list.iter_mut().for_each(decode_in_json),
        _ => {}
    }
}

fn payload_from_json(map: &serde_json::Map<String, Value>) -> Option<Value> {
    let metadata = map.get("metadata")?.as_object()?;
    let encoding = metadata.get(ENCODING_KEY)?.as_str()?;
    let encoding = String::from_utf8(STANDARD.decode(encoding).ok()?).ok()?;
    let data = match map.get("data") {
        Some(Value::String(b64)) => STANDARD.decode(b64).ok()?,
        _ => Vec::new(),
    };
    let mut payload = Payload::default();
    payload
        .metadata
        .insert(ENCODING_KEY.to_owned(), encoding.into_bytes());
    payload.data = data;
    Some(decode(&payload))
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::history::v1::{
        ActivityTaskScheduledEventAttributes, history_event,
    };

    use super::*;

    fn payload(encoding: &str, data: &[u8]) -> Payload {
        let mut p = Payload {
            data: data.to_vec(),
            ..Payload::default()
        };
        p.metadata
            .insert(ENCODING_KEY.to_owned(), encoding.as_bytes().to_vec());
        p
    }

    #[test]
    fn json_is_decoded_and_other_encodings_kept_raw() {
        assert_eq!(decode(&payload(JSON_PLAIN, b"{\"a\":1}")), json!({"a": 1}));
        assert_eq!(decode(&payload(BINARY_NULL, b"")), Value::Null);
        assert_eq!(
            decode(&payload("binary/encrypted", b"\x00\x01")),
            json!({"encoding": "binary/encrypted", "base64": "AAE="})
        );
        // A json/plain payload that is not JSON is shown raw, not dropped.
        assert_eq!(
            decode(&payload(JSON_PLAIN, b"not json")),
            json!({"encoding": "json/plain", "base64": "bm90IGpzb24="})
        );
        assert_eq!(decode_all(None), Value::Null);
        let round = encode_args(&json!({"by": "carol"})).unwrap();
        assert_eq!(decode_all(Some(&round)), json!({"by": "carol"}));
        assert!(encode_args(&Value::Null).is_none(), "null is a unit input");
    }

    #[test]
    fn payloads_inside_serialised_events_are_decoded() {
        let attributes: history_event::Attributes = ActivityTaskScheduledEventAttributes {
            activity_id: "1".to_owned(),
            input: Some(Payloads {
                payloads: vec![payload(JSON_PLAIN, b"[1,2]")],
            }),
            ..Default::default()
        }
        .into();
        let mut value = serde_json::to_value(&attributes).unwrap();
        decode_in_json(&mut value);
        let inner = &value["ActivityTaskScheduledEventAttributes"];
        assert_eq!(inner["activity_id"], json!("1"));
        assert_eq!(inner["input"], json!([[1, 2]]));
    }
}
