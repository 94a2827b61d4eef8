//! The autotuner: for each device and key, the fastest of a kernel's configurations, found by
//! timing them on the launch's own arguments, then served from memory, disk or an imported
//! file.
//!
//! For a launch, [`Autotuner::best`]:
//! 1. computes the [`TuneKey`] of the arguments (bucketed integer scalars);
//! 2. serves a winner already known for the device's fingerprint and the key: from this
//!    tuner's memory, the imported results, or the disk cache;
//! 3. otherwise, on the interpreter or with `BITMAT_AUTOTUNE=0`, uses the first configuration
//!    that is not pruned, without timing (and stores nothing on disk);
//! 4. otherwise tunes: prunes the configurations that cannot run (the prune predicate, failed
//!    specialization or compile, GPU threads, registers and shared memory, invalid grids,
//!    failed launches) and, on the CPU, times configurations that differ only in GPU options
//!    once; times the others ([`bench`](fn@crate::timing::bench)), a configuration whose first
//!    timed run is over twice the best median so far with that one sample only (it cannot
//!    win, and slow configurations are most of a tuning's time); keeps the fastest in memory
//!    and on disk.
//!
//! Timing runs use the caller's buffers. The buffers the kernel writes (found in its IR by
//! [`bitmat_ir::passes::written_params`]) are saved first and restored after each
//! configuration and at the end, so the launch that follows sees exactly the caller's data: a
//! tuned launch computes the same as an untuned one.
//!
//! Only one thread tunes a given device and key at a time; others asking for it wait for the
//! result.

use crate::device::Device;
use crate::disk::DiskCache;
use crate::error::Error;
use crate::launch::{self, Grid, KernelArg, LaunchOptions};
use crate::stats::{bump, COUNTERS};
use crate::timing::{self, BenchOptions};
use crate::tune::outcome::{DefaultReason, Timing, TuneOutcome, TuneSource};
use crate::tune::snapshot::{zero_buffers, Snapshot};
use crate::tune::store::{self, RecordConfig, RecordTiming, TuningRecord};
use crate::tune::{Config, Specialization, TuneKey};
use bitmat_ir::passes::specialize::ArgFact;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A configuration whose first timed run takes over this many times the best median timed so
/// far for the key keeps that single sample (after its warm-up).
const SLOW_FACTOR: f64 = 2.0;

/// A prune predicate: `true` prunes the configuration for the key.
type PruneFn<C> = dyn Fn(&Config<C>, &TuneKey) -> bool + Send + Sync;

/// Which configurations zero buffers before their launches.
type ResetWhen<C> = dyn Fn(&Config<C>) -> bool + Send + Sync;

/// Buffers zeroed before each launch of some configurations ([`Autotuner::reset_to_zero`]).
struct Reset<C> {
    /// The buffer parameters, by name.
    params: Vec<String>,
    /// Which configurations need it.
    when: Box<ResetWhen<C>>,
}

/// Which disk cache a tuner uses.
#[derive(Clone, Debug)]
enum Disk {
    /// [`DiskCache::global`].
    Global,
    /// A given directory.
    At(DiskCache),
    /// None.
    Off,
}

/// The choice for one device and key.
#[derive(Debug)]
struct Chosen {
    winner: usize,
    source: TuneSource,
    table: Vec<Timing>,
}

/// One slot per (device fingerprint, key); its lock is held while the key is tuned.
type Slot = Arc<Mutex<Option<Arc<Chosen>>>>;

/// Autotunes one kernel over a list of configurations; see the [module docs](self).
///
/// Kernel authors reach it through the item `#[bitkernel]` generates
/// (`name::autotune([...])`); the prebuilt ops and `bitmat tune` use it directly. The first
/// configuration is the default: it is used where nothing is timed, and the speed-up of the
/// winner is reported against it.
pub struct Autotuner<C: Specialization> {
    configs: Vec<Config<C>>,
    key_params: Option<Vec<String>>,
    prune: Option<Box<PruneFn<C>>>,
    reset: Option<Reset<C>>,
    disk: Disk,
    bench: BenchOptions,
    configs_hash: String,
    /// Choices per device fingerprint, key and checkedness (checked code is timed apart).
    slots: Mutex<HashMap<(String, TuneKey, bool), Slot>>,
}

impl<C: Specialization> std::fmt::Debug for Autotuner<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Autotuner")
            .field("kernel", &C::KERNEL)
            .field("configs", &self.configs.len())
            .field("key_params", &self.key_params)
            .finish_non_exhaustive()
    }
}

/// Whether `BITMAT_AUTOTUNE` allows timing (anything but `0`); read once.
fn timing_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("BITMAT_AUTOTUNE").map_or(true, |v| v.trim() != "0"))
}

impl<C: Specialization> Autotuner<C> {
    /// A tuner over `configs`; the first is the default. With no configurations every launch
    /// fails with [`Error::Autotune`].
    pub fn new(configs: impl IntoIterator<Item = Config<C>>) -> Self {
        let configs: Vec<Config<C>> = configs.into_iter().collect();
        let text: Vec<String> = configs.iter().map(|c| c.to_string()).collect();
        let configs_hash = blake3::hash(text.join("\n").as_bytes()).to_hex()[..16].to_string();
        Autotuner {
            configs,
            key_params: None,
            prune: None,
            reset: None,
            disk: Disk::Global,
            bench: BenchOptions::default(),
            configs_hash,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Restricts the key to the integer scalar parameters `names` (by default every integer
    /// scalar parameter is in the key). A name that is not one fails the launch with
    /// [`Error::Autotune`].
    pub fn key_params(mut self, names: &[&str]) -> Self {
        self.key_params = Some(names.iter().map(|n| n.to_string()).collect());
        self
    }

    /// Prunes configurations for a launch: `f(config, key)` returns `true` for a
    /// configuration that must not run (e.g. a block larger than a dimension allows).
    /// [`TuneKey::get`] gives the launch's exact values. A stored winner is checked again
    /// for every launch, as other shapes of its bucket may prune it.
    pub fn prune(
        mut self,
        f: impl Fn(&Config<C>, &TuneKey) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.prune = Some(Box::new(f));
        self
    }

    /// Zeroes the buffer parameters `params` before every launch of a configuration for which
    /// `when` holds, in the timing runs (inside the timed region: the zeroing is part of what
    /// such a configuration costs) and in the launch after them: for kernels that accumulate
    /// their output with atomics, such as split-K matmuls (Triton's `reset_to_zero`). A name
    /// that is not a buffer parameter fails the launch with [`Error::Autotune`].
    pub fn reset_to_zero(
        mut self,
        params: &[&str],
        when: impl Fn(&Config<C>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.reset = Some(Reset {
            params: params.iter().map(|p| p.to_string()).collect(),
            when: Box::new(when),
        });
        self
    }

    /// The positions of the parameters that `config` zeroes before a launch
    /// ([`Self::reset_to_zero`]).
    fn zeroed_params(&self, config: &Config<C>) -> Result<Vec<usize>, Error> {
        let Some(reset) = self.reset.as_ref().filter(|r| (r.when)(config)) else {
            return Ok(Vec::new());
        };
        reset
            .params
            .iter()
            .map(|name| {
                C::RUNTIME_PARAMS
                    .iter()
                    .position(|p| p == name)
                    .ok_or_else(|| {
                        self.error(format!(
                            "reset_to_zero names `{name}`, which is not a parameter (they are: {})",
                            C::RUNTIME_PARAMS.join(", ")
                        ))
                    })
            })
            .collect()
    }

    /// Uses `cache` for tuning results instead of the process's disk cache
    /// ([`DiskCache::global`]).
    pub fn with_disk_cache(mut self, cache: DiskCache) -> Self {
        self.disk = Disk::At(cache);
        self
    }

    /// Keeps tuning results in memory only.
    pub fn without_disk_cache(mut self) -> Self {
        self.disk = Disk::Off;
        self
    }

    /// Sets how each configuration is timed.
    pub fn bench(mut self, options: BenchOptions) -> Self {
        self.bench = options;
        self
    }

    /// The configurations, in order (the first is the default).
    pub fn configs(&self) -> &[Config<C>] {
        &self.configs
    }

    /// The configuration to launch `args` with on `device`, and how it was chosen; tunes the
    /// key when no result is known. `grid` gives each configuration's grid.
    ///
    /// Errors: [`Error::Autotune`] for a key parameter that is not an integer scalar or an
    /// empty config list; [`Error::AllConfigsPruned`] when no configuration can run (with
    /// each one's reason); argument errors as a launch reports them.
    pub fn best(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
    ) -> Result<(Config<C>, TuneOutcome), Error> {
        self.best_with(device, grid, args, true)
    }

    /// [`Autotuner::best`] for [`Autotuner::launch_unchecked`]: the choice among unchecked
    /// timings (checked ones where `BITMAT_CHECKED=1`), which is what that launch runs.
    ///
    /// # Safety
    ///
    /// As [`Autotuner::launch_unchecked`]: tuning runs every configuration.
    pub unsafe fn best_unchecked(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
    ) -> Result<(Config<C>, TuneOutcome), Error> {
        self.best_with(device, grid, args, crate::checked::forced())
    }

    fn best_with(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
        checked: bool,
    ) -> Result<(Config<C>, TuneOutcome), Error> {
        let (key, chosen, index, source) = self.choose(device, grid, args, checked)?;
        let outcome = TuneOutcome {
            kernel: C::KERNEL,
            device: device.fingerprint().to_string(),
            key,
            source,
            winner: index,
            table: self
                .configs
                .iter()
                .map(|c| c.to_string())
                .zip(chosen.table.iter().cloned())
                .collect(),
        };
        Ok((self.configs[index].clone(), outcome))
    }

    /// Launches the kernel with the best configuration for `args` on `device` (tuning first
    /// when needed); `grid` gives each configuration's grid.
    /// Every access is bounds-checked, in the timing runs too ([`crate::LaunchOptions::checked`]).
    pub fn launch(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
    ) -> Result<(), Error> {
        let (_, _, index, _) = self.choose(device, grid, args, true)?;
        let config = &self.configs[index];
        zero_buffers(device, args, &self.zeroed_params(config)?)?;
        let c = &config.constexprs;
        launch::launch_kernel(device, &c.id(), || c.ir(), grid(c), &config.options, args)
    }

    /// [`Autotuner::launch`] without bounds checks (in the timing runs too), unless a
    /// configuration's options or `BITMAT_CHECKED=1` ask for them.
    ///
    /// # Safety
    ///
    /// With every configuration of the tuner, every load, store and atomic the kernel performs
    /// for these arguments and the configuration's grid must be inside its buffer.
    pub unsafe fn launch_unchecked(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
    ) -> Result<(), Error> {
        let checked = crate::checked::forced();
        let (_, _, index, _) = self.choose(device, grid, args, checked)?;
        let config = &self.configs[index];
        zero_buffers(device, args, &self.zeroed_params(config)?)?;
        let c = &config.constexprs;
        let options = options_of(config, checked);
        // SAFETY: the caller guarantees every access in bounds.
        unsafe {
            launch::launch_kernel_unchecked(device, &c.id(), || c.ir(), grid(c), &options, args)
        }
    }

    fn error(&self, message: String) -> Error {
        Error::Autotune {
            kernel: C::KERNEL.into(),
            message,
        }
    }

    /// The key, the choice for it, the index to launch and where it came from.
    fn choose(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
        checked: bool,
    ) -> Result<(TuneKey, Arc<Chosen>, usize, TuneSource), Error> {
        if self.configs.is_empty() {
            return Err(self.error("the tuner has no configurations".into()));
        }
        let key = TuneKey::new(C::RUNTIME_PARAMS, args, self.key_params.as_deref())
            .map_err(|m| self.error(m))?;
        let fingerprint = device.fingerprint();
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                slots
                    .entry((fingerprint.to_string(), key.clone(), checked))
                    .or_default(),
            )
        };
        // Held while resolving: a second thread asking for the same key waits here.
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        let (chosen, source) = match &*slot {
            Some(c) => {
                tracing::trace!(kernel = C::KERNEL, key = %key, "tuning result from memory");
                (Arc::clone(c), TuneSource::Memory)
            }
            None => {
                let chosen = Arc::new(self.resolve(device, grid, args, &key, checked)?);
                let source = chosen.source.clone();
                *slot = Some(Arc::clone(&chosen));
                (chosen, source)
            }
        };
        drop(slot);
        match self.serve(&chosen, &key) {
            Some(i) => Ok((key, chosen, i, source)),
            None => {
                // Every timed configuration is pruned for this exact shape.
                let mut c = self.first_runnable(device, grid, &key, checked)?;
                c.source = TuneSource::Default(DefaultReason::PrunedForShape);
                let i = c.winner;
                Ok((
                    key,
                    Arc::new(c),
                    i,
                    TuneSource::Default(DefaultReason::PrunedForShape),
                ))
            }
        }
    }

    /// The configuration to run for `key` given a stored choice: the winner, or with a prune
    /// predicate the fastest timed configuration it does not prune for the exact arguments.
    fn serve(&self, chosen: &Chosen, key: &TuneKey) -> Option<usize> {
        let Some(prune) = &self.prune else {
            return Some(chosen.winner);
        };
        let mut timed: Vec<(usize, f64)> = chosen
            .table
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, t.median_ms()?)))
            .collect();
        timed.sort_by(|a, b| a.1.total_cmp(&b.1));
        std::iter::once(chosen.winner)
            .chain(timed.into_iter().map(|(i, _)| i))
            .find(|&i| !prune(&self.configs[i], key))
    }

    /// A choice for a key seen for the first time: stored, default or tuned now.
    fn resolve(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
        key: &TuneKey,
        checked: bool,
    ) -> Result<Chosen, Error> {
        let cache_key = store::cache_key(
            C::KERNEL,
            &source_id::<C>(checked),
            device.fingerprint(),
            &key.id(),
            &self.configs_hash,
        );
        if let Some(c) = self.stored(&cache_key, key) {
            return Ok(c);
        }
        let reason = if !device.backend_impl().times_configs() {
            Some(DefaultReason::Interpreter)
        } else if !timing_enabled() {
            Some(DefaultReason::Disabled)
        } else if self.configs.len() == 1 {
            Some(DefaultReason::SingleConfig)
        } else {
            None
        };
        if let Some(reason) = reason {
            let mut c = self.first_runnable(device, grid, key, checked)?;
            c.source = TuneSource::Default(reason);
            tracing::debug!(
                kernel = C::KERNEL,
                key = %key,
                config = %self.configs[c.winner],
                "autotuning skipped ({})",
                c.source
            );
            return Ok(c);
        }
        let chosen = self.tune(device, grid, args, key, checked)?;
        if let Some(cache) = self.disk_cache() {
            store::write(cache, &self.record(device, key, &chosen, checked));
        }
        Ok(chosen)
    }

    fn disk_cache(&self) -> Option<&DiskCache> {
        match &self.disk {
            Disk::Global => DiskCache::global(),
            Disk::At(c) => Some(c),
            Disk::Off => None,
        }
    }

    /// A stored result for `cache_key`: imported, else on disk.
    fn stored(&self, cache_key: &str, key: &TuneKey) -> Option<Chosen> {
        let (record, from_disk) = match store::lookup_imported(cache_key) {
            Some(r) => (r, false),
            None => (store::read(self.disk_cache()?, cache_key)?, true),
        };
        let Some(chosen) = self.chosen_of(&record) else {
            tracing::warn!(
                kernel = C::KERNEL,
                key = %key,
                "stored tuning result does not match the config list; tuning again"
            );
            return None;
        };
        bump(&COUNTERS.tuning_loads);
        tracing::debug!(
            kernel = C::KERNEL,
            key = %key,
            config = %self.configs[chosen.winner],
            source = %chosen.source,
            from_disk,
            "tuning result loaded"
        );
        Some(chosen)
    }

    /// The choice a record describes, when its winner and table match the config list.
    fn chosen_of(&self, record: &TuningRecord) -> Option<Chosen> {
        let winner = self
            .configs
            .iter()
            .position(|c| record_config(c) == record.winner)?;
        if record.timings.len() != self.configs.len() {
            return None;
        }
        Some(Chosen {
            winner,
            source: if record.imported {
                TuneSource::Imported
            } else {
                TuneSource::Disk
            },
            table: record.timings.iter().map(|t| t.timing.clone()).collect(),
        })
    }

    /// The record of `chosen` for the disk cache.
    fn record(
        &self,
        device: &Device,
        key: &TuneKey,
        chosen: &Chosen,
        checked: bool,
    ) -> TuningRecord {
        TuningRecord {
            kernel: C::KERNEL.into(),
            source_hash: source_id::<C>(checked),
            device: device.fingerprint().into(),
            key: key.to_string(),
            key_id: key.id(),
            configs_hash: self.configs_hash.clone(),
            winner: record_config(&self.configs[chosen.winner]),
            timings: self
                .configs
                .iter()
                .zip(&chosen.table)
                .map(|(c, t)| RecordTiming {
                    config: c.to_string(),
                    timing: t.clone(),
                })
                .collect(),
            imported: false,
        }
    }

    /// Why `config` cannot run for `key`, checking everything but a launch; on success its
    /// compiled kernel and grid.
    fn check(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        config: &Config<C>,
        key: &TuneKey,
        facts: &[ArgFact],
        checked: bool,
    ) -> Result<(Arc<crate::backend::Compiled>, Grid), String> {
        if self.prune.as_ref().is_some_and(|p| p(config, key)) {
            return Err("rejected by the prune predicate".into());
        }
        let o = &options_of(config, checked);
        let backend = device.backend_impl();
        backend.check_options(o)?;
        let c = &config.constexprs;
        let compiled =
            launch::compiled(device, &c.id(), || c.ir(), o, facts).map_err(|e| e.to_string())?;
        compiled.code.check_limits(&compiled.ir)?;
        let g = grid(c);
        launch::check_grid(g).map_err(|e| e.to_string())?;
        Ok((compiled, g))
    }

    /// The first configuration that passes [`Autotuner::check`], without timing.
    fn first_runnable(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        key: &TuneKey,
        checked: bool,
    ) -> Result<Chosen, Error> {
        let mut table = vec![Timing::NotRun; self.configs.len()];
        for (i, config) in self.configs.iter().enumerate() {
            match self.check(device, grid, config, key, &[], checked) {
                Ok(_) => {
                    return Ok(Chosen {
                        winner: i,
                        source: TuneSource::Default(DefaultReason::SingleConfig),
                        table,
                    })
                }
                Err(reason) => {
                    tracing::debug!(kernel = C::KERNEL, config = %config, %reason, "config pruned");
                    table[i] = Timing::Pruned { reason };
                }
            }
        }
        Err(self.all_pruned(key, &table))
    }

    fn all_pruned(&self, key: &TuneKey, table: &[Timing]) -> Error {
        Error::AllConfigsPruned {
            kernel: C::KERNEL.into(),
            key: key.to_string(),
            pruned: self
                .configs
                .iter()
                .zip(table)
                .map(|(c, t)| {
                    let reason = match t {
                        Timing::Pruned { reason } => reason.clone(),
                        t => t.to_string(),
                    };
                    (c.to_string(), reason)
                })
                .collect(),
        }
    }

    /// Whether configurations `a` and `b` are the same program on `device`.
    fn same_program(device: &Device, a: &Config<C>, b: &Config<C>) -> bool {
        let (x, y) = (&a.options, &b.options);
        a.constexprs == b.constexprs && device.backend_impl().same_program(x, y)
    }

    /// Times every configuration that can run and picks the fastest.
    fn tune(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
        key: &TuneKey,
        checked: bool,
    ) -> Result<Chosen, Error> {
        bump(&COUNTERS.tunings);
        let started = std::time::Instant::now();
        tracing::info!(
            kernel = C::KERNEL,
            key = %key,
            device = %device,
            configs = self.configs.len(),
            "autotuning"
        );
        let mut out = Timings::default();
        let result = self.time_all(device, grid, args, key, &mut out, checked);
        let Timings { table, snapshot } = out;
        // Whatever happened, the caller's buffers get their contents back.
        let restored = snapshot.restore(device).and_then(|()| device.synchronize());
        result?;
        restored?;
        let winner = table
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, t.median_ms()?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
            .ok_or_else(|| self.all_pruned(key, &table))?;
        let chosen = Chosen {
            winner,
            source: TuneSource::Tuned,
            table,
        };
        let best = chosen.table[winner].median_ms().unwrap_or(f64::NAN);
        let speedup = chosen.table[0].median_ms().map(|d| d / best);
        tracing::info!(
            kernel = C::KERNEL,
            key = %key,
            config = %self.configs[winner],
            ms = best,
            speedup_over_default = speedup,
            saved_buffers = snapshot.len(),
            tuning_ms = started.elapsed().as_secs_f64() * 1e3,
            "autotuning winner"
        );
        Ok(chosen)
    }

    /// Fills `out` with each configuration's timing or prune reason.
    fn time_all(
        &self,
        device: &Device,
        grid: &dyn Fn(&C) -> Grid,
        args: &[KernelArg<'_>],
        key: &TuneKey,
        out: &mut Timings,
        checked: bool,
    ) -> Result<(), Error> {
        // Timed as launched: specialized on the arguments' facts.
        let facts = launch::arg_facts(device, args);
        for (i, config) in self.configs.iter().enumerate() {
            if let Some(of) = self.configs[..i]
                .iter()
                .position(|earlier| Self::same_program(device, earlier, config))
            {
                tracing::debug!(kernel = C::KERNEL, config = %config, of, "same program as an earlier config");
                out.table.push(Timing::SameProgram { of });
                continue;
            }
            let (compiled, g) = match self.check(device, grid, config, key, &facts, checked) {
                Ok(x) => x,
                Err(reason) => {
                    tracing::debug!(kernel = C::KERNEL, config = %config, %reason, "config pruned");
                    out.table.push(Timing::Pruned { reason });
                    continue;
                }
            };
            // Save what this configuration writes before its first run, and give every
            // configuration the caller's data to start from.
            out.snapshot.add(
                device,
                args,
                &bitmat_ir::passes::written_params(&compiled.ir),
            )?;
            out.snapshot.restore(device)?;
            let options = options_of(config, checked);
            let zeroed = self.zeroed_params(config)?;
            let mut run = || {
                zero_buffers(device, args, &zeroed)?;
                launch::launch_compiled(device, &compiled, g, &options, args)
            };
            // A configuration whose first timed run is over `SLOW_FACTOR` times the best
            // median so far keeps that one sample: it cannot win, and the slow ones are most
            // of a tuning's time.
            let best = out
                .table
                .iter()
                .filter_map(|t| match t {
                    Timing::Timed { median_ms, .. } => Some(*median_ms),
                    _ => None,
                })
                .fold(f64::INFINITY, f64::min);
            let bench = BenchOptions {
                single_above_ms: self.bench.single_above_ms.min(SLOW_FACTOR * best),
                ..self.bench
            };
            match timing::bench(device, &bench, &mut run) {
                Ok(m) => {
                    tracing::debug!(
                        kernel = C::KERNEL,
                        config = %config,
                        median_ms = m.median_ms,
                        reps = m.reps,
                        "config timed"
                    );
                    out.table.push(Timing::Timed {
                        median_ms: m.median_ms,
                        reps: m.reps,
                    });
                }
                // Wrong arguments are the caller's error, not the configuration's.
                Err(e @ (Error::Arguments { .. } | Error::WrongDevice { .. })) => return Err(e),
                Err(e) => {
                    let reason = format!("launch failed: {e}");
                    tracing::debug!(kernel = C::KERNEL, config = %config, %reason, "config pruned");
                    out.table.push(Timing::Pruned { reason });
                }
            }
        }
        Ok(())
    }
}

/// What timing the configurations produced: each one's timing or prune reason, and the
/// buffers saved before the first run (restored whatever happens).
#[derive(Default)]
struct Timings {
    table: Vec<Timing>,
    snapshot: Snapshot,
}

/// What a tuning result was measured on: the kernel's source hash, marked `+checked` for
/// bounds-checked code (timed apart: checks change which configuration is fastest).
fn source_id<C: Specialization>(checked: bool) -> String {
    let mark = if checked { "+checked" } else { "" };
    format!("{:016x}{mark}", C::SOURCE_HASH)
}

/// The options `config` launches with, bounds-checked when `checked` (or its own options ask).
fn options_of<C: Specialization>(config: &Config<C>, checked: bool) -> LaunchOptions {
    LaunchOptions {
        checked: config.options.checked || checked,
        ..config.options
    }
}

/// `config` as stored in records.
fn record_config<C: Specialization>(config: &Config<C>) -> RecordConfig {
    RecordConfig {
        constexprs: config
            .constexprs
            .values()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        num_warps: config.options.num_warps,
        num_stages: config.options.num_stages,
        cpu_threads: config.options.cpu_threads,
    }
}
