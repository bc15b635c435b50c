//! The one activity every activity workload calls, and the options it is called with.
// The SDK macros generate undocumented, crate-visible marker items for each method.
#![allow(missing_docs, unreachable_pub)]

use std::time::Duration;

use temporalio_macros::activities;
use temporalio_sdk::ActivityOptions;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

pub struct BenchActivities;

#[activities]
impl BenchActivities {
    /// Returns its input.
    #[activity]
    pub async fn echo(_ctx: ActivityContext, input: u64) -> Result<u64, ActivityError> {
        Ok(input)
    }
}

pub(crate) fn activity_options() -> ActivityOptions {
    ActivityOptions::start_to_close_timeout(Duration::from_secs(30))
}
