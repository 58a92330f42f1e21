//! The Wintermute core server: the HTTP and WebSocket API (`/api/v1`) over the engine.
//!
//! It is a library so that the desktop app can run an embedded core on loopback and tests can
//! start one on port 0: `launch(listener, config, shutdown)`, or `serve` with an engine of your own.

pub mod cors;
pub mod error;
pub mod extract;
pub mod frontend;
pub mod openapi;
pub mod routes;
pub mod state;

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use wintermute_api::ErrorCode;
use wintermute_core::{Config, Engine, FirstStart};

use crate::error::HttpError;
use crate::routes::{auth, console, events, instances, keys, providers, rights, scenarios, sync, system, tasks, users};
use crate::state::AppState;

/// The API routes and the OpenAPI document describing exactly them.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::<AppState>::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(system::health))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::change_password))
        .routes(routes!(auth::me))
        .routes(routes!(auth::list_tokens, auth::create_token))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::get, users::update, users::delete))
        .routes(routes!(users::set_permissions))
        .routes(routes!(users::list_groups, users::create_group))
        .routes(routes!(users::get_group, users::update_group, users::delete_group))
        .routes(routes!(rights::objects))
        .routes(routes!(rights::security))
        .routes(routes!(rights::set_group))
        .routes(routes!(rights::grant))
        .routes(routes!(rights::revoke))
        .routes(routes!(tasks::list))
        .routes(routes!(tasks::get))
        .routes(routes!(tasks::log))
        .routes(routes!(tasks::cancel))
        .routes(routes!(tasks::maintenance))
        .routes(routes!(tasks::debug_task))
        .routes(routes!(events::events))
        .routes(routes!(system::audit))
        .routes(routes!(system::settings))
        .routes(routes!(system::setting, system::set_setting))
        .routes(routes!(system::dashboard))
        .routes(routes!(keys::ssh_key))
        .routes(routes!(keys::ssh_export))
        .routes(routes!(keys::ssh_rotate))
        .routes(routes!(keys::ssh_push))
        .routes(routes!(keys::host_key))
        .routes(routes!(keys::accept_host_key))
        .routes(routes!(keys::key_status))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::backup))
        // Reads its body as a stream with its own limit (server.restore_limit_bytes); the
        // default body limit applies to extractors only.
        .routes(routes!(keys::restore))
        .routes(routes!(providers::list, providers::create))
        .routes(routes!(providers::get, providers::update, providers::delete))
        .routes(routes!(providers::sync))
        .routes(routes!(providers::search_images))
        .routes(routes!(providers::local_images))
        .routes(routes!(providers::list_images, providers::import_image))
        .routes(routes!(providers::get_image, providers::update_image, providers::delete_image))
        .routes(routes!(instances::list, instances::launch))
        .routes(routes!(instances::batch))
        .routes(routes!(instances::get, instances::update))
        .routes(routes!(instances::action))
        .routes(routes!(sync::upload))
        .routes(routes!(sync::download))
        .routes(routes!(sync::volume_upload))
        .routes(routes!(sync::volume_download))
        .routes(routes!(sync::files, sync::put_file))
        .routes(routes!(sync::get_file))
        .routes(routes!(sync::put_tar, sync::get_tar))
        .routes(routes!(sync::delete_files))
        .routes(routes!(sync::file_sums))
        .routes(routes!(instances::list_volumes, instances::create_volume))
        .routes(routes!(instances::get_volume, instances::update_volume, instances::delete_volume))
        .routes(routes!(instances::attach_volume))
        .routes(routes!(instances::detach_volume))
        .routes(routes!(instances::security_groups, instances::allow_security_groups))
        .routes(routes!(instances::reconcile))
        .routes(routes!(instances::user_limits, instances::set_user_limits))
        .routes(routes!(instances::group_limits, instances::set_group_limits))
        .routes(routes!(scenarios::list, scenarios::create))
        .routes(routes!(scenarios::get, scenarios::update, scenarios::delete))
        .routes(routes!(scenarios::list_templates, scenarios::create_template))
        .routes(routes!(scenarios::get_template, scenarios::replace_template, scenarios::delete_template))
        .routes(routes!(scenarios::launch_template))
        .routes(routes!(console::console))
        .routes(routes!(console::of_instance))
        .routes(routes!(console::of_user))
        .routes(routes!(console::get))
        .routes(routes!(console::recording))
        .split_for_parts()
}

/// The OpenAPI document of this server (also served at `/api/v1/openapi.json`).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    api().1
}

/// The whole application: API, OpenAPI document, JSON errors for unknown API routes and methods,
/// and the browser interface at `/` (see [`frontend`]).
pub fn app(engine: Engine) -> Router {
    let body_limit = engine.config().server.body_limit_bytes;
    let (api_router, doc) = api();
    let ui = std::sync::Arc::new(frontend::Frontend::locate(engine.config().server.frontend_dir.as_deref()));
    match &*ui {
        frontend::Frontend::Dir(dir) => tracing::info!("browser interface: {}", dir.display()),
        frontend::Frontend::Missing { looked_in } => {
            tracing::warn!("no browser interface (no index.html in {looked_in:?}); the API works without it")
        }
    }

    let doc_json = doc.to_pretty_json().unwrap_or_default();
    api_router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let body = doc_json.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .fallback(move |req: axum::extract::Request| {
            let ui = ui.clone();
            async move { frontend::serve(&ui, req).await }
        })
        .method_not_allowed_fallback(|| async {
            HttpError::new(ErrorCode::MethodNotAllowed, "this route does not accept this method")
        })
        .with_state(AppState { engine })
        .layer(DefaultBodyLimit::max(body_limit))
        // The desktop app's pages call from their own origin (see `cors`).
        .layer(cors::layer())
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// Serves `engine` on `listener` until `shutdown` fires, then stops the task workers.
pub async fn serve(listener: TcpListener, engine: Engine, shutdown: CancellationToken) -> std::io::Result<()> {
    let workers = engine.start(shutdown.clone());
    let app = app(engine.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let stop = shutdown.clone();
    let result = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    shutdown.cancel();
    let _ = workers.await;
    engine.close().await;
    result
}

/// Opens the engine from `config` and serves it on `listener` until `shutdown`. Returns the
/// first-start information (the temporary admin password) through `on_ready` before serving.
pub async fn launch(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(&Engine, Option<&FirstStart>),
) -> Result<(), LaunchError> {
    let (engine, first) = Engine::open(config).await.map_err(LaunchError::Engine)?;
    on_ready(&engine, first.as_ref());
    serve(listener, engine, shutdown).await.map_err(LaunchError::Io)
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot start the core: {0}")]
    Engine(wintermute_core::CoreError),
    #[error("the API server failed: {0}")]
    Io(std::io::Error),
}

/// Status of an error code, for tests.
pub fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
