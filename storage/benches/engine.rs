//! Engine throughput and memory on SQLite and PostgreSQL.
//!
//! ```text
//! cargo bench -p storage --bench engine -- [--backend sqlite|postgres|both] [--seconds 2]
//!     [--rounds 5] [--clients 16] [--password-clients 4×cores] [--burst 200]
//! ```
//!
//! Everything goes through `domain::Engine` over `storage::Database`, with the production
//! configuration (argon2id m=19456 KiB, t=2, p=1; at most `cores` hashes in flight), the system
//! clock and the OS random generator. Each figure is the median of `--rounds` timed rounds of
//! `--seconds`, with the smallest and largest round beside it, and the process CPU time per
//! operation (all threads of this process; a PostgreSQL server's own CPU is not in it):
//!
//! - create session with a user check (no password), `--clients` requests in flight;
//! - password check: create session with user check and the correct password,
//!   `--password-clients` requests in flight (the engine lets `cores` of them hash at a time);
//! - raw argon2id verification of the same password against a hash with the same parameters,
//!   through `domain::crypto`, on `spawn_blocking`, `cores` at a time. Its rounds alternate with
//!   the password rounds; the ratios are medians of per-round-pair ratios, once for throughput
//!   (engine/raw) and once for CPU per operation (raw/engine);
//! - email code check: set session with the code of a pending email challenge (the challenges
//!   are requested before the timed part and not counted);
//! - memory of `--burst` password checks fired at once, each measured in a fresh child process
//!   (see [`memory_child`]), once with the default glibc malloc settings and once with
//!   `MALLOC_MMAP_THRESHOLD_=131072` in the child's environment.
//!
//! PostgreSQL: `VESTIBULE_TEST_POSTGRES_URL`, else `DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`; the bench works in a fresh schema it drops at the
//! end. SQLite: a fresh file in a temporary directory, removed at the end.

use std::{
    future::Future,
    path::PathBuf,
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use domain::{
    clock::{SystemClock, SystemRng},
    crypto::{argon2_hash, argon2_verify, Argon2Params, ServerKey},
    input::{Email, LoginName, NewPassword, OtpCode, Password, UserRef},
    notifier::RecordingNotifier,
    service::{
        Caller, ChallengeRequests, Checks, CreateSessionRequest, EmailCodeDelivery, NewUser,
        SessionChange, SetSessionRequest,
    },
    Config, Engine,
};
use sqlx::postgres::PgPoolOptions;
use storage::Database;

const USERS: usize = 16;
const PASSWORD: &str = "correct horse battery staple";
const WARM_UP: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
struct Options {
    backends: Vec<Backend>,
    round: Duration,
    rounds: usize,
    clients: usize,
    password_clients: usize,
    /// Password checks fired at once in the memory measurement.
    burst: usize,
    /// Set in the child process that measures memory: the database URL to use.
    memory_child: Option<String>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench -p storage --bench engine -- [--backend sqlite|postgres|both] \
         [--seconds S] [--rounds R] [--clients C] [--password-clients P] [--burst B]"
    );
    std::process::exit(2)
}

fn parse_options() -> Options {
    let mut options = Options {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        round: Duration::from_secs(2),
        rounds: 5,
        clients: 16,
        password_clients: 4 * cores(),
        burst: 200,
        memory_child: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        // `cargo bench` passes `--bench` to every bench binary; it means nothing here.
        if flag == "--bench" {
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "--backend" => {
                options.backends = match value().as_str() {
                    "sqlite" => vec![Backend::Sqlite],
                    "postgres" => vec![Backend::Postgres],
                    "both" => vec![Backend::Sqlite, Backend::Postgres],
                    _ => usage(),
                }
            }
            "--seconds" => {
                let s: f64 = value().parse().unwrap_or_else(|_| usage());
                if !(s > 0.0 && s < 600.0) {
                    usage()
                }
                options.round = Duration::from_secs_f64(s);
            }
            "--rounds" => options.rounds = positive(&value()),
            "--clients" => options.clients = positive(&value()),
            "--password-clients" => options.password_clients = positive(&value()),
            "--burst" => options.burst = positive(&value()),
            "--memory-child" => options.memory_child = Some(value()),
            _ => usage(),
        }
    }
    options
}

fn positive(text: &str) -> usize {
    match text.parse() {
        Ok(n) if n > 0 => n,
        _ => usage(),
    }
}

fn main() {
    let options = parse_options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(url) = &options.memory_child {
        runtime.block_on(memory_child(url, options.burst));
        return;
    }
    print_machine(&options);
    for backend in options.backends.clone() {
        let report = runtime.block_on(bench_backend(backend, &options));
        report.print();
    }
    println!("load average at the end: {}", load_average());
}

// --- machine ---

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn print_machine(options: &Options) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let params = Argon2Params::default();
    println!("Vestibule engine bench");
    println!("  cpu: {cpu}; cores available: {}", cores());
    println!("  load average at the start: {}", load_average());
    println!(
        "  argon2id m={} KiB t={} p={}; hashes in flight at most {} (engine default: cores)",
        params.m_cost,
        params.t_cost,
        params.p_cost,
        cores()
    );
    println!(
        "  {} rounds of {:.1} s per figure (median, [min–max]); {} users; \
         {} clients for session and code requests, {} for password checks",
        options.rounds,
        options.round.as_secs_f64(),
        USERS,
        options.clients,
        options.password_clients
    );
    println!();
}

/// Peak and current resident set of this process, in KiB (`VmHWM`, `VmRSS`).
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

// --- databases ---

fn postgres_url() -> String {
    std::env::var("VESTIBULE_TEST_POSTGRES_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("vbench_{}_{nanos}", std::process::id())
}

enum Cleanup {
    Dir(PathBuf),
    Schema { url: String, name: String },
}

/// A fresh, migrated database; returns the URL a second process can open it with.
async fn fresh_database(backend: Backend) -> (Database, String, Cleanup) {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(unique_name());
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = Database::sqlite_url_in(&dir);
            let db = Database::connect(&url).await.expect("open sqlite");
            db.migrate().await.expect("migrate sqlite");
            (db, url, Cleanup::Dir(dir))
        }
        Backend::Postgres => {
            let url = postgres_url();
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
            let name = unique_name();
            sqlx::query(&format!("CREATE SCHEMA \"{name}\""))
                .execute(&admin)
                .await
                .expect("create schema");
            admin.close().await;
            let joiner = if url.contains('?') { '&' } else { '?' };
            let schema_url = format!("{url}{joiner}options[search_path]={name}");
            let db = Database::connect(&schema_url).await.expect("open postgres");
            db.migrate().await.expect("migrate postgres");
            (db, schema_url, Cleanup::Schema { url, name })
        }
    }
}

async fn close(db: &Database) {
    db.close().await;
}

async fn remove(cleanup: Cleanup) {
    match cleanup {
        Cleanup::Dir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
        }
        Cleanup::Schema { url, name } => {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .expect("reconnect to drop the schema");
            sqlx::query(&format!("DROP SCHEMA \"{name}\" CASCADE"))
                .execute(&admin)
                .await
                .expect("drop schema");
            admin.close().await;
        }
    }
}

/// An engine as the server builds it: default configuration, system clock, OS randomness.
fn engine(db: Database) -> Arc<Engine> {
    Arc::new(
        Engine::new(
            Arc::new(db),
            Arc::new(SystemClock),
            Arc::new(SystemRng),
            Arc::new(RecordingNotifier::new()),
            ServerKey::generate(&SystemRng),
            Config::default(),
        )
        .expect("engine"),
    )
}

// --- requests ---

fn login_name(i: usize) -> String {
    format!("bench-{:02}", i % USERS)
}

fn caller() -> Caller {
    domain::testing::key_caller("bench")
}

fn create_request(i: usize, password: bool, email_code: bool) -> CreateSessionRequest {
    CreateSessionRequest {
        change: SessionChange {
            checks: Checks {
                user: Some(UserRef::LoginName(
                    LoginName::parse(login_name(i)).expect("login name"),
                )),
                password: password.then(|| Password::parse(PASSWORD.to_owned()).expect("pw")),
                ..Checks::default()
            },
            challenges: ChallengeRequests {
                otp_email: email_code.then_some(EmailCodeDelivery::Return),
                ..ChallengeRequests::default()
            },
            ..SessionChange::default()
        },
        ..CreateSessionRequest::default()
    }
}

/// Users with the password and email codes enabled, created through the engine.
async fn create_users(engine: &Arc<Engine>) {
    let tasks: Vec<_> = (0..USERS)
        .map(|i| {
            let engine = Arc::clone(engine);
            tokio::spawn(async move {
                let mut new = NewUser::named(LoginName::parse(login_name(i)).expect("name"));
                new.password = Some(NewPassword::parse(PASSWORD.to_owned()).expect("password"));
                new.email = Some(Email::parse(format!("bench-{i}@example.test")).expect("email"));
                new.email_verified = true;
                let user = engine.create_user(new).await.expect("create user");
                engine.set_otp_email(&user.id, true).await.expect("otp");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("user task");
    }
}

// --- measurement ---

/// CPU time used so far by this process, all threads, user and system (from `/proc/self/stat`,
/// in clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name may hold spaces; the fields after it are plain numbers.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// One timed round.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Operations completed before the deadline, per second of the round.
    per_second: f64,
    /// Process CPU time per operation, in ms (all completed operations, including the ones that
    /// ran past the deadline, over the CPU used until the last one finished).
    cpu_ms: f64,
}

/// Runs `op` from `clients` loops for `duration`. Operations still running at the deadline
/// finish but count only towards the CPU figure.
async fn rate<F, Fut>(clients: usize, duration: Duration, op: &Arc<F>) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let deadline = start + duration;
    let loops: Vec<_> = (0..clients)
        .map(|_| {
            let op = Arc::clone(op);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let (mut in_time, mut all) = (0u64, 0u64);
                while Instant::now() < deadline {
                    op(next.fetch_add(1, Ordering::Relaxed)).await;
                    all += 1;
                    if Instant::now() <= deadline {
                        in_time += 1;
                    }
                }
                (in_time, all)
            })
        })
        .collect();
    let (mut in_time, mut all) = (0, 0);
    for l in loops {
        let (i, a) = l.await.expect("client loop");
        in_time += i;
        all += a;
    }
    let cpu = cpu_seconds() - cpu_start;
    Sample {
        per_second: in_time as f64 / duration.as_secs_f64(),
        cpu_ms: cpu * 1000.0 / all.max(1) as f64,
    }
}

/// Median, smallest and largest of the rounds.
#[derive(Debug, Clone)]
struct Figure {
    median: f64,
    min: f64,
    max: f64,
}

impl Figure {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Self {
            median,
            min: values[0],
            max: values[n - 1],
        }
    }
}

/// Throughput and CPU per operation over the rounds.
struct Measured {
    per_second: Figure,
    cpu_ms: Figure,
}

impl Measured {
    fn of(samples: &[Sample]) -> Self {
        Self {
            per_second: Figure::of(samples.iter().map(|s| s.per_second).collect()),
            cpu_ms: Figure::of(samples.iter().map(|s| s.cpu_ms).collect()),
        }
    }
}

struct Report {
    backend: Backend,
    create: Measured,
    engine_password: Measured,
    raw_argon2: Measured,
    /// Engine password checks per second over raw verifications per second, per round pair.
    ratio: Figure,
    /// Raw CPU ms per verification over engine CPU ms per password check, per round pair.
    cpu_ratio: Figure,
    code: Measured,
    code_batch: usize,
    memory: Memory,
    memory_fixed_threshold: Memory,
    options: Options,
}

#[derive(Debug, Default)]
struct Memory {
    /// Peak of the child process before the burst (includes the engine's dummy hash at start).
    hwm_start_kib: u64,
    /// Resident set right before the burst, where the peak counter was reset.
    rss_before_kib: u64,
    /// Peak during the burst.
    hwm_burst_kib: u64,
    /// Resident set after the burst.
    rss_after_kib: u64,
    /// Whether the kernel accepted the reset of the peak counter.
    reset: bool,
    millis: u64,
}

async fn bench_backend(backend: Backend, options: &Options) -> Report {
    eprintln!("[{}] setting up", backend.name());
    let (db, url, cleanup) = fresh_database(backend).await;
    let engine = engine(db.clone());
    create_users(&engine).await;
    let params = engine.config().argon2;
    let phc = Arc::new(argon2_hash(&params, PASSWORD.as_bytes(), &SystemRng).expect("hash"));

    let create = {
        let engine = Arc::clone(&engine);
        move |i| {
            let engine = Arc::clone(&engine);
            async move {
                engine
                    .create_session(create_request(i, false, false), &caller())
                    .await
                    .expect("create session");
            }
        }
    };
    let password = {
        let engine = Arc::clone(&engine);
        move |i| {
            let engine = Arc::clone(&engine);
            async move {
                engine
                    .create_session(create_request(i, true, false), &caller())
                    .await
                    .expect("password check");
            }
        }
    };
    let raw = {
        let phc = Arc::clone(&phc);
        move |_| {
            let phc = Arc::clone(&phc);
            async move {
                let matched = tokio::task::spawn_blocking(move || {
                    argon2_verify(&params, PASSWORD.as_bytes(), &phc).expect("verify")
                })
                .await
                .expect("blocking task");
                assert!(matched.matches);
            }
        }
    };
    let create = Arc::new(create);
    let password = Arc::new(password);
    let raw = Arc::new(raw);

    eprintln!("[{}] create session with user check", backend.name());
    rate(options.clients, WARM_UP, &create).await;
    let mut creates = Vec::new();
    for _ in 0..options.rounds {
        creates.push(rate(options.clients, options.round, &create).await);
    }
    let create = Measured::of(&creates);

    eprintln!("[{}] password check vs raw argon2id", backend.name());
    rate(options.password_clients, WARM_UP, &password).await;
    rate(cores(), WARM_UP, &raw).await;
    let (mut engines, mut raws) = (Vec::new(), Vec::new());
    for round in 0..options.rounds {
        // Alternate the order, so a drift in the machine's load does not favour one side.
        if round % 2 == 0 {
            engines.push(rate(options.password_clients, options.round, &password).await);
            raws.push(rate(cores(), options.round, &raw).await);
        } else {
            raws.push(rate(cores(), options.round, &raw).await);
            engines.push(rate(options.password_clients, options.round, &password).await);
        }
    }
    let pairs = || engines.iter().zip(&raws);
    let ratio = Figure::of(pairs().map(|(e, r)| e.per_second / r.per_second).collect());
    let cpu_ratio = Figure::of(pairs().map(|(e, r)| r.cpu_ms / e.cpu_ms).collect());

    eprintln!("[{}] email code check", backend.name());
    let code_batch = ((create.per_second.median * options.round.as_secs_f64()) / 2.0)
        .clamp(100.0, 20_000.0) as usize;
    let mut codes = Vec::new();
    for _ in 0..options.rounds {
        codes.push(code_round(&engine, options.clients, code_batch).await);
    }

    eprintln!(
        "[{}] memory of {} concurrent password checks",
        backend.name(),
        options.burst
    );
    let memory = memory_in_child(&url, options.burst, None);
    let memory_fixed_threshold = memory_in_child(
        &url,
        options.burst,
        Some(("MALLOC_MMAP_THRESHOLD_", "131072")),
    );

    drop(engine);
    close(&db).await;
    remove(cleanup).await;
    Report {
        backend,
        create,
        engine_password: Measured::of(&engines),
        raw_argon2: Measured::of(&raws),
        ratio,
        cpu_ratio,
        code: Measured::of(&codes),
        code_batch,
        memory,
        memory_fixed_threshold,
        options: options.clone(),
    }
}

/// Requests `batch` email codes (untimed), then checks them all from `clients` loops.
async fn code_round(engine: &Arc<Engine>, clients: usize, batch: usize) -> Sample {
    let next = Arc::new(AtomicUsize::new(0));
    let makers: Vec<_> = (0..clients)
        .map(|_| {
            let engine = Arc::clone(engine);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut made = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= batch {
                        return made;
                    }
                    let created = engine
                        .create_session(create_request(i, false, true), &caller())
                        .await
                        .expect("email challenge");
                    let code = created.challenges.otp_email.expect("returned code");
                    made.push((created.session_id, code.into_inner()));
                }
            })
        })
        .collect();
    let mut pending = Vec::with_capacity(batch);
    for m in makers {
        pending.extend(m.await.expect("challenge task"));
    }
    let pending = Arc::new(pending);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let checkers: Vec<_> = (0..clients)
        .map(|_| {
            let engine = Arc::clone(engine);
            let pending = Arc::clone(&pending);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                while let Some((session_id, code)) =
                    pending.get(next.fetch_add(1, Ordering::Relaxed))
                {
                    let request = SetSessionRequest {
                        change: SessionChange {
                            checks: Checks {
                                otp_email: Some(OtpCode::parse(code.clone()).expect("code")),
                                ..Checks::default()
                            },
                            ..SessionChange::default()
                        },
                        ..SetSessionRequest::default()
                    };
                    engine
                        .set_session(session_id, request, &caller())
                        .await
                        .expect("code check");
                }
            })
        })
        .collect();
    for c in checkers {
        c.await.expect("check task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    Sample {
        per_second: batch as f64 / elapsed,
        cpu_ms: (cpu_seconds() - cpu_start) * 1000.0 / batch as f64,
    }
}

// --- memory ---

/// Runs this binary again with `--memory-child` (and `env` added to its environment, if given)
/// and reads the line it prints.
fn memory_in_child(url: &str, burst: usize, env: Option<(&str, &str)>) -> Memory {
    let exe = std::env::current_exe().expect("own path");
    let mut command = Command::new(exe);
    command.args(["--memory-child", url, "--burst", &burst.to_string()]);
    if let Some((key, value)) = env {
        command.env(key, value);
    }
    let output = command.output().expect("run the memory child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "memory child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("memory:"))
        .expect("memory line");
    let mut memory = Memory::default();
    for pair in line.split_whitespace().skip(1) {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        let n: u64 = value.parse().unwrap_or(0);
        match key {
            "hwm_start_kib" => memory.hwm_start_kib = n,
            "rss_before_kib" => memory.rss_before_kib = n,
            "hwm_burst_kib" => memory.hwm_burst_kib = n,
            "rss_after_kib" => memory.rss_after_kib = n,
            "reset" => memory.reset = n == 1,
            "millis" => memory.millis = n,
            _ => {}
        }
    }
    memory
}

/// The child: opens the database the parent prepared, builds an engine with the default
/// configuration, runs one password check to warm up, resets the kernel's peak-RSS counter
/// (`echo 5 > /proc/self/clear_refs`), fires `burst` password checks at once and prints the peak.
/// A fresh process keeps the parent's earlier rounds (and their freed-but-kept heap) out of the
/// figure; the reset keeps the start-up (pools, the engine's own dummy hash) out of the peak.
async fn memory_child(url: &str, burst: usize) {
    let db = Database::connect(url).await.expect("open database");
    let engine = engine(db.clone());
    engine
        .create_session(create_request(0, true, false), &caller())
        .await
        .expect("warm-up check");
    let (hwm_start, _) = memory_kib();
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let (_, rss_before) = memory_kib();
    let start = Arc::new(tokio::sync::Barrier::new(burst));
    let began = Instant::now();
    let tasks: Vec<_> = (0..burst)
        .map(|i| {
            let engine = Arc::clone(&engine);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                engine
                    .create_session(create_request(i, true, false), &caller())
                    .await
                    .expect("password check");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("burst task");
    }
    let millis = began.elapsed().as_millis();
    let (hwm_burst, rss_after) = memory_kib();
    println!(
        "memory: hwm_start_kib={hwm_start} rss_before_kib={rss_before} hwm_burst_kib={hwm_burst} \
         rss_after_kib={rss_after} reset={} millis={millis}",
        u8::from(reset)
    );
    drop(engine);
    close(&db).await;
}

// --- output ---

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl Memory {
    fn print(&self, label: &str) {
        let params = Argon2Params::default();
        let bound = u64::from(params.m_cost) * cores() as u64;
        if self.reset {
            println!(
                "    {label}: resident before {:.1} MiB, peak during {:.1} MiB, growth {:.1} MiB \
                 ({} ms); after {:.1} MiB",
                mib(self.rss_before_kib),
                mib(self.hwm_burst_kib),
                mib(self.hwm_burst_kib.saturating_sub(self.rss_before_kib)),
                self.millis,
                mib(self.rss_after_kib),
            );
        } else {
            println!(
                "    {label}: the kernel refused to reset the peak counter; resident before \
                 {:.1} MiB, peak since start {:.1} MiB ({} ms)",
                mib(self.rss_before_kib),
                mib(self.hwm_burst_kib),
                self.millis
            );
        }
        println!(
            "      (process peak before the burst {:.1} MiB; argon2 blocks in flight at most: \
             {} x {:.1} MiB = {:.1} MiB)",
            mib(self.hwm_start_kib),
            cores(),
            mib(u64::from(params.m_cost)),
            mib(bound)
        );
    }
}

impl Report {
    fn print(&self) {
        let o = &self.options;
        let header = format!(
            "  {:<60} {:>9}  {:<15}  {:>9}",
            "", "median", "[min–max]", "CPU ms/op"
        );
        let row = |name: &str, m: &Measured| {
            let f = &m.per_second;
            println!(
                "  {name:<60} {:>7.1}/s  [{:>6.1}–{:<6.1}]  {:>9.2}",
                f.median, f.min, f.max, m.cpu_ms.median
            );
        };
        println!("== {} ==", self.backend.name());
        println!("{header}");
        row(
            &format!("create session + user check ({} in flight)", o.clients),
            &self.create,
        );
        row(
            &format!(
                "password check via engine ({} in flight, {} hashing)",
                o.password_clients,
                cores()
            ),
            &self.engine_password,
        );
        row(
            &format!("raw argon2id verify, same params ({} at a time)", cores()),
            &self.raw_argon2,
        );
        let verdict = |r: f64| if r >= 0.9 { "met" } else { "NOT met" };
        println!(
            "  {:<60} {:>9.3}  [{:.3}–{:.3}]  target >= 0.90: {}",
            "ratio engine/raw, throughput (median of paired rounds)",
            self.ratio.median,
            self.ratio.min,
            self.ratio.max,
            verdict(self.ratio.median)
        );
        println!(
            "  {:<60} {:>9.3}  [{:.3}–{:.3}]  target >= 0.90: {}",
            "ratio engine/raw, CPU per operation (median of paired rounds)",
            self.cpu_ratio.median,
            self.cpu_ratio.min,
            self.cpu_ratio.max,
            verdict(self.cpu_ratio.median)
        );
        row(
            &format!(
                "email code check, set session ({} in flight, {}/round)",
                o.clients, self.code_batch
            ),
            &self.code,
        );
        println!(
            "  memory of {} concurrent password checks, each in a fresh process:",
            o.burst
        );
        self.memory.print("default malloc");
        self.memory_fixed_threshold
            .print("MALLOC_MMAP_THRESHOLD_=131072");
        println!();
    }
}
