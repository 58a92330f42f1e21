//! Bad input gets a 4xx with a stable code and a readable message, never a 500, and writes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn snapshot(s: &TestServer) -> Vec<i64> {
    let mut v = Vec::new();
    for t in
        ["users", "user_groups", "group_members", "user_permissions", "object_rights", "settings", "tasks", "sessions"]
    {
        v.push(s.count(t).await);
    }
    v
}

fn assert_refused(r: &common::Resp, status: u16, code: &str, label: &str) {
    assert_eq!(r.status.as_u16(), status, "{label}: {:?}", r.body);
    assert_eq!(r.code(), code, "{label}: {:?}", r.body);
    let msg = r.body["message"].as_str().unwrap_or("");
    assert!(msg.len() > 10, "{label}: a message a person can read: {msg:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_cleanly() {
    let s = TestServer::start().await;
    let admin = s.admin().await;
    let group = s.call(Method::POST, "/api/v1/groups", Some(&admin), Some(json!({"name": "team"}))).await.body["id"]
        .as_i64()
        .unwrap();
    let before = snapshot(&s).await;
    let t = Some(admin.as_str());

    // Body shape
    let r = s.raw(Method::POST, "/api/v1/users", t, "application/json", b"{\"login\": \"x\",".to_vec()).await;
    assert_refused(&r, 422, "invalid_json", "truncated JSON");
    let r = s.raw(Method::POST, "/api/v1/users", t, "text/plain", b"{}".to_vec()).await;
    assert_refused(&r, 415, "unsupported_media_type", "no JSON content type");
    let r = s.call(Method::POST, "/api/v1/users", t, Some(json!({"login": 5, "password": "Temp-Pass-1234"}))).await;
    assert_refused(&r, 422, "invalid_body", "wrong type");
    assert!(r.body["message"].as_str().unwrap().contains("login"), "names the field: {:?}", r.body);
    let r = s
        .call(
            Method::POST,
            "/api/v1/users",
            t,
            Some(json!({"login": "eve", "password": "Temp-Pass-1234", "role": "root"})),
        )
        .await;
    assert_refused(&r, 422, "invalid_body", "unknown field");
    assert!(r.body["message"].as_str().unwrap().contains("role"), "{:?}", r.body);
    let r = s.call(Method::POST, "/api/v1/users", t, Some(json!({"password": "Temp-Pass-1234"}))).await;
    assert_refused(&r, 422, "invalid_body", "missing field");
    let huge = json!({"login": "eve", "password": "Temp-Pass-1234", "first_name": "x".repeat(200_000)});
    let r = s.call(Method::POST, "/api/v1/users", t, Some(huge)).await;
    assert_refused(&r, 413, "payload_too_large", "huge body");

    // Field values
    for (body, field, label) in [
        (json!({"login": "", "password": "Temp-Pass-1234"}), "login", "empty login"),
        (json!({"login": "a".repeat(33), "password": "Temp-Pass-1234"}), "login", "overlong login"),
        (json!({"login": "Eve Smith", "password": "Temp-Pass-1234"}), "login", "login with space and capitals"),
        (
            json!({"login": "eve", "password": "Temp-Pass-1234", "first_name": "x".repeat(101)}),
            "first_name",
            "overlong name",
        ),
        (
            json!({"login": "eve", "password": "Temp-Pass-1234", "last_name": "a\u{7}b"}),
            "last_name",
            "control character",
        ),
        (json!({"login": "eve", "password": "Temp-Pass-1234", "email": "eve-at-example"}), "email", "bad e-mail"),
        (
            json!({"login": "eve", "password": "Temp-Pass-1234", "time_zone": "Mars/Olympus"}),
            "time_zone",
            "bad time zone",
        ),
    ] {
        let r = s.call(Method::POST, "/api/v1/users", t, Some(body)).await;
        assert_refused(&r, 422, "invalid_field", label);
        assert_eq!(r.body["field"], field, "{label}");
    }
    let r = s.call(Method::POST, "/api/v1/users", t, Some(json!({"login": "eve", "password": "short"}))).await;
    assert_refused(&r, 422, "weak_password", "weak password");
    let r =
        s.call(Method::POST, "/api/v1/users", t, Some(json!({"login": "admin", "password": "Temp-Pass-1234"}))).await;
    assert_refused(&r, 409, "conflict", "duplicate login");
    let r = s.call(Method::POST, "/api/v1/groups", t, Some(json!({"name": ""}))).await;
    assert_refused(&r, 422, "invalid_field", "empty group name");
    let r = s.call(Method::POST, "/api/v1/groups", t, Some(json!({"name": "g".repeat(65)}))).await;
    assert_refused(&r, 422, "invalid_field", "overlong group name");
    let r = s.call(Method::POST, "/api/v1/groups", t, Some(json!({"name": "ghosts", "members": [9999]}))).await;
    assert_refused(&r, 422, "invalid_field", "unknown member");
    let r = s.call(Method::PATCH, &format!("/api/v1/groups/{group}"), t, Some(json!({"name": "  "}))).await;
    assert_refused(&r, 422, "invalid_field", "blank rename");
    let r = s.call(Method::PATCH, "/api/v1/users/1", t, Some(json!({"email": "nope"}))).await;
    assert_refused(&r, 422, "invalid_field", "bad e-mail on update");
    let r = s.call(Method::PATCH, "/api/v1/users/1", t, Some(json!({"is_admin": false}))).await;
    assert_refused(&r, 409, "conflict", "the last administrator stays");

    // Settings
    for (name, value, status, code) in [
        ("WMAIS_CONNECTION_ATTEMPTS", json!(0), 422, "invalid_field"),
        ("WMAIS_CONNECTION_ATTEMPTS", json!("50"), 422, "invalid_field"),
        ("WMAIS_CONNECTION_ATTEMPTS", json!(1.5), 422, "invalid_field"),
        ("WMAIS_DASHBOARD_HISTORY_DAYS", json!(100000), 422, "invalid_field"),
        ("WMAIS_SG_IP_ADDRESS", json!("my-laptop"), 422, "invalid_field"),
        ("WMAIS_SG_IP_CIDR", json!("/200"), 422, "invalid_field"),
        ("WMAIS_SG_AUTO_IP_DISCOVER", json!("not a url"), 422, "invalid_field"),
        ("WMAIS_DATA_BASE_PATH", json!("../../etc"), 422, "invalid_field"),
        ("WMAIS_DEFAULT_TIMEZONE", json!("Nowhere/City"), 422, "invalid_field"),
        ("WMAIS_KEEP_INSTANCE_RUNNING_ON_ERROR", json!("True"), 422, "invalid_field"),
        ("WMAIS_NO_SUCH_SETTING", json!(1), 404, "not_found"),
    ] {
        let r = s.call(Method::PUT, &format!("/api/v1/settings/{name}"), t, Some(json!({"value": value}))).await;
        assert_refused(&r, status, code, &format!("{name} = {value}"));
    }
    let r = s.call(Method::PUT, "/api/v1/settings/WMAIS_CONNECTION_ATTEMPTS", t, Some(json!({"val": 3}))).await;
    assert_refused(&r, 422, "invalid_body", "misspelt setting body");

    // Paths and queries
    let r = s.call(Method::GET, "/api/v1/users/abc", t, None).await;
    assert_refused(&r, 422, "invalid_field", "non-numeric id");
    let r = s.call(Method::GET, "/api/v1/users/99999", t, None).await;
    assert_refused(&r, 404, "not_found", "unknown user");
    let r = s.call(Method::GET, "/api/v1/rights/spaceship/1", t, None).await;
    assert_refused(&r, 422, "invalid_field", "unknown object kind");
    let r = s.call(Method::GET, "/api/v1/tasks?state=sleeping", t, None).await;
    assert_refused(&r, 422, "invalid_field", "unknown task state");
    let r = s.call(Method::GET, "/api/v1/tasks?colour=blue", t, None).await;
    assert_refused(&r, 422, "invalid_field", "unknown query parameter");
    let r = s.call(Method::GET, "/api/v1/tasks?limit=-1", t, None).await;
    assert_refused(&r, 422, "invalid_field", "negative limit");
    let r = s
        .call(
            Method::POST,
            "/api/v1/rights/grant",
            t,
            Some(json!({"object_kind": "image", "object_id": 1, "group_id": group, "right": "fly"})),
        )
        .await;
    assert_refused(&r, 422, "invalid_body", "unknown right");
    let r = s.call(Method::POST, "/api/v1/debug/tasks", t, Some(json!({"steps": 0}))).await;
    assert_refused(&r, 422, "invalid_field", "zero steps");
    let r = s.call(Method::POST, "/api/v1/admin/maintenance", t, Some(json!({"action": "format_disk"}))).await;
    assert_refused(&r, 422, "invalid_field", "unknown maintenance");
    let r = s.call(Method::POST, "/api/v1/auth/tokens", t, Some(json!({"name": "ci", "expires_in_days": 0}))).await;
    assert_refused(&r, 422, "invalid_field", "token lifetime");
    let r = s.call(Method::GET, "/api/v1/no/such/route", t, None).await;
    assert_refused(&r, 404, "not_found", "unknown route");
    let r = s.call(Method::DELETE, "/api/v1/settings", t, None).await;
    assert_refused(&r, 405, "method_not_allowed", "wrong method");
    let r = s.call(Method::GET, "/api/v1/users", Some("Basic abc"), None).await;
    assert_refused(&r, 401, "unauthorized", "garbage token");

    assert_eq!(snapshot(&s).await, before, "refused requests wrote nothing");

    // No body shape makes any write route fail with a server error.
    let doc = serde_json::to_value(wintermute_server::openapi_document()).unwrap();
    let garbage = [
        json!(null),
        json!([]),
        json!("text"),
        json!(12),
        json!({"x": {"y": [1, 2]}}),
        json!({"name": null, "login": []}),
    ];
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "1")
            .replace("{kind}", "image")
            .replace("{group_id}", &group.to_string())
            .replace("{name}", "WMAIS_CONNECTION_ATTEMPTS");
        for (method, op) in ops.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            for g in &garbage {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let r = s.call(m, &concrete, t, Some(g.clone())).await;
                assert!(r.status.is_client_error(), "{method} {concrete} with {g}: {} {:?}", r.status, r.body);
                assert!(r.body.get("code").is_some_and(Value::is_string), "{method} {concrete}: {:?}", r.body);
            }
        }
    }
    assert_eq!(s.call(Method::GET, "/api/v1/health", None, None).await.status, StatusCode::OK, "still healthy");
    s.stop().await;
}
