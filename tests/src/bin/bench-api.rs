//! API benchmark of a real `wmais` on loopback: SQLite always, PostgreSQL too when
//! WINTERMUTE_TEST_POSTGRES_URL is set (a fresh database of its own). Run it with `./scripts/bench-api`.
//!
//! Per backend: 64 users are prepared (created by the admin, each logs in once and replaces its
//! temporary password), then
//!   (a) 64 concurrent clients log in over and over for `--seconds`, and
//!   (b) 64 concurrent clients, logged in, alternate `GET /api/v1/tasks?mine=true` and
//!       `GET /api/v1/users` for `--seconds`.
//! Prints requests, errors, throughput and p50/p99/max latency per operation, and whether the list
//! p99 on SQLite is under the 20 ms target.
//!
//!   bench-api [--profile release|debug] [--seconds N] [--clients N] [--tasks-per-user N]

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::Barrier;
use tokio::task::JoinSet;
use wintermute_api::client::{Client, TaskQuery};
use wintermute_api::tasks::DebugTaskRequest;
use wintermute_api::users::NewUser;
use wintermute_tests::{bin_path_in_profile, postgres_url, wait_for, Core, CoreOptions, PostgresDb};

/// p99 target of the list calls on SQLite.
const LIST_P99_TARGET_MS: f64 = 20.0;
/// Upper bound of requests per client and phase, whatever the time limit.
const MAX_REQUESTS_PER_CLIENT: usize = 1_000_000;
/// One request taking longer than this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Users prepared at the same time (each costs several argon2 hashes).
const PREPARE_PARALLEL: usize = 8;

struct Args {
    profile: String,
    seconds: u64,
    clients: usize,
    tasks_per_user: u32,
}

fn parse_args() -> anyhow::Result<Option<Args>> {
    let mut a = Args { profile: "release".into(), seconds: 10, clients: 64, tasks_per_user: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let mut value = || -> anyhow::Result<String> {
            match inline.clone().or_else(|| it.next()) {
                Some(v) => Ok(v),
                None => bail!("{key} needs a value"),
            }
        };
        match key.as_str() {
            "--profile" => {
                a.profile = value()?;
                if !matches!(a.profile.as_str(), "release" | "debug") {
                    bail!("--profile is release or debug, not {:?}", a.profile);
                }
            }
            "--seconds" => a.seconds = value()?.parse().context("--seconds")?,
            "--clients" => a.clients = value()?.parse().context("--clients")?,
            "--tasks-per-user" => a.tasks_per_user = value()?.parse().context("--tasks-per-user")?,
            "-h" | "--help" => {
                println!("usage: bench-api [--profile release|debug] [--seconds N] [--clients N] [--tasks-per-user N]");
                println!("  --profile         which build of wmais to run (default release, from $CARGO_TARGET_DIR/<profile>/)");
                println!("  --seconds         duration of each phase (default 10)");
                println!("  --clients         concurrent clients and prepared users (default 64)");
                println!(
                    "  --tasks-per-user  one-step debug tasks each user owns, so task lists are not empty (default 1)"
                );
                println!("PostgreSQL is benchmarked too when WINTERMUTE_TEST_POSTGRES_URL is set.");
                return Ok(None);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if a.seconds == 0 || a.seconds > 3600 {
        bail!("--seconds must be 1 to 3600");
    }
    if a.clients == 0 || a.clients > 1024 {
        bail!("--clients must be 1 to 1024");
    }
    if a.tasks_per_user > 20 {
        bail!("--tasks-per-user must be 0 to 20");
    }
    Ok(Some(a))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Login,
    ListTasks,
    ListUsers,
}

impl Op {
    fn index(self) -> usize {
        self as usize
    }
}

const OPS: usize = 3;

/// What one client measured: latencies of successful calls (µs) and error counts, per operation.
#[derive(Default)]
struct Measured {
    latencies: [Vec<u64>; OPS],
    errors: [u64; OPS],
    first_error: Option<String>,
}

impl Measured {
    fn merge(&mut self, other: Measured) {
        for i in 0..OPS {
            self.latencies[i].extend_from_slice(&other.latencies[i]);
            self.errors[i] += other.errors[i];
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    async fn time<T, E: std::fmt::Display>(
        &mut self,
        op: Op,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> bool {
        let t = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, call).await;
        let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
        let error = match outcome {
            Ok(Ok(_)) => {
                self.latencies[op.index()].push(micros);
                return true;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {REQUEST_TIMEOUT:?}"),
        };
        self.errors[op.index()] += 1;
        self.first_error.get_or_insert(error);
        false
    }
}

struct Row {
    name: String,
    requests: u64,
    errors: u64,
    per_second: f64,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Row {
    fn new(name: &str, latencies: &mut [u64], errors: u64, elapsed: Duration) -> Row {
        latencies.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        let pct = |p: f64| -> f64 {
            if latencies.is_empty() {
                return f64::NAN;
            }
            let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
            ms(latencies[rank.clamp(1, latencies.len()) - 1])
        };
        let requests = latencies.len() as u64 + errors;
        Row {
            name: name.to_owned(),
            requests,
            errors,
            per_second: requests as f64 / elapsed.as_secs_f64().max(1e-9),
            p50: pct(50.0),
            p99: pct(99.0),
            max: latencies.last().map(|&v| ms(v)).unwrap_or(f64::NAN),
        }
    }
}

struct BackendResult {
    backend: &'static str,
    rows: Vec<Row>,
    list_p99: f64,
    first_error: Option<String>,
}

struct BenchUser {
    login: String,
    password: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Some(args) = parse_args()? else { return Ok(()) };
    let bin = bin_path_in_profile("wmais", &args.profile)?;
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "bench-api: {} ({} build), {} clients, {} s per phase, {cpus} CPUs",
        bin.display(),
        args.profile,
        args.clients,
        args.seconds
    );
    if args.profile == "debug" {
        println!(
            "note: a debug build is much slower than release; use these figures only to check the benchmark works"
        );
    }
    let mut results = vec![run_backend("SQLite", &args, &bin, None).await?];
    if let Some(admin_url) = postgres_url()? {
        let db = PostgresDb::create(&admin_url)?;
        results.push(run_backend("PostgreSQL", &args, &bin, Some(db.url())).await?);
    }
    println!();
    for r in &results {
        print_table(r, &args, cpus);
    }
    if let Some(sqlite) = results.iter().find(|r| r.backend == "SQLite") {
        let verdict = if sqlite.list_p99 < LIST_P99_TARGET_MS { "meets" } else { "MISSES" };
        println!(
            "list p99 on SQLite: {:.2} ms, {verdict} the {LIST_P99_TARGET_MS} ms target ({} build)",
            sqlite.list_p99, args.profile
        );
    }
    if results.iter().any(|r| r.rows.iter().any(|row| row.errors > 0)) {
        bail!("some requests failed (see the errors column)");
    }
    Ok(())
}

async fn run_backend(
    backend: &'static str,
    args: &Args,
    bin: &std::path::Path,
    database: Option<&str>,
) -> anyhow::Result<BackendResult> {
    println!("== {backend}: starting wmais");
    let mut opts = CoreOptions::new().binary(bin).maybe_database(database);
    if args.tasks_per_user > 0 {
        opts = opts.env("WMAIS__DEBUG__TEST_TASKS", "true");
    }
    let mut core = Core::start(opts).await?;
    let result = measure(backend, args, &core).await;
    if let Err(e) = &result {
        eprintln!("{backend} failed: {e:#}\n{}", core.logs_tail(50));
    }
    match core.terminate().await {
        Ok(status) if status.success() => {}
        Ok(status) => println!("note: wmais exited with {status} after SIGTERM"),
        Err(e) => println!("note: stopping wmais: {e:#}"),
    }
    result
}

async fn measure(backend: &'static str, args: &Args, core: &Core) -> anyhow::Result<BackendResult> {
    let admin = core.admin_client().await?;
    let t = Instant::now();
    let users = prepare_users(core, &admin, args.clients, args.tasks_per_user).await?;
    println!("== {backend}: {} users ready in {:.1} s", users.len(), t.elapsed().as_secs_f64());

    println!("== {backend}: (a) {} clients logging in for {} s", args.clients, args.seconds);
    let (mut login, login_elapsed) = run_phase(core, &users, args.seconds, Phase::Login).await?;
    println!("== {backend}: (b) {} clients listing tasks and users for {} s", args.clients, args.seconds);
    let (mut list, list_elapsed) = run_phase(core, &users, args.seconds, Phase::List).await?;

    let mut both: Vec<u64> =
        list.latencies[Op::ListTasks.index()].iter().chain(&list.latencies[Op::ListUsers.index()]).copied().collect();
    let both_errors = list.errors[Op::ListTasks.index()] + list.errors[Op::ListUsers.index()];
    let rows = vec![
        Row::new(
            "login (POST /auth/login)",
            &mut login.latencies[Op::Login.index()],
            login.errors[Op::Login.index()],
            login_elapsed,
        ),
        Row::new(
            "list tasks (GET /tasks?mine=true)",
            &mut list.latencies[Op::ListTasks.index()],
            list.errors[Op::ListTasks.index()],
            list_elapsed,
        ),
        Row::new(
            "list users (GET /users)",
            &mut list.latencies[Op::ListUsers.index()],
            list.errors[Op::ListUsers.index()],
            list_elapsed,
        ),
        Row::new("list, both calls", &mut both, both_errors, list_elapsed),
    ];
    let list_p99 = rows[3].p99;
    Ok(BackendResult { backend, rows, list_p99, first_error: login.first_error.or(list.first_error) })
}

/// Creates `n` users; each logs in with its temporary password and replaces it, so it can call
/// the API, and starts `tasks` one-step debug tasks so its task list is not empty.
async fn prepare_users(core: &Core, admin: &Client, n: usize, tasks: u32) -> anyhow::Result<Vec<BenchUser>> {
    let mut users = Vec::with_capacity(n);
    let mut task_ids = Vec::new();
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(PREPARE_PARALLEL) {
        let mut set = JoinSet::new();
        for &i in chunk {
            let admin = admin.clone();
            let url = core.url().to_owned();
            set.spawn(async move {
                let login = format!("benchuser{i:03}");
                let temporary = format!("Tmp-Pass-{i:03}-Xyz9!");
                let password = format!("Bench-Pw-{i:03}-Secret7");
                admin
                    .create_user(&NewUser {
                        login: login.clone(),
                        password: temporary.clone(),
                        first_name: "Bench".into(),
                        last_name: format!("User {i}"),
                        enabled: true,
                        ..NewUser::default()
                    })
                    .await
                    .with_context(|| format!("creating {login}"))?;
                let mut c = Client::new(&url)?;
                c.login(&login, &temporary).await.with_context(|| format!("first login of {login}"))?;
                c.change_password(&temporary, &password)
                    .await
                    .with_context(|| format!("password change of {login}"))?;
                c.login(&login, &password).await.with_context(|| format!("login of {login} with its new password"))?;
                let mut ids = Vec::new();
                for _ in 0..tasks {
                    let t = c
                        .start_debug_task(&DebugTaskRequest { steps: 1, resumable: true, fail_at: None })
                        .await
                        .with_context(|| format!("starting a task for {login}"))?;
                    ids.push(t.id);
                }
                anyhow::Ok((BenchUser { login, password }, ids))
            });
        }
        while let Some(r) = set.join_next().await {
            let (user, ids) = r??;
            users.push(user);
            task_ids.extend(ids);
        }
    }
    // Let the tasks finish, so that no task work runs during the measurements.
    if !task_ids.is_empty() {
        let admin = &admin;
        wait_for(
            "the users' tasks to finish",
            Duration::from_secs(120),
            Duration::from_millis(500),
            move || async move {
                let open = admin
                    .tasks(&TaskQuery { state: Some("queued".into()), limit: Some(1), ..TaskQuery::default() })
                    .await?;
                let running = admin
                    .tasks(&TaskQuery { state: Some("running".into()), limit: Some(1), ..TaskQuery::default() })
                    .await?;
                Ok((open.items.is_empty() && running.items.is_empty()).then_some(()))
            },
        )
        .await?;
    }
    Ok(users)
}

#[derive(Clone, Copy)]
enum Phase {
    Login,
    List,
}

/// Runs one client per user for `seconds`; returns what they measured and the phase's wall time.
async fn run_phase(
    core: &Core,
    users: &[BenchUser],
    seconds: u64,
    phase: Phase,
) -> anyhow::Result<(Measured, Duration)> {
    let barrier = std::sync::Arc::new(Barrier::new(users.len() + 1));
    let mut set = JoinSet::new();
    for u in users {
        let (login, password) = (u.login.clone(), u.password.clone());
        let url = core.url().to_owned();
        let barrier = barrier.clone();
        set.spawn(async move {
            // Connections and sessions are set up before the clock starts.
            let mut c = Client::new(&url)?;
            let setup = c.login(&login, &password).await.with_context(|| format!("login of {login}"));
            barrier.wait().await;
            setup?;
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut m = Measured::default();
            for i in 0..MAX_REQUESTS_PER_CLIENT {
                if Instant::now() >= deadline {
                    break;
                }
                let ok = match phase {
                    Phase::Login => m.time(Op::Login, c.login(&login, &password)).await,
                    Phase::List if i % 2 == 0 => {
                        m.time(Op::ListTasks, c.tasks(&TaskQuery { mine: Some(true), ..TaskQuery::default() })).await
                    }
                    Phase::List => m.time(Op::ListUsers, c.users()).await,
                };
                if !ok {
                    // No busy loop when the core is gone.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            anyhow::Ok(m)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut total = Measured::default();
    while let Some(r) = set.join_next().await {
        total.merge(r??);
    }
    Ok((total, start.elapsed()))
}

fn print_table(r: &BackendResult, args: &Args, cpus: usize) {
    println!("{} ({} build of wmais, {} clients, {} s per phase)", r.backend, args.profile, args.clients, args.seconds);
    println!(
        "  {:<36} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9}",
        "operation", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms"
    );
    for row in &r.rows {
        println!(
            "  {:<36} {:>9} {:>7} {:>10.1} {:>9.2} {:>9.2} {:>9.2}",
            row.name, row.requests, row.errors, row.per_second, row.p50, row.p99, row.max
        );
    }
    println!(
        "  note: login hashes the password with argon2id (19 MiB, 2 passes) by design, so its throughput is \
         bound by the CPU ({cpus} here), not by the API or the database"
    );
    if let Some(e) = &r.first_error {
        println!("  first error: {e}");
    }
    println!();
}
