//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Wintermute core API", description = "The API of a Wintermute core: an in-house cloud access broker. \
        Errors are JSON objects {\"code\", \"message\"} with stable codes."),
    modifiers(&BearerAuth),
    components(schemas(wintermute_api::ErrorCode, wintermute_api::events::Event,
        wintermute_api::console::ConsoleClientMessage, wintermute_api::console::ConsoleServerMessage)),
    tags(
        (name = "auth", description = "Login, logout, passwords and API tokens"),
        (name = "users", description = "User accounts and their global permissions"),
        (name = "groups", description = "Groups of users"),
        (name = "rights", description = "Rights of groups on objects"),
        (name = "tasks", description = "Long-running actions and their live events"),
        (name = "system", description = "Health, audit log, settings, dashboard"),
        (name = "keys", description = "SSH keys, host keys, the master key, backup and restore"),
        (name = "providers", description = "Cloud providers, their regions and instance types, and images"),
        (name = "instances", description = "Instances: launch, list, control, batch actions"),
        (name = "volumes", description = "Storage volumes: create, attach, detach, delete"),
        (name = "scenarios", description = "User defined scripts run on new instances, and cloud templates"),
        (name = "console", description = "SSH consoles on instances (WebSocket), their sessions and recordings"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
