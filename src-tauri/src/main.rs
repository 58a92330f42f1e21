//! `wintermute-desktop`: the Wintermute desktop app (Tauri). See `app.rs` for how its windows
//! reach the core, `embedded.rs` for the core it can run itself.

// No console window next to the app on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod commands;
mod embedded;
mod error;
mod launch;
mod settings;
mod token;
mod transfer;

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::{AppHandle, Manager, RunEvent};

use crate::app::Desktop;
use crate::launch::{Launch, Request};

fn main() -> std::process::ExitCode {
    let launch = launch::parse(std::env::args().skip(1));
    if launch.version {
        println!("wintermute-desktop {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    }
    if launch.help {
        print!("{}", launch::USAGE);
        return std::process::ExitCode::SUCCESS;
    }
    for a in &launch.unknown {
        eprintln!("warning: argument {a:?} not understood (see --help)");
    }
    init_logging();
    match run(launch) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

// `generate_context!` expands to code that calls `std::process::exit` (Tauri's own start-up).
#[allow(clippy::disallowed_methods)]
fn run(launch: Launch) -> tauri::Result<()> {
    let desktop = Desktop::new(settings::Paths::locate());
    let app = tauri::Builder::default()
        // A second start (a link, `--console`) hands its request to this app and ends.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            let launch = launch::parse(argv.into_iter().skip(1));
            app::focus_main(app);
            handle_requests(app.clone(), launch.requests);
        }))
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .manage(desktop)
        .menu(menu)
        .on_menu_event(|app, event| {
            if event.id() == "switch-core" {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    if let Err(e) = commands::switch(&app, &app.state::<Desktop>()).await {
                        tracing::error!("cannot switch the core: {e}");
                    }
                });
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::use_remote_core,
            commands::use_embedded_core,
            commands::switch_core,
            commands::save_token,
            commands::forget_token,
            commands::open_console_window,
            commands::notify,
            commands::pick_and_upload,
            commands::upload_paths,
            commands::pick_and_download,
            commands::download_to,
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            tauri::async_runtime::block_on(async {
                let desktop = handle.state::<Desktop>();
                desktop.start().await;
                desktop.open_main(&handle).await
            })?;
            handle_requests(handle, launch.requests);
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|app, event| {
        if let RunEvent::Exit = event {
            // The embedded core closes its database cleanly before the process ends.
            tauri::async_runtime::block_on(app.state::<Desktop>().stop_embedded());
        }
    });
    Ok(())
}

fn menu(app: &AppHandle) -> tauri::Result<Menu<tauri::Wry>> {
    let switch = MenuItem::with_id(app, "switch-core", "Switch core…", true, None::<&str>)?;
    let quit = PredefinedMenuItem::quit(app, Some("Quit"))?;
    let file = Submenu::with_items(app, "Wintermute", true, &[&switch, &PredefinedMenuItem::separator(app)?, &quit])?;
    let edit = Submenu::with_items(
        app,
        "Edit",
        true,
        &[
            &PredefinedMenuItem::copy(app, None)?,
            &PredefinedMenuItem::paste(app, None)?,
            &PredefinedMenuItem::select_all(app, None)?,
        ],
    )?;
    Menu::with_items(app, &[&file, &edit])
}

fn handle_requests(app: AppHandle, requests: Vec<Request>) {
    if requests.is_empty() {
        return;
    }
    tauri::async_runtime::spawn(async move {
        let desktop = app.state::<Desktop>();
        for r in requests {
            match r {
                Request::Console(id) => {
                    if let Err(e) = desktop.open_console(&app, id, None).await {
                        tracing::error!("cannot open the console of instance {id}: {e}");
                    }
                }
            }
        }
    });
}
