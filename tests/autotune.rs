//! The autotuner end to end, through the item `#[bitkernel]` generates: every configuration
//! computes what the interpreter and plain Rust compute, the fastest configuration wins, keys
//! are bucketed, invalid configurations are pruned with reasons, timing leaves the caller's
//! buffers untouched, and results are stored on disk, exported and imported.
//!
//! The stats counters are process-wide, so every test that tunes holds [`serial`].

use bitmat::disk::DiskCache;
use bitmat::prelude::*;
use bitmat::tune::{BenchOptions, Timing};
use bitmat::{Config, RuntimeError, TuneSource};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Mutex, MutexGuard};

/// Tests that tune run one at a time, so that counter deltas are their own.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `out = x * k + y` (wrapping `i32`). With `slow`, the product is computed as `k` additions
/// of `x`, each loading `x` again: the same result for `k` times the work.
#[bitkernel]
fn axpy(
    x: Ptr<i32>,
    y: Ptr<i32>,
    out: Ptr<i32>,
    n: i32,
    k: i32,
    #[constexpr] block: i32,
    #[constexpr] slow: bool,
) {
    static_assert(block <= 256, "axpy: block must be at most 256");
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let mut acc = load(y + offs, mask, 0);
    if slow {
        for _i in range(0, k, 1) {
            acc = acc + load(x + offs, mask, 0);
        }
    } else {
        acc = acc + load(x + offs, mask, 0) * k;
    }
    store(out + offs, acc, mask);
}

fn axpy_reference(x: &[i32], y: &[i32], k: i32) -> Vec<i32> {
    x.iter()
        .zip(y)
        .map(|(&a, &b)| a.wrapping_mul(k).wrapping_add(b))
        .collect()
}

fn axpy_grid(n: usize) -> impl Fn(&axpy::Constexprs) -> u32 {
    move |c| n.div_ceil(c.block as usize) as u32
}

/// Fast configurations, one deliberately slow one, and variants of launch options.
fn axpy_configs() -> Vec<Config<axpy::Constexprs>> {
    vec![
        axpy::config(64, true),
        axpy::config(16, false),
        axpy::config(64, false),
        axpy::config(256, false),
        axpy::config(256, false).num_warps(8),
        axpy::config(128, false).cpu_threads(1),
    ]
}

/// A tuner that keeps its results in `dir` and times quickly.
fn axpy_tuner(configs: Vec<Config<axpy::Constexprs>>, dir: &std::path::Path) -> axpy::Autotuned {
    let cache = DiskCache::at(dir);
    axpy::autotune(configs).configure(|t| {
        t.with_disk_cache(cache).bench(BenchOptions {
            budget_ms: 20.0,
            ..BenchOptions::default()
        })
    })
}

fn random(len: usize, seed: u64) -> Vec<i32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.gen_range(-1000..1000)).collect()
}

/// Runs `axpy` with one configuration on `dev`.
fn run_config(
    dev: &Device,
    config: &Config<axpy::Constexprs>,
    x: &[i32],
    y: &[i32],
    k: i32,
) -> Result<Vec<i32>, Error> {
    let n = x.len();
    let (xb, yb, out) = (dev.upload(x)?, dev.upload(y)?, dev.zeros::<i32>(n)?);
    let c = &config.constexprs;
    axpy::with(config.options).launch(
        dev,
        axpy_grid(n)(c),
        &xb,
        &yb,
        &out,
        n as i32,
        k,
        c.block,
        c.slow,
    )?;
    Ok(out.to_vec()?)
}

#[test]
fn every_config_matches_the_interpreter_and_rust() -> Result<(), Error> {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (cpu, interp) = (Device::cpu(), Device::interpreter());
    for (n, k) in [(1, 3), (37, 0), (1000, 5), (4097, 7)] {
        let (x, y) = (random(n, 1), random(n, 2));
        let want = axpy_reference(&x, &y, k);
        for config in axpy_configs() {
            assert_eq!(run_config(&cpu, &config, &x, &y, k)?, want, "cpu {config}");
            if n <= 1000 {
                assert_eq!(
                    run_config(&interp, &config, &x, &y, k)?,
                    want,
                    "interp {config}"
                );
            }
        }
        // And the tuned launch, on both devices.
        let tuner = axpy_tuner(axpy_configs(), dir.path());
        for dev in [&cpu, &interp] {
            let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(n)?);
            tuner.launch(dev, axpy_grid(n), &xb, &yb, &out, n as i32, k)?;
            assert_eq!(out.to_vec()?, want, "tuned on {dev}, n={n}");
        }
    }
    Ok(())
}

#[test]
fn tuner_picks_the_fastest_over_a_slow_default() -> Result<(), Error> {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::cpu();
    let n = 1 << 16;
    let k = 64;
    let (x, y) = (random(n, 3), random(n, 4));
    let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(n)?);
    let tuner = axpy_tuner(axpy_configs(), dir.path());
    let before = bitmat::stats();
    let (winner, outcome) = tuner.best(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, k)?;
    assert_eq!(bitmat::stats().tunings, before.tunings + 1);
    assert_eq!(outcome.source, TuneSource::Tuned);
    println!("{outcome}");
    assert!(!winner.constexprs.slow, "the slow config won:\n{outcome}");
    let slow_ms = outcome.table[0].1.median_ms().expect("slow config timed");
    let winner_ms = outcome.winner_ms().expect("winner timed");
    assert!(slow_ms > 2.0 * winner_ms, "{outcome}");
    assert!(outcome.speedup().unwrap() > 2.0, "{outcome}");
    // On the CPU, a config that differs from an earlier one only in num_warps is not timed
    // again.
    assert_eq!(outcome.table[4].1, Timing::SameProgram { of: 3 });
    // `best` does not launch: the output is still zero.
    assert_eq!(out.to_vec()?, vec![0; n]);
    // The launch after tuning computes the right values.
    tuner.launch(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, k)?;
    assert_eq!(out.to_vec()?, axpy_reference(&x, &y, k));
    Ok(())
}

#[test]
fn keys_are_bucketed_to_powers_of_two() -> Result<(), Error> {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::cpu();
    let tuner = axpy_tuner(axpy_configs()[1..4].to_vec(), dir.path()).key(&["n"]);
    let tune = |n: usize| -> Result<bitmat::TuneOutcome, Error> {
        let (x, y) = (random(n, 5), random(n, 6));
        let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(n)?);
        let (_, outcome) = tuner.best(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 3)?;
        tuner.launch(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 3)?;
        assert_eq!(out.to_vec()?, axpy_reference(&x, &y, 3));
        Ok(outcome)
    };
    let t0 = bitmat::stats().tunings;
    let first = tune(1000)?;
    assert_eq!(first.key.to_string(), "n=1024");
    assert_eq!(first.key.get("n"), Some(1000));
    assert_eq!(first.source, TuneSource::Tuned);
    // 1000 and 1023 share the bucket 1024: served from memory.
    let second = tune(1023)?;
    assert_eq!(second.source, TuneSource::Memory);
    assert_eq!(second.winner, first.winner);
    assert_eq!(bitmat::stats().tunings, t0 + 1);
    // 1025 is in the bucket 2048: tuned again.
    let third = tune(1025)?;
    assert_eq!(third.key.to_string(), "n=2048");
    assert_eq!(third.source, TuneSource::Tuned);
    assert_eq!(bitmat::stats().tunings, t0 + 2);

    // A key parameter that is not an integer scalar is a typed error.
    let bad = axpy_tuner(axpy_configs(), dir.path()).key(&["x"]);
    let b = dev.zeros::<i32>(4)?;
    let err = bad
        .launch(&dev, axpy_grid(4), &b, &b, &b, 4, 1)
        .unwrap_err();
    assert!(
        matches!(err, Error::Runtime(RuntimeError::Autotune { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("n, k"), "{err}");
    Ok(())
}

#[test]
fn invalid_configs_are_pruned_with_reasons() -> Result<(), Error> {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::cpu();
    let n = 100;
    let (x, y) = (random(n, 7), random(n, 8));
    let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(n)?);
    let configs = vec![
        axpy::config(512, false),
        axpy::config(256, false),
        axpy::config(32, false),
        axpy::config(64, false),
    ];
    // Blocks larger than the launch's exact `n` are pruned by the predicate.
    let prune = |c: &Config<axpy::Constexprs>, key: &bitmat::TuneKey| {
        i64::from(c.constexprs.block) > key.get("n").unwrap_or(0)
    };
    let tuner = axpy_tuner(configs.clone(), dir.path()).prune(prune);
    let (winner, outcome) = tuner.best(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 2)?;
    let reason = |i: usize| match &outcome.table[i].1 {
        Timing::Pruned { reason } => reason.clone(),
        t => panic!("config {i} not pruned: {t}"),
    };
    // The predicate runs first, then specialization.
    assert!(reason(0).contains("prune predicate"), "{}", reason(0));
    assert!(reason(1).contains("prune predicate"), "{}", reason(1));
    assert!(outcome.table[2].1.median_ms().is_some());
    assert!(winner.constexprs.block <= 64);
    tuner.launch(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 2)?;
    assert_eq!(out.to_vec()?, axpy_reference(&x, &y, 2));

    // Without the predicate, block 512 fails its static_assert.
    let tuner = axpy_tuner(configs, dir.path()).key(&["n"]);
    let big = 300;
    let (x, y) = (random(big, 9), random(big, 10));
    let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(big)?);
    let (_, outcome) = tuner.best(&dev, axpy_grid(big), &xb, &yb, &out, big as i32, 2)?;
    match &outcome.table[0].1 {
        Timing::Pruned { reason } => {
            assert!(reason.contains("block must be at most 256"), "{reason}")
        }
        t => panic!("block 512 not pruned: {t}"),
    }

    // Every config pruned: a typed error listing each reason.
    let tuner = axpy_tuner(
        vec![axpy::config(512, false), axpy::config(64, false)],
        dir.path(),
    )
    .prune(|c, _| c.constexprs.block == 64);
    let err = tuner
        .launch(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 2)
        .unwrap_err();
    match &err {
        Error::Runtime(RuntimeError::AllConfigsPruned { pruned, .. }) => {
            assert_eq!(pruned.len(), 2);
            assert!(pruned[0].1.contains("at most 256"), "{err}");
            assert!(pruned[1].1.contains("prune predicate"), "{err}");
        }
        e => panic!("expected AllConfigsPruned, got {e}"),
    }
    // The same on the interpreter, where nothing is timed.
    let interp = Device::interpreter();
    let b = interp.zeros::<i32>(n)?;
    let err = tuner
        .launch(&interp, axpy_grid(n), &b, &b, &b, n as i32, 2)
        .unwrap_err();
    assert!(
        matches!(err, Error::Runtime(RuntimeError::AllConfigsPruned { .. })),
        "{err}"
    );
    Ok(())
}

/// Counts values into bins with `atomic_add`: timing runs would add up if the tuner did not
/// restore the buffers it writes.
#[bitkernel]
fn histogram(x: Ptr<i32>, bins: Ptr<i32>, n: i32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n;
    let v = load(x + offs, mask, 0);
    atomic_add(bins + v, full([block], 1), mask);
}

#[test]
fn timing_leaves_written_buffers_as_they_were() -> Result<(), Error> {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::cpu();
    let n: usize = 5000;
    let mut rng = StdRng::seed_from_u64(11);
    let x: Vec<i32> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    // Bins start non-zero: the kernel adds to what the caller put there.
    let start: Vec<i32> = (0..10).map(|i| 100 * i).collect();
    let mut want = start.clone();
    x.iter().for_each(|&v| want[v as usize] += 1);
    let grid = |c: &histogram::Constexprs| n.div_ceil(c.block as usize) as u32;

    let untuned = dev.upload(&start)?;
    histogram::launch(
        &dev,
        grid(&histogram::Constexprs { block: 64 }),
        &dev.upload(&x)?,
        &untuned,
        n as i32,
        64,
    )?;
    assert_eq!(untuned.to_vec()?, want);

    let tuner = histogram::autotune([
        histogram::config(64),
        histogram::config(256),
        histogram::config(32).cpu_threads(1),
    ])
    .configure(|t| t.with_disk_cache(DiskCache::at(dir.path())));
    let xb = dev.upload(&x)?;
    let bins = dev.upload(&start)?;
    let t0 = bitmat::stats().tunings;
    tuner.launch(&dev, grid, &xb, &bins, n as i32)?;
    assert_eq!(bitmat::stats().tunings, t0 + 1);
    assert_eq!(
        bins.to_vec()?,
        want,
        "tuned launch differs from the untuned one"
    );
    // `best` alone leaves the buffers untouched, even when it times.
    let fresh = histogram::autotune([histogram::config(64), histogram::config(128)])
        .configure(|t| t.without_disk_cache());
    let bins = dev.upload(&start)?;
    let (_, outcome) = fresh.best(&dev, grid, &xb, &bins, n as i32)?;
    assert_eq!(outcome.source, TuneSource::Tuned);
    assert_eq!(bins.to_vec()?, start);
    Ok(())
}

#[test]
fn reset_to_zero_clears_outputs_before_the_launches_that_ask_for_it() -> Result<(), Error> {
    let _serial = serial();
    let dev = Device::cpu();
    let n: usize = 3000;
    let mut rng = StdRng::seed_from_u64(12);
    let x: Vec<i32> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let mut counts = vec![0; 10];
    x.iter().for_each(|&v| counts[v as usize] += 1);
    let start: Vec<i32> = (0..10).map(|i| 7 * i + 1).collect();
    let grid = |c: &histogram::Constexprs| n.div_ceil(c.block as usize) as u32;
    let xb = dev.upload(&x)?;
    // Zeroing asked for every configuration: the bins hold the counts alone, whatever they held
    // and however often the timing runs launched.
    let zeroing = histogram::autotune([histogram::config(64), histogram::config(256)])
        .configure(|t| t.without_disk_cache())
        .reset_to_zero(&["bins"], |_| true);
    let bins = dev.upload(&start)?;
    zeroing.launch(&dev, grid, &xb, &bins, n as i32)?;
    assert_eq!(bins.to_vec()?, counts);
    zeroing.launch(&dev, grid, &xb, &bins, n as i32)?;
    assert_eq!(bins.to_vec()?, counts, "a served launch zeroes too");
    // Asked for no configuration: the caller's values stay under the counts.
    let keeping = histogram::autotune([histogram::config(64), histogram::config(128)])
        .configure(|t| t.without_disk_cache())
        .reset_to_zero(&["bins"], |c| c.constexprs.block > 256);
    let bins = dev.upload(&start)?;
    keeping.launch(&dev, grid, &xb, &bins, n as i32)?;
    let want: Vec<i32> = start.iter().zip(&counts).map(|(s, c)| s + c).collect();
    assert_eq!(bins.to_vec()?, want);
    // A name that is no parameter is the tuner author's error, reported at launch.
    let wrong = histogram::autotune([histogram::config(64)])
        .configure(|t| t.without_disk_cache())
        .reset_to_zero(&["out"], |_| true);
    let err = wrong
        .launch(&dev, grid, &xb, &bins, n as i32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`out`") && err.contains("x, bins, n"), "{err}");
    Ok(())
}

#[test]
fn results_are_stored_on_disk_exported_and_imported() -> Result<(), Error> {
    let _serial = serial();
    let dev = Device::cpu();
    let n = 3000;
    let (x, y) = (random(n, 12), random(n, 13));
    let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(n)?);
    let configs = || axpy_configs()[1..4].to_vec();
    let best =
        |tuner: &axpy::Autotuned| tuner.best(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 2);

    let dir = tempfile::tempdir().unwrap();
    let s0 = bitmat::stats();
    let (tuned, first) = best(&axpy_tuner(configs(), dir.path()))?;
    assert_eq!(first.source, TuneSource::Tuned);
    let s1 = bitmat::stats();
    assert_eq!(
        (s1.tunings, s1.tuning_loads),
        (s0.tunings + 1, s0.tuning_loads)
    );

    // A second tuner (as in a second process) over the same cache: no timing.
    let (loaded, second) = best(&axpy_tuner(configs(), dir.path()))?;
    assert_eq!(second.source, TuneSource::Disk);
    assert_eq!(loaded, tuned);
    assert_eq!(second.table, first.table);
    let s2 = bitmat::stats();
    assert_eq!(
        (s2.tunings, s2.tuning_loads),
        (s1.tunings, s1.tuning_loads + 1)
    );

    // Another config list is another entry: tuned again.
    let (_, other) = best(&axpy_tuner(axpy_configs()[1..3].to_vec(), dir.path()))?;
    assert_eq!(other.source, TuneSource::Tuned);

    // Export, then import into an empty cache: served from it without timing.
    let file = dir.path().join("tuning.json");
    assert_eq!(bitmat::tune::export(&DiskCache::at(dir.path()), &file)?, 2);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("\"kernel\": \"axpy\"") && text.contains(dev.fingerprint()),
        "{text}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        bitmat::tune::import_into(&DiskCache::at(empty.path()), &file)?,
        2
    );
    let s3 = bitmat::stats();
    let (imported, third) = best(&axpy_tuner(configs(), empty.path()))?;
    assert_eq!(third.source, TuneSource::Imported);
    assert_eq!(imported, tuned);
    let s4 = bitmat::stats();
    assert_eq!(
        (s4.tunings, s4.tuning_loads),
        (s3.tunings, s3.tuning_loads + 1)
    );

    // A corrupted entry is ignored (with a warning) and the key tuned again.
    for entry in std::fs::read_dir(dir.path().join("tune")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&path, bytes).unwrap();
    }
    let (_, retuned) = best(&axpy_tuner(configs(), dir.path()))?;
    assert_eq!(retuned.source, TuneSource::Tuned);
    assert_eq!(bitmat::stats().tunings, s4.tunings + 1);

    // A file that is not a tuning file is a typed error.
    std::fs::write(&file, "{}").unwrap();
    let err = bitmat::tune::import(&file).unwrap_err();
    assert!(matches!(err, RuntimeError::TuningFile { .. }), "{err}");
    Ok(())
}

/// A kernel only the process-wide import test tunes (imports serve every tuner of a kernel).
#[bitkernel]
fn fill(out: Ptr<i32>, n: i32, value: i32, #[constexpr] block: i32) {
    let offs = program_id(0) * block + arange(block);
    store(out + offs, full([block], value), offs < n);
}

#[test]
fn imported_files_serve_every_tuner_of_the_process() -> Result<(), Error> {
    let _serial = serial();
    let dev = Device::cpu();
    let n = 700;
    let out = dev.zeros::<i32>(n)?;
    let grid = |c: &fill::Constexprs| n.div_ceil(c.block as usize) as u32;
    let configs = || [fill::config(32), fill::config(128), fill::config(256)];
    let dir = tempfile::tempdir().unwrap();
    let (tuned, _) = fill::autotune(configs())
        .configure(|t| t.with_disk_cache(DiskCache::at(dir.path())))
        .best(&dev, grid, &out, n as i32, 9)?;
    let file = dir.path().join("shipped.json");
    bitmat::tune::export(&DiskCache::at(dir.path()), &file)?;
    assert_eq!(bitmat::tune::import(&file)?, 1);
    let t0 = bitmat::stats().tunings;
    let tuner = fill::autotune(configs()).configure(|t| t.without_disk_cache());
    let (served, outcome) = tuner.best(&dev, grid, &out, n as i32, 9)?;
    assert_eq!(outcome.source, TuneSource::Imported);
    assert_eq!(served, tuned);
    assert_eq!(bitmat::stats().tunings, t0);
    tuner.launch(&dev, grid, &out, n as i32, 9)?;
    assert_eq!(out.to_vec()?, vec![9; n]);
    Ok(())
}

#[test]
fn concurrent_launches_tune_a_key_once() -> Result<(), Error> {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let dev = Device::cpu();
    let n = 2000;
    let (x, y) = (random(n, 14), random(n, 15));
    let tuner = axpy_tuner(axpy_configs()[1..4].to_vec(), dir.path());
    let t0 = bitmat::stats().tunings;
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| -> Result<(), Error> {
                let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(n)?);
                tuner.launch(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 4)?;
                assert_eq!(out.to_vec()?, axpy_reference(&x, &y, 4));
                Ok(())
            });
        }
    });
    assert_eq!(bitmat::stats().tunings, t0 + 1);
    Ok(())
}

#[test]
fn the_interpreter_never_times() -> Result<(), Error> {
    let _serial = serial();
    let dev = Device::interpreter();
    let n = 50;
    let (x, y) = (random(n, 16), random(n, 17));
    let (xb, yb, out) = (dev.upload(&x)?, dev.upload(&y)?, dev.zeros::<i32>(n)?);
    // The first config fails its static_assert: the first runnable one is used.
    let tuner = axpy::autotune([
        axpy::config(512, false),
        axpy::config(16, false),
        axpy::config(64, false),
    ])
    .configure(|t| t.without_disk_cache());
    let t0 = bitmat::stats().tunings;
    let (config, outcome) = tuner.best(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 3)?;
    assert_eq!(config, axpy::config(16, false));
    assert_eq!(
        outcome.source,
        TuneSource::Default(bitmat::tune::DefaultReason::Interpreter)
    );
    assert_eq!(outcome.table[2].1, Timing::NotRun);
    tuner.launch(&dev, axpy_grid(n), &xb, &yb, &out, n as i32, 3)?;
    assert_eq!(out.to_vec()?, axpy_reference(&x, &y, 3));
    assert_eq!(bitmat::stats().tunings, t0);
    Ok(())
}

#[test]
fn cpu_threads_runs_on_a_pool_of_that_size() -> Result<(), Error> {
    let dev = Device::cpu();
    let n = 4097;
    let (x, y) = (random(n, 18), random(n, 19));
    for threads in [1, 2, 3] {
        let config = axpy::config(64, false).cpu_threads(threads);
        assert_eq!(
            run_config(&dev, &config, &x, &y, 6)?,
            axpy_reference(&x, &y, 6)
        );
    }
    let err = run_config(&dev, &axpy::config(64, false).cpu_threads(0), &x, &y, 6).unwrap_err();
    assert!(err.to_string().contains("cpu_threads"), "{err}");
    Ok(())
}

#[test]
fn devices_have_fingerprints() {
    assert_eq!(Device::interpreter().fingerprint(), "interpreter");
    let cpu = Device::cpu();
    let f = cpu.fingerprint();
    assert!(f.starts_with("cpu: ") && f.ends_with("threads"), "{f}");
    #[cfg(target_arch = "x86_64")]
    assert!(f.contains("sse4.1"), "{f}");
}

/// The example of the README's "Autotuning" section.
mod readme {
    use bitmat::prelude::*;
    use std::sync::LazyLock;

    #[bitkernel]
    fn scale(x: Ptr<f32>, y: Ptr<f32>, n: i32, s: f32, #[constexpr] block: i32) {
        static_assert(block <= 1024, "scale: block must be at most 1024");
        let offs = program_id(0) * block + arange(block);
        let mask = offs < n;
        store(y + offs, load(x + offs, mask, 0.0) * s, mask);
    }

    static SCALE: LazyLock<scale::Autotuned> = LazyLock::new(|| {
        scale::autotune([
            scale::config(256),
            scale::config(1024).num_warps(8),
            scale::config(64).cpu_threads(1),
        ])
        .key(&["n"])
        .prune(|config, key| i64::from(config.constexprs.block) > 4 * key.get("n").unwrap_or(0))
        .configure(|t| t.without_disk_cache())
    });

    #[test]
    fn readme_example() -> Result<(), bitmat::Error> {
        let _serial = super::serial();
        let device = Device::cpu();
        let n = 10_000;
        let (x, y) = (device.upload(&vec![1.0f32; n])?, device.zeros::<f32>(n)?);
        let grid = |c: &scale::Constexprs| n.div_ceil(c.block as usize) as u32;
        SCALE.launch(&device, grid, &x, &y, n as i32, 3.0)?;
        assert_eq!(y.to_vec()?, vec![3.0; n]);
        let (best, outcome) = SCALE.best(&device, grid, &x, &y, n as i32, 3.0)?;
        assert_eq!(outcome.key.to_string(), "n=16384");
        assert_eq!(outcome.source, bitmat::TuneSource::Memory);
        assert!(outcome.to_string().contains(&best.to_string()), "{outcome}");
        // A small shape: the predicate prunes the big blocks for it.
        let (best, outcome) = SCALE.best(&device, grid, &x, &y, 20, 3.0)?;
        assert_eq!(best.constexprs.block, 64, "{outcome}");
        Ok(())
    }

    #[test]
    fn autotuners_can_live_in_statics() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<scale::Autotuned>();
        send_sync::<bitmat::Autotuner<scale::Constexprs>>();
    }
}
