//! The envelope: MassTransit's shape, lenient reading, ids.
use super::*;

const HAND_WRITTEN: &str = r#"{
  "messageId": "0d2f0000-5d59-0015-e1ab-08dc8f1e2a3b",
  "requestId": null,
  "correlationId": "6f1c1d2e-1111-4a5b-9c3d-222233334444",
  "conversationId": "0d2f0000-5d59-0015-e1ac-08dc8f1e2a3b",
  "initiatorId": "0d2f0000-5d59-0015-aaaa-08dc8f1e2a3b",
  "sourceAddress": "rabbitmq://localhost/default_source_ingestion",
  "destinationAddress": "rabbitmq://localhost/default-source-download",
  "responseAddress": null,
  "faultAddress": null,
  "messageType": ["urn:message:Isoqube.Contracts:DefaultSourceDownload"],
  "message": {"repository": "github.com/acme/app", "commit": "abc123"},
  "expirationTime": null,
  "sentTime": "2024-06-17T10:11:12.1234567Z",
  "headers": {"Isoqube-RunId": "6f1c1d2e-1111-4a5b-9c3d-222233334444", "Isoqube-Step": 1},
  "host": {
    "machineName": "build-01", "processName": "Isoqube.Default", "processId": 4242,
    "assembly": "Isoqube.Default", "assemblyVersion": "1.0.0.0",
    "frameworkVersion": "8.0.6", "massTransitVersion": "8.2.3.0",
    "operatingSystemVersion": "Unix 6.5.0.0"
  }
}"#;

#[test]
fn parses_hand_written_masstransit_envelope_and_round_trips() {
    let env = Envelope::from_slice(HAND_WRITTEN.as_bytes()).unwrap();
    assert_eq!(env.message_id, "0d2f0000-5d59-0015-e1ab-08dc8f1e2a3b");
    assert_eq!(
        env.message_type,
        ["urn:message:Isoqube.Contracts:DefaultSourceDownload"]
    );
    assert_eq!(env.message["commit"], "abc123");
    let host = env.host.as_ref().unwrap().info().unwrap();
    assert_eq!(host.process_id, Some(4242));
    assert_eq!(host.mass_transit_version.as_deref(), Some("8.2.3.0"));
    let (run, step) = env.run_step().unwrap();
    assert_eq!(run.to_string(), "6f1c1d2e-1111-4a5b-9c3d-222233334444");
    assert_eq!(step, 1);

    let again = Envelope::from_slice(&env.to_vec()).unwrap();
    assert_eq!(again, env);
    let v: Value = serde_json::from_slice(&env.to_vec()).unwrap();
    for key in [
        "messageId",
        "correlationId",
        "conversationId",
        "initiatorId",
        "sourceAddress",
        "destinationAddress",
        "messageType",
        "message",
        "sentTime",
        "headers",
        "host",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert!(v.get("requestId").is_none(), "nulls are omitted");
}

/// Ids stay distinct and RFC 4122 version-4 shaped across many calls and
/// threads.
#[test]
fn message_ids_are_unique_v4() {
    let ids: Vec<Uuid> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..5000).map(|_| new_message_id()).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
    for id in &ids {
        assert_eq!(id.get_version_num(), 4, "{id}");
        assert_eq!(id.get_variant(), uuid::Variant::RFC4122, "{id}");
    }
}

/// The service's borrowed parse accepts and refuses what the public one
/// does, and reads the same values.
#[test]
fn incoming_agrees_with_envelope() {
    let bodies: Vec<Vec<u8>> = vec![
        HAND_WRITTEN.as_bytes().to_vec(),
        br#"{"messageId":"a\u0062c","message":{},"conversationId":"c\"q","messageType":["urn:message:X:\u0059"]}"#.to_vec(),
        br#"{"messageId":"x","message":{"k":[1,{"a":null}]},"headers":{"Isoqube-RunId":5,"Isoqube-Step":"2","Isoqube-Definition":["d"],"Other":{"deep":[1,2,{"x":"y"}]}}}"#.to_vec(),
        br#"{"messageId":"x","message":{},"headers":{"Isoqube-RunId":"6f1c1d2e-1111-4a5b-9c3d-222233334444","Isoqube-Step":3,"Isoqube-Step":4,"Isoqube-Definition":"d\n"}}"#.to_vec(),
        br#"{"messageId":"x","message":{},"headers":{"Isoqube-RunId":"not-a-uuid","Isoqube-Step":-1}}"#.to_vec(),
        br#"{"messageId":"x","message":{},"headers":null}"#.to_vec(),
        br#"{"messageId":"x","message":{},"headers":["Isoqube-RunId"]}"#.to_vec(),
        br#"{"messageId":"x","message":{},"correlationId":7}"#.to_vec(),
        br#"{"messageId":"x","message":{},"requestId":"r-1","responseAddress":"rabbitmq://h/bus_x?temporary=true"}"#.to_vec(),
        br#"{"messageId":"x","message":{},"messageType":"urn:message:X:Y"}"#.to_vec(),
        br#"{"messageId":"x","message":{},"requestId":null,"faultAddress":null,"host":{"machineName":"m"}}"#.to_vec(),
        br#"["x",null,null,null,null,null,null,null,null,[],{}]"#.to_vec(),
        br#"  {"messageId":" ","message":{}}"#.to_vec(),
        br#"{"messageId":"x"}"#.to_vec(),
        br#"{"messageId":"x","message":{}} trailing"#.to_vec(),
        b"\xff\xfe".to_vec(),
        b"".to_vec(),
        b"null".to_vec(),
    ];
    for body in &bodies {
        let text = String::from_utf8_lossy(body);
        match (Envelope::from_slice(body), Incoming::from_slice(body)) {
            (Ok(env), Ok(inc)) => {
                assert_eq!(env.message_id, &*inc.message_id, "{text}");
                assert_eq!(
                    env.correlation_id.as_deref(),
                    inc.correlation_id.as_deref(),
                    "{text}"
                );
                assert_eq!(
                    env.conversation_id.as_deref(),
                    inc.conversation_id.as_deref(),
                    "{text}"
                );
                assert_eq!(
                    env.request_id.as_deref(),
                    inc.request_id.as_deref(),
                    "{text}"
                );
                assert_eq!(
                    env.response_address.as_deref(),
                    inc.response_address.as_deref(),
                    "{text}"
                );
                let types: Vec<&str> = inc.message_type.iter().map(|t| &**t).collect();
                assert_eq!(env.message_type, types, "{text}");
                assert_eq!(env.message, inc.message, "{text}");
                // The service refuses unusable run headers the lenient
                // `Envelope::run_step` reads as "no run".
                match inc.run_step() {
                    Ok(run_step) => assert_eq!(env.run_step(), run_step, "{text}"),
                    Err(_) => assert_eq!(env.run_step(), None, "{text}"),
                }
                let definition = env.headers.get(HEADER_DEFINITION).and_then(Value::as_str);
                assert_eq!(definition, inc.definition(), "{text}");
            }
            (Err(Error::Malformed(_)), Err(Error::Malformed(_))) => {}
            (a, b) => panic!("{text}: envelope {a:?}, incoming {b:?}"),
        }
    }
    // The well-formed ones above really are accepted (not all refused).
    assert!(Incoming::from_slice(&bodies[0]).is_ok());
    let hand = Incoming::from_slice(&bodies[0]).unwrap();
    assert_eq!(hand.run_step().ok().flatten().map(|r| r.1), Some(1));
    let escaped = Incoming::from_slice(&bodies[1]).unwrap();
    assert_eq!(&*escaped.message_id, "abc");
    assert_eq!(escaped.conversation_id.as_deref(), Some("c\"q"));
}

#[test]
fn refuses_what_is_not_an_envelope() {
    for body in [
        &b"\xff\xfe"[..],
        b"[1,2]",
        b"{}",
        br#"{"messageId":"x"}"#,
        br#"{"messageId":"","message":{}}"#,
        br#"{"messageId":"x","message":3}"#,
    ] {
        let err = Envelope::from_slice(body).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
    }
}

#[test]
fn unusable_run_headers_are_named() {
    let with = |headers: Value| {
        let mut env = Envelope::new("urn:message:Suite:Alpha", serde_json::json!({}));
        if let Value::Object(h) = headers {
            env.headers = h.into_iter().collect();
        }
        env.to_vec()
    };
    let id = uuid::Uuid::new_v4().to_string();
    let cases = [
        (
            serde_json::json!({"Isoqube-RunId": "not-a-uuid", "Isoqube-Step": 0}),
            "is not a run id",
        ),
        (
            serde_json::json!({"Isoqube-RunId": id, "Isoqube-Step": -1}),
            "is not a step index",
        ),
        (
            serde_json::json!({"Isoqube-RunId": id, "Isoqube-Step": "1"}),
            "is not a step index",
        ),
        (
            serde_json::json!({"Isoqube-RunId": id}),
            "without Isoqube-Step",
        ),
        (
            serde_json::json!({"Isoqube-Step": 2}),
            "without Isoqube-RunId",
        ),
        (
            serde_json::json!({"Isoqube-RunId": 7, "Isoqube-Step": 0}),
            "is not a string",
        ),
    ];
    for (headers, says) in cases {
        let body = with(headers.clone());
        let inc = Incoming::from_slice(&body).unwrap();
        let err = inc.run_step().unwrap_err();
        assert!(err.contains(says), "{headers}: {err}");
    }
    let plain = with(serde_json::json!({"other": 1}));
    assert_eq!(Incoming::from_slice(&plain).unwrap().run_step(), Ok(None));
    let good = with(serde_json::json!({"Isoqube-RunId": id, "Isoqube-Step": 3}));
    let run_step = Incoming::from_slice(&good).unwrap().run_step().unwrap();
    assert_eq!(run_step.map(|r| r.1), Some(3));
}
