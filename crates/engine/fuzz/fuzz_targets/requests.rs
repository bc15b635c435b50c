//! libFuzzer target: arbitrary bytes as a sequence of `WorkflowService` requests against a
//! fresh in-memory engine (format and invariants: `workflow_engine::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    workflow_engine::fuzzing::run_requests(data);
});
