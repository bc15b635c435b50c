//! The endpoint registry against the real server's answers: versions, messages, paging,
//! and a restart from the stored settings.

use super::*;

fn worker(name: &str, namespace: &str, queue: &str) -> EndpointSpec {
    EndpointSpec {
        name: name.into(),
        description: None,
        target: Some(EndpointTarget {
            variant: Some(Variant::Worker(Worker {
                namespace: namespace.into(),
                task_queue: queue.into(),
            })),
        }),
    }
}

fn known(namespace: &str) -> bool {
    namespace == "default"
}

fn id(n: u8) -> String {
    format!("00000000-0000-0000-0000-0000000000{n:02x}")
}

#[test]
fn created_updated_deleted_with_versions() {
    let mut endpoints = Endpoints::default();
    let created = endpoints
        .create(Some(&worker("orders", "default", "q")), known, id(1), 1_000)
        .unwrap();
    assert_eq!(created.version, 1);
    assert!(created.created_time.is_some() && created.last_modified_time.is_none());
    assert_eq!(
        created.url_prefix,
        format!("/nexus/endpoints/{}/services", id(1))
    );
    let dup = endpoints.create(Some(&worker("orders", "default", "q")), known, id(2), 2);
    assert_eq!(
        dup,
        Err(EndpointError::Exists(
            "error creating Nexus endpoint. Endpoint with name orders already registered".into()
        ))
    );
    let stale = endpoints.update(
        &id(1),
        3,
        Some(&worker("orders", "default", "q2")),
        known,
        5,
    );
    assert_eq!(
        stale,
        Err(EndpointError::Precondition(
            "nexus endpoint version mismatch. received: 3 expected 1".into()
        ))
    );
    let updated = endpoints
        .update(
            &id(1),
            1,
            Some(&worker("orders", "default", "q2")),
            known,
            5_000,
        )
        .unwrap();
    assert_eq!(updated.version, 2);
    assert!(updated.created_time.is_none() && updated.last_modified_time.is_some());
    assert_eq!(
        endpoints.by_name("orders").map(|e| &e.target),
        Some(&Target::Worker {
            namespace: "default".into(),
            task_queue: "q2".into()
        })
    );
    endpoints.delete(&id(1), 99).unwrap();
    assert_eq!(
        endpoints.delete(&id(1), 1),
        Err(EndpointError::NotFound(format!(
            "error deleting nexus endpoint with ID: {}",
            id(1)
        )))
    );
    assert_eq!(
        endpoints.get(&id(1)),
        Err(EndpointError::NotFound(format!(
            "Nexus endpoint with ID `{}` not found",
            id(1)
        )))
    );
}

#[test]
fn refused_as_the_real_server_refuses() {
    let mut endpoints = Endpoints::default();
    let mut create = |spec: Option<&EndpointSpec>| {
        endpoints
            .create(spec, known, id(9), 0)
            .map(|_| ())
            .unwrap_err()
    };
    let invalid = |m: &str| EndpointError::Invalid(m.into());
    assert_eq!(
        create(None),
        invalid("endpoint name not set, empty target variant")
    );
    assert_eq!(
        create(Some(&worker("bad name", "default", "q"))),
        invalid(r#"endpoint name must match the regex: "^[a-zA-Z][a-zA-Z0-9\\-]*[a-zA-Z0-9]$""#)
    );
    assert_eq!(
        create(Some(&worker("x1", "", ""))),
        invalid(r#"target namespace not set, invalid target task queue: "taskQueue is not set""#)
    );
    assert_eq!(
        create(Some(&worker("x1", "nowhere", "q"))),
        EndpointError::Precondition(
            "could not verify namespace referenced by target exists: Namespace nowhere is not found."
                .into()
        )
    );
    let mut external = worker("x1", "", "");
    external.target = Some(EndpointTarget {
        variant: Some(Variant::External(External {
            url: "not a url".into(),
        })),
    });
    assert_eq!(
        create(Some(&external)),
        invalid(r#"invalid target URL scheme: "", expected http or https"#)
    );
    assert_eq!(endpoints.get(""), Err(invalid("endpoint ID not set")));
    assert!(
        matches!(endpoints.get("xyz"), Err(EndpointError::Invalid(m)) if m.starts_with("malformed endpoint ID: "))
    );
    assert_eq!(
        endpoints.delete("", 0),
        Err(invalid(
            "endpoint ID not set, endpoint version is non-positive"
        ))
    );
    assert!(name_is_valid("a1") && name_is_valid("my-endpoint-2"));
    assert!(!name_is_valid("a") && !name_is_valid("1a") && !name_is_valid("a-"));
}

#[test]
fn pages_in_id_order_and_survive_a_restart() {
    let mut endpoints = Endpoints::default();
    for n in [3, 1, 2] {
        endpoints
            .create(
                Some(&worker(&format!("e{n}"), "default", "q")),
                known,
                id(n),
                0,
            )
            .unwrap();
    }
    let (first, token) = endpoints.list(2, &[], "").unwrap();
    assert_eq!(
        first.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [id(1), id(2)]
    );
    let (rest, end) = endpoints.list(2, &token, "").unwrap();
    assert_eq!(
        rest.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [id(3)]
    );
    assert!(end.is_empty());
    let (named, _) = endpoints.list(1, b"ignored", "e3").unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(
        endpoints.list(-1, &[], ""),
        Err(EndpointError::Invalid("page_size is negative".into()))
    );

    endpoints.delete(&id(2), 1).unwrap();
    let settings: BTreeMap<String, String> = endpoints.take_writes().into_iter().collect();
    assert_eq!(settings.len(), 3);
    assert!(endpoints.take_writes().is_empty());
    let restored = Endpoints::restore(&settings);
    assert_eq!(restored.by_id, endpoints.by_id);
}
