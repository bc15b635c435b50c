//! Generates only the gRPC server traits for Temporal's `WorkflowService`,
//! `OperatorService` and `TestService` (the time-skipping test server's). Every message type comes from `temporalio-protos` (the SDK's own
//! types) through `extern_path`, so the engine and the SDK share one set of structs.

use std::{env, error::Error, fs};

use prost::Message;
use prost_types::FileDescriptorSet;

const SERVICES: [&str; 3] = [
    "temporal/api/workflowservice/v1/service.proto",
    "temporal/api/operatorservice/v1/service.proto",
    "temporal/api/testservice/v1/service.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let descriptor_path = env::var("DEP_TEMPORALIO_PROTOS_DESCRIPTOR_PATH")
        .map_err(|_| "temporalio-protos did not export its descriptor path")?;
    println!("cargo:rerun-if-changed={descriptor_path}");
    let all = FileDescriptorSet::decode(fs::read(&descriptor_path)?.as_slice())?;
    let services: Vec<_> = all
        .file
        .into_iter()
        .filter(|file| SERVICES.contains(&file.name()))
        .collect();
    if services.len() != SERVICES.len() {
        return Err("service protos missing from the temporalio-protos descriptor set".into());
    }
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .generate_default_stubs(true)
        .extern_path(".temporal.api", "::temporalio_protos::temporal::api")
        .compile_fds(FileDescriptorSet { file: services })?;
    Ok(())
}
