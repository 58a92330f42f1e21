//! The browser interface in a real headless Chromium against a real `wmais` serving the built
//! frontend: first login with the forced password change, the dashboard's charts, users and
//! permissions, a local provider synchronized with its task log arriving live, a task followed
//! and cancelled, what a user without rights does not get, and an instance launched on the local
//! provider through the Create Instance dialog, followed to `running`, with a command run in its
//! SSH console (xterm.js); every main screen and dialog fitting a phone's width, and a row's action
//! menu used with the keyboard alone. Screenshots of the main screens are saved (see
//! `browser::screenshots_dir`) and their paths printed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wintermute_api::client::Client;
use wintermute_api::instances::NewVolume;
use wintermute_api::providers::{NewProvider, OsType, ProviderKind, ProviderPatch};
use wintermute_api::rights::{ObjectKind, ObjectRight};
use wintermute_api::scenarios::NewScript;
use wintermute_api::tasks::{DebugTaskRequest, TaskState};
use wintermute_api::users::{NewGroup, NewUser, Permission};
use wintermute_tests::browser::{browser_prerequisites, Browser};
use wintermute_tests::{Core, CoreOptions, ADMIN_PASSWORD};

async fn core_with_frontend(dist: &std::path::Path) -> Core {
    Core::start(
        CoreOptions::new()
            .env("WMAIS__SERVER__FRONTEND_DIR", dist.display().to_string())
            .env("WMAIS__DEBUG__TEST_TASKS", "true"),
    )
    .await
    .unwrap()
}

/// Logs in through the login form and waits for the dashboard.
async fn log_in(b: &Browser, login: &str, password: &str) {
    b.type_into("input[name=login]", login).await.unwrap();
    b.type_into("input[name=password]", password).await.unwrap();
    b.click_text("button[type=submit]", "Log in").await.unwrap();
}

async fn count(b: &Browser, css: &str) -> usize {
    b.find_all(css).await.unwrap().len()
}

#[tokio::test]
async fn first_login_changes_the_password_then_dashboard_users_and_permissions() {
    let Some(dist) = browser_prerequisites().unwrap() else { return };
    let core = core_with_frontend(&dist).await;
    let temp = core.admin_password().unwrap();
    let b = Browser::start("admin", 1366, 900).await.unwrap();
    b.goto(core.url()).await.unwrap();

    // The login screen; a wrong password is refused with the core's message.
    b.find("form.auth-card").await.unwrap();
    b.screenshot("01-login").await.unwrap();
    log_in(&b, "admin", "not-the-password").await;
    let err = b.find_with_text(".error", "").await.unwrap().text().await.unwrap();
    assert!(err.to_lowercase().contains("password") || err.to_lowercase().contains("login"), "{err}");
    b.replace_text("input[name=password]", &temp).await.unwrap();
    b.click_text("button[type=submit]", "Log in").await.unwrap();

    // The temporary password must be replaced before anything else.
    b.find_with_text("h1", "Choose your password").await.unwrap();
    assert_eq!(count(&b, "nav.nav").await, 0, "no menu before the password is changed");
    b.type_into("input[name=current_password]", &temp).await.unwrap();
    b.type_into("input[name=new_password]", "short").await.unwrap();
    b.type_into("input[name=repeat_password]", "short").await.unwrap();
    b.click_text("button[type=submit]", "Change password").await.unwrap();
    let err = b.find_with_text(".error", "10 characters").await.unwrap();
    assert!(err.is_displayed().await.unwrap());
    b.screenshot("02-forced-password-change-error").await.unwrap();
    b.replace_text("input[name=new_password]", ADMIN_PASSWORD).await.unwrap();
    b.replace_text("input[name=repeat_password]", ADMIN_PASSWORD).await.unwrap();
    b.click_text("button[type=submit]", "Change password").await.unwrap();
    b.find_with_text("h1", "Dashboard").await.unwrap();
    // The core took the new password.
    let admin: Client = core.admin_client().await.unwrap();
    assert!(!admin.whoami().await.unwrap().must_change_password);

    // A task of the admin, so the charts have something to show.
    let task = admin.start_debug_task(&DebugTaskRequest { steps: 1, resumable: false, fail_at: None }).await.unwrap();
    wintermute_tests::wait_for("the debug task", Duration::from_secs(30), Duration::from_millis(200), || {
        let admin = admin.clone();
        async move { Ok(admin.task(task.id).await?.state.is_finished().then_some(())) }
    })
    .await
    .unwrap();
    b.click_text("button", "Refresh").await.unwrap();
    b.wait_until("four history charts", || async { Ok(count(&b, "figure.chart svg").await == 4) }).await.unwrap();
    let days = admin.dashboard().await.unwrap().history.days.len();
    assert!(days > 1);
    assert_eq!(count(&b, "figure.chart svg rect.mark").await, 2 * days, "two bar charts, a bar per day");
    assert_eq!(count(&b, "figure.chart svg circle.mark").await, 2 * days, "two line charts, a point per day");
    // Today's bar of "Tasks started" has a height: the chart draws the data.
    let today_height = b
        .js("const r = document.querySelectorAll('figure.series-d rect.mark'); return r[r.length - 1].getAttribute('height');")
        .await
        .unwrap();
    let h: f64 = today_height.as_str().unwrap().parse().unwrap();
    assert!(h > 1.0, "today's task bar is drawn: height {h}");
    b.find_with_text(".activity li", "step 1 of 1 done").await.unwrap();
    b.screenshot("03-dashboard").await.unwrap();

    // Security → Users: create a user.
    b.click_text("nav.nav a", "Security").await.unwrap();
    b.find_with_text("h1", "Users").await.unwrap();
    b.click_text("button", "New user").await.unwrap();
    b.find(".modal input[name=login]").await.unwrap();
    b.type_into(".modal input[name=login]", "alice").await.unwrap();
    b.type_into(".modal input[name=first_name]", "Alice").await.unwrap();
    b.type_into(".modal input[name=last_name]", "Liddell").await.unwrap();
    b.type_into(".modal input[name=email]", "alice@example.org").await.unwrap();
    b.type_into(".modal input[name=password]", "Temp-Pass-1234").await.unwrap();
    b.screenshot("04-new-user-dialog").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find("tr[data-login=alice]").await.unwrap();
    assert_eq!(count(&b, ".modal").await, 0, "the dialog closed");

    // Give her a permission with "Edit security".
    b.click_text("tr[data-login=alice] button", "Edit security").await.unwrap();
    b.find(".modal input[name=create_user]").await.unwrap().click().await.unwrap();
    b.find(".modal input[name=view_logs]").await.unwrap().click().await.unwrap();
    b.screenshot("05-user-permissions").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text("tr[data-login=alice] td.perms", "Create user").await.unwrap();
    let alice = admin.users().await.unwrap().into_iter().find(|u| u.login == "alice").unwrap();
    assert_eq!(alice.permissions, vec![Permission::CreateUser, Permission::ViewLogs]);
    assert!(alice.must_change_password, "an admin-set password is temporary");
    assert_eq!(alice.first_name, "Alice");

    // The same login again: the core's refusal is shown in the dialog.
    b.click_text("button", "New user").await.unwrap();
    b.type_into(".modal input[name=login]", "alice").await.unwrap();
    b.type_into(".modal input[name=password]", "Temp-Pass-1234").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text(".modal .error", "already exists").await.unwrap();
    b.screenshot("06-user-dialog-error").await.unwrap();
    // Escape closes a dialog.
    b.find(".modal input[name=login]").await.unwrap().send_keys("\u{e00c}").await.unwrap();
    b.wait_until("the dialog to close", || async { Ok(count(&b, ".modal").await == 0) }).await.unwrap();
    b.screenshot("07-users").await.unwrap();

    // Security → Groups: a group with alice in it.
    b.click_text(".tabs a", "Groups").await.unwrap();
    b.find_with_text("h1", "Groups").await.unwrap();
    b.click_text(".page-head button", "New group").await.unwrap();
    b.type_into(".modal input[name=name]", "analysts").await.unwrap();
    b.type_into(".modal input[name=description]", "People who launch instances").await.unwrap();
    b.find(".modal input[name=member-alice]").await.unwrap().click().await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text("tr[data-group=analysts]", "alice").await.unwrap();
    b.screenshot("07b-groups").await.unwrap();
    let group = admin.groups().await.unwrap().into_iter().find(|g| g.name == "analysts").unwrap();
    assert_eq!(group.members.iter().map(|m| m.login.as_str()).collect::<Vec<_>>(), vec!["alice"]);

    // A phone-sized window: the menu folds behind a button.
    b.set_size(390, 844).await.unwrap();
    b.click_text(".brand", "Wintermute").await.unwrap();
    b.find_with_text("h1", "Dashboard").await.unwrap();
    let nav = b.find("#main-nav").await.unwrap();
    assert!(!nav.is_displayed().await.unwrap(), "the menu is folded on a phone");
    b.screenshot("08-dashboard-phone").await.unwrap();
    b.find("button.menu-toggle").await.unwrap().click().await.unwrap();
    b.wait_until("the menu to open", || async { Ok(b.find("#main-nav").await?.is_displayed().await?) }).await.unwrap();
    b.screenshot("09-menu-phone").await.unwrap();
    let width: i64 = b.js("return document.documentElement.scrollWidth;").await.unwrap().as_i64().unwrap();
    assert!(width <= 400, "nothing sticks out sideways on a phone: page width {width}");

    b.close().await.unwrap();
}

#[tokio::test]
async fn a_local_provider_is_synchronized_and_a_task_log_arrives_live() {
    let Some(dist) = browser_prerequisites().unwrap() else { return };
    let core = core_with_frontend(&dist).await;
    let admin = core.admin_client().await.unwrap();
    let b = Browser::start("provider", 1366, 900).await.unwrap();
    b.goto(core.url()).await.unwrap();
    log_in(&b, "admin", ADMIN_PASSWORD).await;
    b.find_with_text("h1", "Dashboard").await.unwrap();

    // A client route opened directly: the core answers with the app, which keeps the session.
    b.goto(&format!("{}providers", core.url())).await.unwrap();
    b.find_with_text("h1", "Cloud providers").await.unwrap();
    b.click_text("button", "New provider").await.unwrap();
    b.click_text(".dropdown button", "Local").await.unwrap();
    b.type_into(".modal input[name=name]", "lab").await.unwrap();
    b.type_into(".modal input[name=description]", "QEMU guests on the core").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text(".modal .ok", "Saved").await.unwrap();

    // "Synchronize configuration": the task's log shows in the dialog as it is written.
    b.click_text(".modal button.sync", "Synchronize configuration").await.unwrap();
    b.find_with_text(".sync-progress .badge", "succeeded").await.unwrap();
    b.find_with_text(".sync-progress .log-row", "credentials accepted").await.unwrap();
    b.find_with_text(".sync-progress .log-row", "instance types").await.unwrap();
    b.click_text(".modal .tabs button", "Instance types").await.unwrap();
    let boxes = b.find_all(".modal .tab-panel:not([hidden]) input[type=checkbox]").await.unwrap();
    assert!(!boxes.is_empty(), "the synchronization loaded instance types");
    boxes[0].click().await.unwrap();
    b.screenshot("10-provider-instance-types").await.unwrap();
    b.click_text(".modal .tabs button", "Summary").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text(".modal .ok", "Saved").await.unwrap();
    b.screenshot("11-provider-summary").await.unwrap();
    let p = admin.providers().await.unwrap().into_iter().find(|p| p.name == "lab").unwrap();
    assert_eq!(p.status, "synced");
    assert_eq!(p.instance_types.iter().filter(|t| t.allowed).count(), 1, "{:?}", p.instance_types);
    b.click_text(".modal button", "Close").await.unwrap();
    b.find_with_text("tr[data-provider=lab]", "synced").await.unwrap();
    b.find_with_text("tr[data-provider=lab]", "1 of").await.unwrap();
    b.screenshot("12-providers").await.unwrap();

    // A task followed live: its log grows on the page without a reload, then it is cancelled.
    let task = admin.start_debug_task(&DebugTaskRequest { steps: 60, resumable: false, fail_at: None }).await.unwrap();
    b.goto(&format!("{}tasks/{}", core.url(), task.id)).await.unwrap();
    b.find_with_text("h1", &format!("Task {}", task.id)).await.unwrap();
    b.find_with_text(".log-box .log-row", "step 1 of 60 done").await.unwrap();
    let before = count(&b, ".log-box .log-row").await;
    b.wait_until("two more log lines", || async { Ok(count(&b, ".log-box .log-row").await >= before + 2) })
        .await
        .unwrap();
    b.screenshot("13-task-live-log").await.unwrap();
    b.click_text("button.danger", "Cancel").await.unwrap();
    b.find_with_text("[data-testid=task-state]", "cancelled").await.unwrap();
    assert_eq!(admin.task(task.id).await.unwrap().state, TaskState::Cancelled);

    // The task list shows both tasks with their states.
    b.click_text(".tasks-link", "Tasks").await.unwrap();
    b.find_with_text(&format!("tr[data-task-id=\"{}\"]", task.id), "cancelled").await.unwrap();
    b.find_with_text("tr[data-state=succeeded]", "Synchronize the configuration of lab").await.unwrap();
    b.screenshot("14-tasks").await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_user_without_rights_sees_no_admin_actions() {
    let Some(dist) = browser_prerequisites().unwrap() else { return };
    let core = core_with_frontend(&dist).await;
    let admin = core.admin_client().await.unwrap();
    admin
        .create_user(&NewUser {
            login: "bob".into(),
            password: "Temp-Pass-1234".into(),
            enabled: true,
            ..NewUser::default()
        })
        .await
        .unwrap();
    let mut bob = core.client().unwrap();
    bob.login("bob", "Temp-Pass-1234").await.unwrap();
    bob.change_password("Temp-Pass-1234", "Second-Pass-2468").await.unwrap();

    let b = Browser::start("user", 1280, 900).await.unwrap();
    b.goto(core.url()).await.unwrap();
    log_in(&b, "bob", "Second-Pass-2468").await;
    b.find_with_text("h1", "Dashboard").await.unwrap();
    let menu = b.find("#main-nav").await.unwrap().text().await.unwrap();
    assert!(!menu.contains("Security"), "no user management without its permissions: {menu}");

    b.click_text("nav.nav a", "Providers").await.unwrap();
    b.find_with_text("p.muted", "No provider is shared with you").await.unwrap();
    assert_eq!(count(&b, ".page-head button").await, 0, "no \"New provider\" for a user");

    // No provider lets bob create instances or volumes: no Launch, no New volume.
    b.click_text("nav.nav a", "Instances").await.unwrap();
    b.find_with_text("p.muted", "No instances").await.unwrap();
    assert_eq!(count(&b, ".page-head button.primary").await, 0, "no \"Launch new instance\" without the right");
    let batch = b.find_with_text(".page-head button.batch", "Batch actions (0)").await.unwrap();
    assert!(!batch.is_enabled().await.unwrap(), "batch actions wait for a selection");
    b.click_text("nav.nav a", "Storage").await.unwrap();
    b.find_with_text("p.muted", "No volumes").await.unwrap();
    assert_eq!(count(&b, ".page-head button").await, 0, "no \"New volume\" without the right");
    b.screenshot("15a-storage-user").await.unwrap();

    b.click_text("nav.nav a", "Settings").await.unwrap();
    b.find_with_text("p.hint", "Only administrators change settings").await.unwrap();
    b.find("form.setting").await.unwrap();
    assert_eq!(count(&b, "form.setting button[type=submit]").await, 0, "no Save buttons");
    let enabled_inputs = b
        .js("return [...document.querySelectorAll('form.setting input')].filter(i => !i.disabled).length;")
        .await
        .unwrap();
    assert_eq!(enabled_inputs.as_i64(), Some(0), "every setting is read-only");
    b.screenshot("15-settings-user").await.unwrap();

    // The profile: own details, password change and SSH public key.
    b.click_text(".user-button", "bob").await.unwrap();
    b.click_text(".dropdown a", "Profile: bob").await.unwrap();
    b.find_with_text("h1", "Profile: bob").await.unwrap();
    let key = b.find("textarea.key").await.unwrap().prop("value").await.unwrap().unwrap_or_default();
    assert!(key.starts_with("ssh-ed25519 "), "{key}");
    assert_eq!(key.trim(), bob.ssh_key(bob.whoami().await.unwrap().id).await.unwrap().public_key.trim());
    b.type_into("input[name=first_name]", "Bob").await.unwrap();
    b.click_text("form button[type=submit]", "Save").await.unwrap();
    b.find_with_text(".ok", "Saved").await.unwrap();
    assert_eq!(bob.whoami().await.unwrap().first_name, "Bob");
    b.screenshot("16-profile").await.unwrap();

    // Logout returns to the login screen, and the token no longer works.
    b.click_text(".user-button", "bob").await.unwrap();
    b.click_text(".dropdown button", "Logout").await.unwrap();
    b.find("form.auth-card").await.unwrap();
    let kept = b.js("return window.localStorage.getItem('wintermute.token');").await.unwrap();
    assert!(kept.is_null(), "the token is forgotten: {kept}");
    b.close().await.unwrap();
}

#[tokio::test]
async fn an_image_is_found_imported_edited_and_enabled() {
    let Some(dist) = browser_prerequisites().unwrap() else { return };
    let core = core_with_frontend(&dist).await;
    let admin = core.admin_client().await.unwrap();
    // A synchronized local provider whose region users may use.
    let lab = admin
        .create_provider(&NewProvider { kind: Some(ProviderKind::Local), name: "lab".into(), ..NewProvider::default() })
        .await
        .unwrap();
    let sync = admin.sync_provider(lab.id).await.unwrap();
    wintermute_tests::wait_for("the synchronization", Duration::from_secs(60), Duration::from_millis(200), || {
        let admin = admin.clone();
        async move { Ok(admin.task(sync.id).await?.state.is_finished().then_some(())) }
    })
    .await
    .unwrap();
    assert_eq!(admin.task(sync.id).await.unwrap().state, TaskState::Succeeded);
    admin
        .update_provider(
            lab.id,
            &ProviderPatch { allowed_regions: Some(vec!["local".into()]), ..ProviderPatch::default() },
        )
        .await
        .unwrap();
    // A disk image in the provider's registry, registered on the core's host.
    let disks = tempfile::tempdir().unwrap();
    let disk = disks.path().join("tiny.raw");
    std::fs::write(&disk, vec![0u8; 1024 * 1024]).unwrap();
    let registry = wintermute_cloud_local::LocalProvider::new(wintermute_cloud_local::LocalSettings::new(
        core.data_dir().join("local").join(lab.id.to_string()),
    ))
    .unwrap();
    let found = registry.import_image("tiny-disk", &disk, Some("an empty test disk")).await.unwrap();
    let cloud_id = found.image_id.clone();

    let b = Browser::start("images", 1366, 900).await.unwrap();
    b.goto(&format!("{}images", core.url())).await.unwrap();
    log_in(&b, "admin", ADMIN_PASSWORD).await;
    b.find_with_text("h1", "Images").await.unwrap();
    b.find_with_text("p.muted", "No images yet").await.unwrap();
    b.click_text(".page-head button", "Import image").await.unwrap();
    b.find_with_text(".modal select[name=provider] option", "lab").await.unwrap();
    b.find_with_text(".modal select[name=region] option", "local").await.unwrap();
    b.type_into(".modal input[name=q]", &format!("image_id:{cloud_id}")).await.unwrap();
    b.click_text(".modal button[type=submit]", "Refresh").await.unwrap();
    b.find_with_text(".modal tbody tr", "tiny-disk").await.unwrap();
    b.click_text(".modal tbody button", "Import image").await.unwrap();
    b.find_with_text(".modal tbody .badge", "imported").await.unwrap();
    b.screenshot("17-image-import").await.unwrap();
    b.click_text(".modal button", "Close").await.unwrap();

    // Imported disabled; "Edit" sets the OS type and description and enables it.
    let row = format!("tr[data-image=\"{cloud_id}\"]");
    b.find_with_text(&row, "no").await.unwrap();
    b.click_text(&format!("{row} button"), "Edit").await.unwrap();
    b.find(".modal select[name=os_type]").await.unwrap().select_by_value("debian").await.unwrap();
    b.replace_text(".modal input[name=description]", "Debian test disk").await.unwrap();
    b.find(".modal input[name=enabled]").await.unwrap().click().await.unwrap();
    b.screenshot("18-image-edit").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text(&row, "Debian test disk").await.unwrap();
    b.find_with_text(&row, "yes").await.unwrap();
    b.screenshot("19-images").await.unwrap();
    let image = admin.images().await.unwrap().into_iter().find(|i| i.cloud_id == cloud_id).unwrap();
    assert!(image.enabled);
    assert_eq!(image.os_type, Some(OsType::Debian));
    assert_eq!(image.description, "Debian test disk");

    // "Edit security": the group may view the image.
    let group = admin.create_group(&NewGroup { name: "analysts".into(), ..NewGroup::default() }).await.unwrap();
    b.click_text(&format!("{row} button"), "Edit security").await.unwrap();
    b.find(".modal input[data-group=analysts][data-right=view]").await.unwrap().click().await.unwrap();
    b.screenshot("20-image-security").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text(".modal .ok", "Saved").await.unwrap();
    let security = admin.object_security(ObjectKind::Image, image.id).await.unwrap();
    let rights = security.groups.iter().find(|g| g.group_id == group.id).map(|g| g.rights.clone());
    assert_eq!(rights, Some(vec![ObjectRight::View]));
    b.click_text(".modal button", "Close").await.unwrap();
    b.wait_until("the dialog to close", || async { Ok(count(&b, ".modal").await == 0) }).await.unwrap();

    every_screen_fits_a_phone(&b, &core, &admin, lab.id).await;
    b.close().await.unwrap();
}

/// How the page scrolls sideways, if it does: its width, the window's and what sticks out.
async fn page_width_overflow(b: &Browser) -> Option<String> {
    let v = b
        .js("const w = window.innerWidth; \
             const out = [...document.querySelectorAll('body *')] \
               .filter(e => e.getBoundingClientRect().right > w + 0.5) \
               .slice(0, 4).map(e => e.tagName.toLowerCase() + '.' + e.className); \
             return [document.documentElement.scrollWidth, w, out.join(' ')];")
        .await
        .unwrap();
    let (scroll, inner) = (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
    (scroll > inner).then(|| format!("page {scroll} px wide in a {inner} px window ({})", v[2].as_str().unwrap()))
}

/// A phone-sized window (390×844): every main screen and the main dialogs, with something in
/// their lists, fit the width (no sideways scrolling of the page); a screenshot of each is saved.
/// A row's action menu works with the keyboard alone.
async fn every_screen_fits_a_phone(b: &Browser, core: &Core, admin: &Client, provider: i64) {
    admin
        .create_user(&NewUser {
            login: "alice".into(),
            password: "Temp-Pass-1234".into(),
            first_name: "Alice".into(),
            last_name: "Liddell".into(),
            email: "alice.liddell@example.org".into(),
            enabled: true,
            ..NewUser::default()
        })
        .await
        .unwrap();
    admin
        .create_script(&NewScript {
            name: "install-tools".into(),
            description: "Installs the tools the analysts use every day".into(),
            script_type: "bash".into(),
            platform: Default::default(),
            stage: Default::default(),
            access: Default::default(),
            parameters: "TOOLS=htop,jq".into(),
            content: "#!/bin/bash\napt-get install -y htop jq\n".into(),
        })
        .await
        .unwrap();
    admin
        .create_volume(&NewVolume {
            provider_id: provider,
            region: "local".into(),
            availability_zone: None,
            name: "analysis-data".into(),
            size_gb: 1,
            volume_type: Default::default(),
            iops: None,
            encrypted: true,
            mount_point: Some("/srv/data".into()),
        })
        .await
        .unwrap();

    b.set_size(390, 844).await.unwrap();
    let mut wide = Vec::new();
    let screens = [
        ("", "Dashboard", "figure.chart"),
        ("instances", "Instances", "p.muted"),
        ("storage", "Storage", "tr[data-volume=analysis-data]"),
        ("images", "Images", "tr[data-image]"),
        ("providers", "Cloud providers", "tr[data-provider=lab]"),
        ("scenarios", "Scenarios", "tr[data-script=install-tools]"),
        ("tasks", "Tasks", "tr[data-task-id]"),
        ("security/users", "Users", "tr[data-login=alice]"),
        ("security/groups", "Groups", "tr[data-group=analysts]"),
        ("settings", "Settings", "form.setting"),
        ("profile", "Profile", "textarea.key"),
    ];
    for (path, title, ready) in screens {
        b.goto(&format!("{}{path}", core.url())).await.unwrap();
        b.find_with_text("h1", title).await.unwrap();
        b.find(ready).await.unwrap();
        let name = if path.is_empty() { "dashboard".to_string() } else { path.replace('/', "-") };
        b.screenshot(&format!("40-phone-{name}")).await.unwrap();
        if let Some(why) = page_width_overflow(b).await {
            wide.push(format!("{name}: {why}"));
        }
    }

    // A row's action menu with the keyboard alone: Enter opens it, Tab goes to its first item,
    // Escape closes it and gives the focus back to its button, Enter on an item chooses it.
    b.goto(&format!("{}storage", core.url())).await.unwrap();
    let toggle = b.find("tr[data-volume=analysis-data] button[aria-haspopup]").await.unwrap();
    toggle.send_keys("\u{e007}").await.unwrap();
    b.find("tr[data-volume=analysis-data] [role=menu]").await.unwrap();
    assert_eq!(toggle.attr("aria-expanded").await.unwrap().as_deref(), Some("true"));
    b.find(":focus").await.unwrap().send_keys("\u{e004}").await.unwrap();
    b.find(":focus").await.unwrap().send_keys("\u{e00c}").await.unwrap();
    b.wait_until("the menu to close", || async { Ok(count(b, "[role=menu]").await == 0) }).await.unwrap();
    let focused = b.find(":focus").await.unwrap();
    assert_eq!(
        focused.attr("aria-haspopup").await.unwrap().as_deref(),
        Some("true"),
        "the focus is back on the button"
    );
    focused.send_keys("\u{e007}").await.unwrap();
    b.find("tr[data-volume=analysis-data] [role=menu]").await.unwrap();
    b.find(":focus").await.unwrap().send_keys("\u{e004}").await.unwrap();
    let focused = b.find(":focus").await.unwrap();
    assert_eq!(focused.attr("role").await.unwrap().as_deref(), Some("menuitem"));
    assert_eq!(focused.text().await.unwrap(), "Edit");
    focused.send_keys("\u{e007}").await.unwrap();
    b.find(".modal input[name=name]").await.unwrap();
    b.screenshot("41-phone-dialog-volume-edit").await.unwrap();
    b.find(":focus").await.unwrap().send_keys("\u{e00c}").await.unwrap();
    b.wait_until("the dialog to close", || async { Ok(count(b, ".modal").await == 0) }).await.unwrap();

    // Dialogs: each opened from its screen, looked at, measured and closed with Escape.
    let dialogs = [
        ("security/users", "New user", ".page-head button", "New user", "input[name=login]"),
        ("security/users", "user security", "tr[data-login=alice] button", "Edit security", "input[name=create_user]"),
        ("images", "image edit", "tr[data-image] button", "Edit", "input[name=description]"),
        ("images", "image import", ".page-head button", "Import image", "input[name=q]"),
        ("storage", "New volume", ".page-head button", "New volume", "input[name=name]"),
        ("scenarios", "script edit", "tr[data-script=install-tools] button", "Edit", "textarea"),
        ("instances", "Launch", ".page-head button", "Launch new instance", ".tabs"),
    ];
    for (path, name, button, text, field) in dialogs {
        b.goto(&format!("{}{path}", core.url())).await.unwrap();
        b.click_text(button, text).await.unwrap();
        b.find(&format!(".modal {field}")).await.unwrap();
        let name = name.replace(' ', "-");
        b.screenshot(&format!("41-phone-dialog-{name}")).await.unwrap();
        if let Some(why) = page_width_overflow(b).await {
            wide.push(format!("dialog {name}: {why}"));
        }
        let modal =
            b.js("const m = document.querySelector('.modal').getBoundingClientRect(); return [m.left, m.right];");
        let m = modal.await.unwrap();
        let (left, right) = (m[0].as_f64().unwrap(), m[1].as_f64().unwrap());
        if left < 0.0 || right > 390.0 {
            wide.push(format!("dialog {name}: from {left} to {right} px"));
        }
        b.find(":focus").await.unwrap().send_keys("\u{e00c}").await.unwrap();
        b.wait_until("the dialog to close", || async { Ok(count(b, ".modal").await == 0) }).await.unwrap();
    }
    assert!(wide.is_empty(), "screens wider than a phone:\n{}", wide.join("\n"));
    b.set_size(1366, 900).await.unwrap();
}

/// The tests' shared folder of guest images, where the Debian image is built once.
fn image_dir() -> PathBuf {
    std::env::var_os("WINTERMUTE_IMAGE_DIR")
        .map(PathBuf::from)
        .or_else(wintermute_cloud_local::image::default_image_dir)
        .unwrap()
}

/// Whether QEMU and a built guest image are here; under CI their absence is a failure.
fn have_guest() -> bool {
    let qemu = wintermute_cloud_local::find_program(wintermute_cloud_local::QEMU_SYSTEM.0).is_some();
    let image = wintermute_cloud_local::image::find_built_image(&image_dir()).is_some();
    if !(qemu && image) {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "QEMU and the built guest image are needed under CI");
        eprintln!("SKIPPED: needs QEMU and a built guest image in {}", image_dir().display());
    }
    qemu && image
}

/// The console sessions of an instance, newest first (`GET /api/v1/instances/{id}/console-sessions`).
async fn console_sessions(core: &Core, admin: &Client, instance: i64) -> Vec<serde_json::Value> {
    let url = format!("{}api/v1/instances/{instance}/console-sessions", core.url());
    let resp = reqwest::Client::new().get(url).bearer_auth(admin.token().unwrap()).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let page: serde_json::Value = resp.json().await.unwrap();
    page["items"].as_array().cloned().unwrap_or_else(|| panic!("a page of sessions: {page}"))
}

/// The SHA-256 of a file as `sha256sum` prints it.
fn sha256_hex(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
}

/// The visible text of the xterm.js terminal.
async fn terminal_text(b: &Browser) -> String {
    let v =
        b.js("const r = document.querySelector('.terminal .xterm-rows'); return r ? r.innerText : '';").await.unwrap();
    v.as_str().unwrap_or_default().to_owned()
}

/// Types a line into the terminal (Enter is WebDriver's U+E007).
async fn type_line(b: &Browser, line: &str) {
    b.find(".terminal .xterm-helper-textarea").await.unwrap().send_keys(&format!("{line}\u{e007}")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_launched_from_the_dialog_runs_and_its_console_runs_a_command() {
    let Some(dist) = browser_prerequisites().unwrap() else { return };
    if !have_guest() {
        return;
    }
    // The first start registers the local provider and the Debian image (from the shared folder).
    let core = Core::start(
        CoreOptions::new()
            .env("WMAIS__SERVER__FRONTEND_DIR", dist.display().to_string())
            .env("WMAIS__BOOTSTRAP__LOCAL_PROVIDER", "true")
            .env("WMAIS__LOCAL__IMAGE_DIR", image_dir().to_string_lossy()),
    )
    .await
    .unwrap();
    let admin = core.admin_client().await.unwrap();
    wintermute_tests::local_debian_image(&admin).await.unwrap();

    // The browser reaches the core through a forwarder, so the test can cut its connections.
    let core_addr: std::net::SocketAddr =
        core.url().trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let mut forwarder = wintermute_tests::Forwarder::start("127.0.0.1:0".parse().unwrap(), core_addr).await.unwrap();
    let front = forwarder.listen_addr();
    let b = Browser::start("instance", 1366, 900).await.unwrap();
    b.goto(&format!("http://{front}/scenarios")).await.unwrap();
    log_in(&b, "admin", ADMIN_PASSWORD).await;

    // Scenarios: a user defined script written in the UDS editor.
    b.find_with_text("h1", "Scenarios").await.unwrap();
    b.click_text(".page-head button", "New script").await.unwrap();
    b.type_into(".modal input[name=name]", "mark.sh").await.unwrap();
    b.type_into(".modal input[name=description]", "leaves a mark").await.unwrap();
    b.find(".modal select[name=platform]").await.unwrap().select_by_value("debian").await.unwrap();
    b.type_into(".modal input[name=parameters]", "default").await.unwrap();
    // After the #! line the editor starts with (WebDriver types at the end).
    b.type_into(
        ".modal textarea[name=content]",
        r#". /etc/profile.d/wmaic.sh; echo "uds-$1-$WMAIC_INSTANCE_NAME" > /tmp/uds-mark.txt"#,
    )
    .await
    .unwrap();
    b.screenshot("20a-uds-editor").await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text("tr[data-script=\"mark.sh\"]", "leaves a mark").await.unwrap();
    b.screenshot("20b-scenarios").await.unwrap();
    let script = admin.scripts().await.unwrap().into_iter().find(|s| s.name == "mark.sh").unwrap();
    assert_eq!(script.parameters, "default");
    assert_eq!(
        script.content,
        "#!/bin/bash\n. /etc/profile.d/wmaic.sh; echo \"uds-$1-$WMAIC_INSTANCE_NAME\" > /tmp/uds-mark.txt"
    );

    b.click_text("nav.nav a", "Instances").await.unwrap();
    b.find_with_text("h1", "Instances").await.unwrap();
    b.find_with_text("p.muted", "No instances").await.unwrap();

    // The Create Instance dialog, tab by tab.
    b.click_text(".page-head button", "Launch new instance").await.unwrap();
    b.find_with_text(".modal select[name=image] option", "debian-12").await.unwrap();
    b.find(".modal select[name=instance_type] option[value='local.small']").await.unwrap();
    b.find(".modal select[name=instance_type]").await.unwrap().select_by_value("local.small").await.unwrap();
    b.type_into(".modal input[name=name]", "web-1").await.unwrap();
    b.type_into(".modal input[name=description]", "browser test").await.unwrap();
    b.type_into(".modal input[name=tags]", "1:web").await.unwrap();
    // The keyboard stays in the dialog: Shift+Tab from the first field goes to its last button.
    b.find(".modal input[name=name]").await.unwrap().send_keys("\u{e008}\u{e004}\u{e000}").await.unwrap();
    let inside = b.js("return document.activeElement.closest('.modal') !== null;").await.unwrap();
    assert_eq!(inside, serde_json::Value::Bool(true), "Shift+Tab stays inside the dialog");
    b.screenshot("21-launch-instance-tab").await.unwrap();
    b.click_text(".modal .tabs button", "Storage").await.unwrap();
    b.find(".modal input[name=storage_mode][value=new]").await.unwrap().click().await.unwrap();
    b.find(".modal input[name=size_gb]").await.unwrap();
    b.screenshot("22-launch-storage-tab").await.unwrap();
    // Data Synchronization: a folder of the data directory uploaded once the storage is mounted.
    b.type_into(".modal input[name=data_source]", "deck1/").await.unwrap();
    b.click_text(".modal button.add-upload", "Add upload").await.unwrap();
    b.find_with_text(".modal tr[data-upload=\"deck1/\"]", "/mnt/data/").await.unwrap();
    b.screenshot("22a-launch-data-sync").await.unwrap();
    b.click_text(".modal .tabs button", "Summary").await.unwrap();
    b.find_with_text(".modal dl.summary", "deck1/ → /mnt/data/").await.unwrap();
    // This guest uploads nothing (the admin has no data directory here): the row goes again.
    b.click_text(".modal .tabs button", "Storage").await.unwrap();
    b.click_text(".modal tr[data-upload=\"deck1/\"] button", "Remove").await.unwrap();
    // No extra volume for this guest: keep it quick.
    b.find(".modal input[name=storage_mode][value=none]").await.unwrap().click().await.unwrap();
    b.click_text(".modal .tabs button", "Setup").await.unwrap();
    b.type_into(".modal input[name=packages]", "rm -rf /").await.unwrap();
    b.screenshot("23-launch-setup-tab").await.unwrap();
    b.click_text(".modal .tabs button", "Summary").await.unwrap();
    // A bad package list is named before anything is sent, and Create waits.
    b.find_with_text(".modal .error li", "software packages").await.unwrap();
    let create = b.find_with_text(".modal button[type=submit]", "Create").await.unwrap();
    assert!(!create.is_enabled().await.unwrap(), "Create waits for a valid form");
    b.click_text(".modal .tabs button", "Setup").await.unwrap();
    // Select all, Backspace (WebDriver's U+E003).
    b.replace_text(".modal input[name=packages]", "\u{e003}").await.unwrap();
    // The script runs at the end of the set-up with a parameter of this launch.
    b.find(&format!(".modal select[name=uds_script] option[value='{}']", script.id)).await.unwrap();
    b.find(".modal select[name=uds_script]").await.unwrap().select_by_value(&script.id.to_string()).await.unwrap();
    b.type_into(".modal input[name=uds_parameters]", "42").await.unwrap();
    b.click_text(".modal button.add", "Add").await.unwrap();
    b.find_with_text(".modal tr[data-uds=\"mark.sh\"]", "42").await.unwrap();
    b.screenshot("23b-launch-uds").await.unwrap();
    b.click_text(".modal .tabs button", "Summary").await.unwrap();
    b.find_with_text(".modal dl.summary", "local.small").await.unwrap();
    b.find_with_text(".modal dl.summary", "web-1").await.unwrap();
    b.find_with_text(".modal dl.summary", "10: mark.sh 42").await.unwrap();
    // "Save as template" keeps the whole form under a name.
    b.type_into(".modal input[name=template_name]", "web template").await.unwrap();
    b.click_text(".modal button.save-template", "Save as template").await.unwrap();
    b.find_with_text(".modal .ok", "Saved as template web template").await.unwrap();
    let templates = admin.templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!((templates[0].name.as_str(), templates[0].request.name.as_str()), ("web template", "web-1"));
    assert_eq!(templates[0].request.setup.scripts.len(), 1);
    assert_eq!(templates[0].request.setup.scripts[0].parameters.as_deref(), Some("42"));
    b.screenshot("24-launch-summary").await.unwrap();
    b.click_text(".modal button[type=submit]", "Create").await.unwrap();
    b.wait_until("the dialog to close", || async { Ok(count(&b, ".modal").await == 0) }).await.unwrap();
    b.find_with_text("p.ok", "Task").await.unwrap();
    let instance = admin.instances(false).await.unwrap().into_iter().find(|i| i.name == "web-1").unwrap();
    assert_eq!((instance.instance_type.as_str(), instance.tags.clone()), ("local.small", vec!["web".to_string()]));

    // The list follows the launch live, to running (green).
    let row = "tr[data-instance=web-1]";
    b.find(row).await.unwrap();
    b.screenshot("25-instances-launching").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if count(&b, "tr[data-instance=web-1][data-status=running]").await == 1 {
            break;
        }
        let now = admin.instance(instance.id).await.unwrap();
        assert!(
            now.status != wintermute_api::instances::InstanceStatus::Failed,
            "the launch failed: {}",
            now.status_message
        );
        assert!(Instant::now() < deadline, "web-1 is not running after 15 minutes: {:?}", now.status);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let colour = b
        .js("return getComputedStyle(document.querySelector('tr[data-instance=web-1] td')).backgroundColor;")
        .await
        .unwrap();
    assert_eq!(colour.as_str(), Some("rgb(233, 247, 238)"), "a running instance's row is green");
    // The ID's extra information.
    b.click_text(&format!("{row} td:nth-child(2) summary"), "web-1").await.unwrap();
    b.find_with_text(&format!("{row} .popover"), "1 of 1").await.unwrap();
    b.screenshot("26-instances-running").await.unwrap();
    // Escape closes it.
    b.find(&format!("{row} td:nth-child(2) summary")).await.unwrap().send_keys("\u{e00c}").await.unwrap();
    b.wait_until("the pop-over to close", || async { Ok(count(&b, "details.info[open]").await == 0) }).await.unwrap();

    // A phone-sized window: the list becomes one card per instance, nothing sticks out.
    b.set_size(390, 844).await.unwrap();
    b.find(row).await.unwrap();
    b.screenshot("27-instances-phone").await.unwrap();
    let width: i64 = b.js("return document.documentElement.scrollWidth;").await.unwrap().as_i64().unwrap();
    assert!(width <= 400, "nothing sticks out sideways on a phone: page width {width}");
    b.set_size(1366, 900).await.unwrap();

    // "Upload data" from this computer: a file chosen in the dialog goes to the instance through
    // the core, with a byte progress bar that reaches the end.
    let here = tempfile::Builder::new().prefix("wintermute-browser-upload.").tempdir().unwrap();
    let payload: Vec<u8> = (0..2_500_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let local = here.path().join("payload.bin");
    std::fs::write(&local, &payload).unwrap();
    let digest = sha256_hex(&local);
    b.click_text(&format!("{row} button"), "Actions").await.unwrap();
    b.click_text(&format!("{row} .dropdown button"), "Upload data").await.unwrap();
    b.find_with_text(".modal h2", "Upload data to web-1").await.unwrap();
    b.click_text(".modal .tabs button", "This computer").await.unwrap();
    b.find(".modal input[name=files]").await.unwrap().send_keys(&local.display().to_string()).await.unwrap();
    b.find_with_text(".modal .computer-upload .sub", "1 file(s), 2.5 MB chosen").await.unwrap();
    b.replace_text(".modal input[name=destination]", "~/uploads/").await.unwrap();
    b.click_text(".modal .computer-upload button[type=submit]", "Send").await.unwrap();
    b.find(".modal .workstation-progress[data-state=done]").await.unwrap();
    b.find_with_text(".modal .workstation-progress .ok", "1 file(s), 2.5 MB sent").await.unwrap();
    let bar = b.find(".modal .workstation-progress [role=progressbar]").await.unwrap();
    assert_eq!(bar.attr("aria-valuenow").await.unwrap().as_deref(), Some("100"));
    b.screenshot("26a-upload-from-this-computer").await.unwrap();
    let there = admin.file_content(instance.id, "~/uploads/payload.bin", 0).await.unwrap();
    assert!(there == payload, "the instance holds the file as sent ({} bytes of {})", there.len(), payload.len());

    let data = tempfile::Builder::new().prefix("wintermute-browser-data.").tempdir().unwrap();
    admin
        .set_setting("WMAIS_DATA_BASE_PATH", serde_json::json!(format!("{}/%USER%/cloud", data.path().display())))
        .await
        .unwrap();
    std::fs::create_dir_all(data.path().join("admin/cloud/deck")).unwrap();
    std::fs::write(data.path().join("admin/cloud/deck/notes.txt"), "from the core\n").unwrap();
    // "Upload data" from the data directory on the core: a sync task followed in the dialog.
    // When the core runs as root it runs transfers with the user's own system account, and
    // there is no account named admin: the dialog then shows the core's refusal.
    b.click_text(".modal .tabs button", "Data on the core").await.unwrap();
    b.type_into(".modal input[name=source]", "deck/").await.unwrap();
    b.type_into(".modal input[name=target]", "~/deck/").await.unwrap();
    b.click_text(".modal .core-transfer button[type=submit]", "Start upload").await.unwrap();
    if nix::unistd::geteuid().is_root() {
        b.find_with_text(".modal", "system account").await.unwrap();
    } else {
        b.find(".modal .transfer-progress[data-state=succeeded]").await.unwrap();
        b.find_with_text(".modal .transfer-progress .task-message", "1 files").await.unwrap();
        assert_eq!(admin.file_content(instance.id, "~/deck/notes.txt", 0).await.unwrap(), b"from the core\n");
    }
    b.screenshot("26b-upload-from-the-core").await.unwrap();
    b.click_text(".modal .buttons button", "Close").await.unwrap();
    b.wait_until("the dialog to close", || async { Ok(count(&b, ".modal").await == 0) }).await.unwrap();

    // "Download data" to this computer: the file is listed, fetched with progress and saved;
    // what the browser saved has the same SHA-256.
    b.click_text(&format!("{row} button"), "Actions").await.unwrap();
    b.click_text(&format!("{row} .dropdown button"), "Download data").await.unwrap();
    b.click_text(".modal .tabs button", "This computer").await.unwrap();
    b.replace_text(".modal input[name=remote_path]", "~/uploads/").await.unwrap();
    b.click_text(".modal .computer-download button[type=submit]", "List").await.unwrap();
    b.click_text(".modal li[data-path=\"payload.bin\"] button", "Download").await.unwrap();
    b.find(".modal .workstation-progress[data-state=done]").await.unwrap();
    b.screenshot("26c-download-to-this-computer").await.unwrap();
    let saved = b
        .js("const a = document.querySelector('.modal a.saved-file'); \
             return fetch(a.href).then(r => r.arrayBuffer()).then(b => crypto.subtle.digest('SHA-256', b)) \
             .then(d => [...new Uint8Array(d)].map(x => x.toString(16).padStart(2, '0')).join(''));")
        .await
        .unwrap();
    assert_eq!(saved.as_str(), Some(digest.as_str()), "the saved download is the file");
    b.click_text(".modal .buttons button", "Close").await.unwrap();
    b.wait_until("the dialog to close", || async { Ok(count(&b, ".modal").await == 0) }).await.unwrap();

    // The SSH console: a command's output appears in the terminal.
    b.click_text(&format!("{row} button"), "Actions").await.unwrap();
    b.click_text(&format!("{row} .dropdown a"), "SSH console").await.unwrap();
    b.find_with_text("h1", "Console: web-1").await.unwrap();
    b.find_with_text("[data-testid=console-state]", "connected").await.unwrap();
    // The user defined script ran with the launch's parameter.
    type_line(&b, "cat /tmp/uds-mark.txt").await;
    b.wait_until("the script's mark", || async { Ok(terminal_text(&b).await.contains("uds-42-web-1")) }).await.unwrap();
    type_line(&b, "echo wm-$((6*7))-ok").await;
    b.wait_until("the command's output", || async { Ok(terminal_text(&b).await.contains("wm-42-ok")) }).await.unwrap();
    // The uploaded file is on the instance, byte for byte.
    type_line(&b, "sha256sum ~/uploads/payload.bin").await;
    b.wait_until("the upload's checksum", || async { Ok(terminal_text(&b).await.contains(&digest)) }).await.unwrap();
    // The core learns the terminal's size, and its new size when the window changes.
    type_line(&b, "stty size | sed 's/^/size=/'").await;
    let size_line = |text: String| text.lines().rev().find(|l| l.starts_with("size=")).map(str::to_owned);
    b.wait_until("the terminal size", || async { Ok(size_line(terminal_text(&b).await).is_some()) }).await.unwrap();
    let before = size_line(terminal_text(&b).await).unwrap();
    b.screenshot("28-console").await.unwrap();
    // The connection drops while a command runs: the console reattaches to the same shell and
    // replays what was printed meanwhile.
    type_line(&b, "X=wm-same-shell; sleep 4; echo after-$((40+2))").await;
    b.wait_until("the command to start", || async { Ok(terminal_text(&b).await.contains("sleep 4")) }).await.unwrap();
    drop(forwarder);
    b.find_with_text("[data-testid=console-state]", "reconnecting").await.unwrap();
    b.screenshot("28a-console-reconnecting").await.unwrap();
    forwarder = loop {
        match wintermute_tests::Forwarder::start(front, core_addr).await {
            Ok(f) => break f,
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    b.find_with_text("[data-testid=console-state]", "connected").await.unwrap();
    b.wait_until("the output printed while away", || async { Ok(terminal_text(&b).await.contains("after-42")) })
        .await
        .unwrap();
    // Much more output than the core keeps unacknowledged (1 MiB): the acknowledgements keep it flowing.
    type_line(&b, "seq 1 250000; echo done-$((1+1))").await;
    b.wait_until("the end of 1.7 MB of output", || async { Ok(terminal_text(&b).await.contains("done-2")) })
        .await
        .unwrap();
    type_line(&b, "clear; echo ${X}-ok").await;
    b.wait_until("the same shell", || async { Ok(terminal_text(&b).await.contains("wm-same-shell-ok")) })
        .await
        .unwrap();
    b.set_size(900, 700).await.unwrap();
    type_line(&b, "clear; stty size | sed 's/^/size=/'").await;
    b.wait_until("a smaller terminal", || async {
        Ok(size_line(terminal_text(&b).await).is_some_and(|l| l != before))
    })
    .await
    .unwrap();
    // "End session": the shell ends and the page says so.
    b.click_text(".console-tools button", "End session").await.unwrap();
    b.find_with_text("[data-testid=console-state]", "ended").await.unwrap();
    b.screenshot("29-console-ended").await.unwrap();
    let ended = console_sessions(&core, &admin, instance.id).await;
    assert_eq!(ended[0]["end_reason"], "closed_by_user", "{ended:?}");

    // A new session in the same page; leaving the page ends it (the view releases everything).
    b.click_text(".console-tools button", "Open a new session").await.unwrap();
    b.find_with_text("[data-testid=console-state]", "connected").await.unwrap();
    assert_eq!(console_sessions(&core, &admin, instance.id).await.len(), 2);
    b.click_text(".console-tools a", "Back to instances").await.unwrap();
    wintermute_tests::wait_for(
        "the console to end with the page",
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            let (core, admin) = (&core, &admin);
            async move {
                let list = console_sessions(core, admin, instance.id).await;
                Ok((list.len() == 2 && list[0]["end_reason"] == "closed_by_user").then_some(()))
            }
        },
    )
    .await
    .unwrap();

    // "Edit security" from the instance's actions: a group may open its console.
    let group = admin.create_group(&NewGroup { name: "operators".into(), ..NewGroup::default() }).await.unwrap();
    b.click_text(&format!("{row} button"), "Actions").await.unwrap();
    b.click_text(&format!("{row} .dropdown button"), "Edit security").await.unwrap();
    b.find(".modal input[data-group=operators][data-right=ssh_console]").await.unwrap().click().await.unwrap();
    b.click_text(".modal button[type=submit]", "Save").await.unwrap();
    b.find_with_text(".modal .ok", "Saved").await.unwrap();
    b.screenshot("30-instance-security").await.unwrap();
    b.click_text(".modal button", "Close").await.unwrap();
    let security = admin.object_security(ObjectKind::Instance, instance.id).await.unwrap();
    let rights = security.groups.iter().find(|g| g.group_id == group.id).map(|g| g.rights.clone());
    assert_eq!(rights, Some(vec![ObjectRight::SshConsole]));

    // "From template" fills the dialog again; "Delete template" (confirmed) removes it.
    b.click_text(".page-head button", "Launch new instance").await.unwrap();
    b.find(&format!(".modal select[name=template] option[value='{}']", templates[0].id)).await.unwrap();
    b.find(".modal select[name=template]").await.unwrap().select_by_value(&templates[0].id.to_string()).await.unwrap();
    b.wait_until("the template's values", || async {
        Ok(b.find(".modal input[name=name]").await?.prop("value").await?.as_deref() == Some("web-1"))
    })
    .await
    .unwrap();
    b.click_text(".modal .tabs button", "Setup").await.unwrap();
    b.find_with_text(".modal tr[data-uds=\"mark.sh\"]", "42").await.unwrap();
    b.screenshot("30a-from-template").await.unwrap();
    b.click_text(".modal button.delete-template", "Delete template").await.unwrap();
    b.click_text(".modal button.delete-template", "Really delete").await.unwrap();
    b.find_with_text(".modal .ok", "Template web template deleted").await.unwrap();
    assert!(admin.templates().await.unwrap().is_empty());
    b.find(".modal input[name=uds_parameters]").await.unwrap().send_keys("\u{e00c}").await.unwrap();
    b.wait_until("the dialog to close", || async { Ok(count(&b, ".modal").await == 0) }).await.unwrap();

    // Terminate as a batch action on the ticked instance, confirmed in a dialog.
    b.find(&format!("{row} input[type=checkbox]")).await.unwrap().click().await.unwrap();
    b.click_text(".page-head button.batch", "Batch actions (1)").await.unwrap();
    b.click_text(".page-head .dropdown button", "Terminate").await.unwrap();
    b.find_with_text(".modal p", "web-1").await.unwrap();
    b.screenshot("31-batch-terminate").await.unwrap();
    b.click_text(".modal button.danger", "Terminate").await.unwrap();
    let terminated = wintermute_api::instances::InstanceStatus::Terminated;
    wintermute_tests::instance_reaches(&admin, instance.id, terminated, Duration::from_secs(180)).await.unwrap();
    b.close().await.unwrap();
    drop(forwarder);
}
