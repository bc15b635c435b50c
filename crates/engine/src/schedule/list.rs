//! Reading schedules: the list (filtered by the caller's predicate, which `ListSchedules`
//! builds from its query) and the times a schedule's spec matches.

use temporalio_protos::temporal::api::{
    common::v1::SearchAttributes,
    schedule::v1::{ScheduleListEntry, ScheduleListInfo, schedule_action},
    workflowservice::v1::{
        ListScheduleMatchingTimesRequest, ListScheduleMatchingTimesResponse, ListSchedulesRequest,
        ListSchedulesResponse,
    },
};

use super::{
    Entry,
    runs::{future, key, not_found, recent_actions},
};
use crate::{
    error::{EngineError, Result},
    history::Registry,
    time::{timestamp, timestamp_ms},
};

/// Future action times a list entry shows.
const LIST_FUTURE: usize = 5;
/// The most matching times one `ListScheduleMatchingTimes` answers.
const MAX_MATCHING: usize = 1000;

impl Registry {
    /// Schedules of a namespace by id, those `keep` takes (given each one's id, whether it
    /// is paused and its search attributes); `next_page_token` is the last id of the page.
    pub(crate) fn list_schedules(
        &self,
        request: &ListSchedulesRequest,
        now_ms: i64,
        keep: &dyn Fn(&str, bool, Option<&SearchAttributes>) -> bool,
    ) -> Result<ListSchedulesResponse> {
        self.namespace(&request.namespace)?;
        let after = String::from_utf8_lossy(&request.next_page_token).into_owned();
        let size = usize::try_from(request.maximum_page_size)
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or(1000);
        let mut schedules: Vec<ScheduleListEntry> = self
            .schedules
            .entries
            .range(key(&request.namespace, &after)..)
            .take_while(|((ns, _), _)| *ns == request.namespace)
            .filter(|((_, id), _)| after.is_empty() || *id != after)
            .filter(|((_, id), entry)| {
                let s = &entry.state;
                let paused = s.schedule.state.as_ref().is_some_and(|p| p.paused);
                keep(id, paused, s.search_attributes.as_ref())
            })
            .take(size + 1)
            .map(|(_, entry)| list_entry(entry, now_ms))
            .collect();
        let next_page_token = if schedules.len() > size {
            schedules.truncate(size);
            schedules
                .last()
                .map(|e| e.schedule_id.clone().into_bytes())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        Ok(ListSchedulesResponse {
            schedules,
            next_page_token,
        })
    }

    pub(crate) fn schedule_matching_times(
        &self,
        request: &ListScheduleMatchingTimesRequest,
    ) -> Result<ListScheduleMatchingTimesResponse> {
        self.namespace(&request.namespace)?;
        let entry = self
            .schedules
            .entries
            .get(&key(&request.namespace, &request.schedule_id))
            .ok_or_else(|| not_found(&request.schedule_id))?;
        let (Some(start), Some(end)) = (&request.start_time, &request.end_time) else {
            return Err(EngineError::invalid(
                "start_time and end_time must both be set.",
            ));
        };
        let times = entry
            .spec
            .matching(timestamp_ms(start), timestamp_ms(end), MAX_MATCHING);
        Ok(ListScheduleMatchingTimesResponse {
            start_time: times.into_iter().map(timestamp).collect(),
        })
    }
}

fn list_entry(entry: &Entry, now_ms: i64) -> ScheduleListEntry {
    let s = &entry.state;
    let workflow_type = match s.schedule.action.as_ref().and_then(|a| a.action.as_ref()) {
        Some(schedule_action::Action::StartWorkflow(info)) => info.workflow_type.clone(),
        None => None,
    };
    let proto = s.schedule.state.clone().unwrap_or_default();
    ScheduleListEntry {
        schedule_id: s.schedule_id.clone(),
        memo: s.memo.clone(),
        search_attributes: s.search_attributes.clone(),
        info: Some(ScheduleListInfo {
            spec: s.schedule.spec.clone(),
            workflow_type,
            notes: proto.notes,
            paused: proto.paused,
            recent_actions: recent_actions(s, LIST_FUTURE),
            future_action_times: future(entry, now_ms, LIST_FUTURE),
            ..Default::default()
        }),
    }
}
