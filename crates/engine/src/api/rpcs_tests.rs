//! The RPC table against the protos, the checked-in `docs/rpcs.md`, the engine's answers and
//! the dev server's refusals.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use prost::bytes::{Buf, BufMut};
use tonic::{
    Code, Request, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::Channel,
};
use workflow_testkit::TemporalServer;

use super::{Declined, RPCS, Refused, Served, markdown};
use crate::{Engine, EngineOptions};

include!(concat!(env!("OUT_DIR"), "/rpc_names.rs"));

#[test]
fn rpc_table_lists_every_rpc_of_the_protos_in_order() {
    let protos: Vec<(&str, &str)> = RPC_NAMES
        .iter()
        .map(|(service, method, _)| (short(service), *method))
        .collect();
    let table: Vec<(&str, &str)> = RPCS
        .iter()
        .map(|(service, method, _)| (*service, *method))
        .collect();
    for rpc in &protos {
        assert!(
            table.contains(rpc),
            "{rpc:?} is in the protos but not in api/rpcs.rs: add its row with its status"
        );
    }
    assert_eq!(
        table, protos,
        "api/rpcs.rs must list the protos' RPCs in proto order"
    );
}

#[test]
fn rpc_table_doc_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/rpcs.md");
    let generated = markdown();
    if std::env::var_os("UPDATE_RPC_TABLE").is_some() {
        std::fs::write(&path, &generated).expect("write docs/rpcs.md");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/rpcs.md is not the table in api/rpcs.rs: rerun with UPDATE_RPC_TABLE=1 and commit it"
    );
}

#[tokio::test]
async fn rpc_table_matches_the_engines_answers() {
    let engine = Engine::start(EngineOptions::new("127.0.0.1:0".parse().expect("address")))
        .await
        .expect("engine starts");
    let mut wrong = Vec::new();
    for (service, method, offer) in RPCS {
        // Served RPCs get an empty request (no namespace: nothing is changed); the others
        // the `default` namespace, as the dev server is asked below.
        let namespace = (*offer != Served).then_some("default");
        let answer = call(engine.address(), service, method, namespace).await;
        let right = match offer {
            Served => answer.code() != Code::Unimplemented,
            Refused { code, message, .. } | Declined { code, message, .. } => {
                answer.code() == *code
                    && answer.message() == message.replace("{namespace}", "default")
            }
        };
        if !right {
            wrong.push(format!(
                "{method}: {offer:?}, the engine answers {answer:?}"
            ));
        }
    }
    engine.shutdown().await.expect("engine stops");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn refusals_are_the_dev_servers() {
    let server = TemporalServer::start();
    let address: SocketAddr = server.address().parse().expect("dev server address");
    let mut wrong = Vec::new();
    for (service, method, offer) in RPCS {
        let Refused { code, message, .. } = offer else {
            continue;
        };
        let answer = call(address, service, method, Some("default")).await;
        let message = message.replace("{namespace}", "default");
        if answer.code() != *code || answer.message() != message {
            wrong.push(format!(
                "{method}: the table says {code:?} {message:?}, the dev server answers {answer:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `temporal.api.workflowservice.v1.WorkflowService` -> `WorkflowService`.
fn short(service: &str) -> &str {
    service.rsplit('.').next().unwrap_or(service)
}

/// Calls `service/method` with a request that has only its `namespace` set (or nothing),
/// and returns the status it ends with (`Ok` for an answer).
async fn call(address: SocketAddr, service: &str, method: &str, namespace: Option<&str>) -> Status {
    let (full, _, field) = RPC_NAMES
        .iter()
        .find(|(full, name, _)| short(full) == service && *name == method)
        .expect("the RPC is in the protos");
    let mut body = Vec::new();
    if let (Some(namespace), Some(field)) = (namespace, field) {
        prost::encoding::string::encode(*field, &namespace.to_owned(), &mut body);
        if method == "PollWorkflowExecutionTimeSkipping" {
            // Its execution is checked before the refusal: `workflow_execution` (2) with a
            // workflow id.
            body.extend_from_slice(&[0x12, 0x03, 0x0a, 0x01, b'x']);
        }
    }
    let channel = Channel::from_shared(format!("http://{address}"))
        .expect("uri")
        .connect()
        .await
        .expect("connects");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_str(&format!("/{full}/{method}"))
        .expect("path");
    let mut request = Request::new(body);
    request.set_timeout(Duration::from_secs(5));
    match grpc.unary(request, path, RawCodec).await {
        Ok(_) => Status::ok(""),
        Err(status) => status,
    }
}

/// Sends and receives message bytes as they are.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}
