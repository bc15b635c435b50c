//! Generates only the gRPC server traits for Temporal's `WorkflowService`,
//! `OperatorService` and `TestService` (the time-skipping test server's). Every message type comes from `temporalio-protos` (the SDK's own
//! types) through `extern_path`, so the engine and the SDK share one set of structs.

use std::{env, error::Error, fmt::Write as _, fs, path::PathBuf};

use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet};

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
        .iter()
        .filter(|file| SERVICES.contains(&file.name()))
        .cloned()
        .collect();
    if services.len() != SERVICES.len() {
        return Err("service protos missing from the temporalio-protos descriptor set".into());
    }
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("rpc_names.rs"), rpc_names(&all, &services))?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(false)
        .generate_default_stubs(true)
        .extern_path(".temporal.api", "::temporalio_protos::temporal::api")
        .compile_fds(FileDescriptorSet { file: services })?;
    Ok(())
}

/// Every method of the three services, in proto order, with the field number of its
/// request's `namespace` string (if it has one): `api/rpcs.rs` checks its table against
/// this list, and its test calls each method with only the namespace set.
fn rpc_names(all: &FileDescriptorSet, services: &[FileDescriptorProto]) -> String {
    let mut code = String::from(
        "/// `(service, method, namespace field of the request)` for every RPC, in proto order.\n\
         pub(crate) const RPC_NAMES: &[(&str, &str, Option<u32>)] = &[\n",
    );
    for file in services {
        for service in &file.service {
            let full = format!("{}.{}", file.package(), service.name());
            for method in &service.method {
                let namespace = namespace_field(all, method.input_type());
                let _ = writeln!(code, "    ({full:?}, {:?}, {namespace:?}),", method.name());
            }
        }
    }
    code.push_str("];\n");
    code
}

/// The number of the string field `namespace` of the message named `.pkg.Type`.
fn namespace_field(all: &FileDescriptorSet, type_name: &str) -> Option<u32> {
    let (package, name) = type_name.trim_start_matches('.').rsplit_once('.')?;
    let message = all
        .file
        .iter()
        .filter(|file| file.package() == package)
        .flat_map(|file| &file.message_type)
        .find(|message| message.name() == name)?;
    message
        .field
        .iter()
        .find(|field| {
            field.name() == "namespace"
                && field.r#type() == prost_types::field_descriptor_proto::Type::String
        })
        .and_then(|field| u32::try_from(field.number()).ok())
}
