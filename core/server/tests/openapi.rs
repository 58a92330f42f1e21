//! The committed OpenAPI document must match the code. Regenerate with
//! `UPDATE_OPENAPI=1 cargo test -p wintermute-server --test openapi`.

use std::path::PathBuf;

#[test]
fn committed_openapi_document_is_current() {
    let generated = wintermute_server::openapi_document().to_pretty_json().expect("serialises") + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "core/server/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p wintermute-server --test openapi` and commit it"
    );
}

#[test]
fn every_error_answer_is_documented_as_api_error() {
    let doc = serde_json::to_value(wintermute_server::openapi_document()).expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 25, "all routes are documented ({})", paths.len());
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("ops") {
            for (status, resp) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &resp["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ApiError", "{method} {path} {status}");
                }
            }
        }
    }
}
