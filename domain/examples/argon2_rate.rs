//! The raw argon2id rate the HTTP benchmark (`scripts/bench.sh`) puts beside the engine's
//! password logins: `threads` threads verify a password for `seconds` seconds, each in one
//! reused working buffer, exactly as the engine's hasher does (one buffer per permit).
//!
//! `cargo run --release -p domain --example argon2_rate -- [threads] [seconds]`
//! prints one line: `argon2id m=.. t=.. p=.. threads=N verifications_per_s=X`.

use std::time::{Duration, Instant};

use domain::crypto::{self, Argon2Memory, Argon2Params, SystemRng};

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let params = Argon2Params::default();
    let phc = match crypto::argon2_hash(&params, b"bench password 1", &SystemRng) {
        Ok(phc) => phc,
        Err(err) => {
            eprintln!("argon2_rate: cannot hash: {err}");
            std::process::exit(1);
        }
    };
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let phc = phc.as_str();
                scope.spawn(move || {
                    let mut memory = Argon2Memory::default();
                    let mut done = 0u64;
                    while Instant::now() < until {
                        let ok = crypto::argon2_verify_in(
                            &params,
                            b"bench password 1",
                            phc,
                            &mut memory,
                        );
                        if matches!(ok, Ok(m) if m.matches) {
                            done += 1;
                        }
                    }
                    done
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).collect()
    });
    let total: u64 = counts.iter().sum();
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!(
        "argon2id m={} t={} p={} threads={threads} verifications_per_s={rate:.1}",
        params.m_cost, params.t_cost, params.p_cost
    );
}
