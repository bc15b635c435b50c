//! A run's workflow properties: its memo and search attributes as the start set them and
//! later commands changed them (`UpsertWorkflowSearchAttributes`, `ModifyWorkflowProperties`).
//! They are derived from history, so they need no record of their own: kept up to date as
//! events are appended, and rebuilt from the events when a run is loaded.

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    common::v1::{Memo, Payload, SearchAttributes},
    history::v1::{HistoryEvent, history_event::Attributes},
};

use crate::history::rules::search_attributes::is_unset;

/// The current memo and search attributes of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Properties {
    pub(crate) memo: HashMap<String, Payload>,
    pub(crate) search_attributes: HashMap<String, Payload>,
}

impl Properties {
    pub(crate) fn from_events(events: &[HistoryEvent]) -> Self {
        let mut properties = Self::default();
        for event in events {
            if let Some(attributes) = &event.attributes {
                properties.on_event(attributes);
            }
        }
        properties
    }

    /// Applies an event that sets or changes properties; ignores the others.
    pub(crate) fn on_event(&mut self, attributes: &Attributes) {
        match attributes {
            Attributes::WorkflowExecutionStartedEventAttributes(a) => {
                self.memo = a
                    .memo
                    .as_ref()
                    .map(|m| m.fields.clone())
                    .unwrap_or_default();
                self.search_attributes = a
                    .search_attributes
                    .as_ref()
                    .map(|s| s.indexed_fields.clone())
                    .unwrap_or_default();
                self.memo.retain(|_, v| !is_unset(v));
                self.search_attributes.retain(|_, v| !is_unset(v));
            }
            Attributes::UpsertWorkflowSearchAttributesEventAttributes(a) => {
                if let Some(upsert) = &a.search_attributes {
                    merge(&mut self.search_attributes, &upsert.indexed_fields);
                }
            }
            Attributes::WorkflowPropertiesModifiedEventAttributes(a) => {
                if let Some(upsert) = &a.upserted_memo {
                    merge(&mut self.memo, &upsert.fields);
                }
            }
            _ => {}
        }
    }

    /// The memo as the API returns it: present even when empty, as on the real server.
    pub(crate) fn memo(&self) -> Option<Memo> {
        Some(Memo {
            fields: self.memo.clone(),
        })
    }

    pub(crate) fn search_attributes(&self) -> Option<SearchAttributes> {
        Some(SearchAttributes {
            indexed_fields: self.search_attributes.clone(),
        })
    }
}

/// Sets each upserted value; an unset one (null, empty) removes its key.
fn merge(target: &mut HashMap<String, Payload>, upsert: &HashMap<String, Payload>) {
    for (name, value) in upsert {
        if is_unset(value) {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::history::v1::{
        UpsertWorkflowSearchAttributesEventAttributes, WorkflowExecutionStartedEventAttributes,
        WorkflowPropertiesModifiedEventAttributes,
    };

    use super::*;

    fn json(text: &str) -> Payload {
        Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: text.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, Payload> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json(v)))
            .collect()
    }

    #[test]
    fn start_then_upserts_merge_and_unset_removes() {
        let events = [
            Attributes::WorkflowExecutionStartedEventAttributes(
                WorkflowExecutionStartedEventAttributes {
                    memo: Some(Memo {
                        fields: fields(&[("note", "\"a\""), ("gone", "1")]),
                    }),
                    search_attributes: Some(SearchAttributes {
                        indexed_fields: fields(&[("Kw", "\"x\""), ("Num", "1")]),
                    }),
                    ..Default::default()
                },
            ),
            Attributes::UpsertWorkflowSearchAttributesEventAttributes(
                UpsertWorkflowSearchAttributesEventAttributes {
                    search_attributes: Some(SearchAttributes {
                        indexed_fields: fields(&[
                            ("Num", "null"),
                            ("Kw", "\"y\""),
                            ("New", "true"),
                        ]),
                    }),
                    ..Default::default()
                },
            ),
            Attributes::WorkflowPropertiesModifiedEventAttributes(
                WorkflowPropertiesModifiedEventAttributes {
                    upserted_memo: Some(Memo {
                        fields: fields(&[("gone", "null"), ("more", "2")]),
                    }),
                    ..Default::default()
                },
            ),
        ];
        let history: Vec<HistoryEvent> = events
            .into_iter()
            .map(|a| HistoryEvent {
                attributes: Some(a),
                ..Default::default()
            })
            .collect();
        let properties = Properties::from_events(&history);
        assert_eq!(properties.memo, fields(&[("note", "\"a\""), ("more", "2")]));
        assert_eq!(
            properties.search_attributes,
            fields(&[("Kw", "\"y\""), ("New", "true")])
        );
        assert_eq!(Properties::default().memo(), Some(Memo::default()));
    }
}
