//! The on-disk kernel cache, end to end on the CPU backend: keys, loading in a fresh device
//! (as a second process would), corrupted entries, concurrent writers (threads and processes).
//!
//! Every test uses its own temporary cache directory through `Device::set_disk_cache` (no
//! environment variables). The `stats` counters are process-wide, so the tests of this binary
//! run one at a time (`serial()`).

use bitmat_ir::{BinaryOp, CmpPred, DType, Kernel, KernelBuilder, ParamKind, Scalar, UnaryOp};
use bitmat_runtime::disk::{DiskCache, EntryKind};
use bitmat_runtime::{
    launch_kernel, stats, ConstexprValue, Device, Error, KernelArg, KernelId, LaunchOptions, Stats,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Lanes per program.
const BLOCK: u32 = 64;
/// Elements of the test vectors (ragged: the last program is masked).
const N: usize = 200;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn splat(b: &mut KernelBuilder, v: bitmat_ir::ValueId) -> bitmat_ir::ValueId {
    let v = b.expand_dims(v, 0);
    b.broadcast(v, vec![BLOCK])
}

/// `out[i] = exp(x[i]) * scale + bias` for `i < n` (a helper call, so relocated code).
fn kernel(name: &str, scale: f32, bias: f32) -> Kernel {
    let mut b = KernelBuilder::new(name);
    let x = b.param("x", ParamKind::Ptr(DType::F32));
    let out = b.param("out", ParamKind::Ptr(DType::F32));
    let n = b.param("n", ParamKind::Scalar(DType::I32));
    let pid = b.program_id(0);
    let block = b.constant(Scalar::from_i64(DType::I32, i64::from(BLOCK)), vec![]);
    let base = b.binary(BinaryOp::Mul, pid, block);
    let base = splat(&mut b, base);
    let lanes = b.arange(BLOCK);
    let offs = b.binary(BinaryOp::Add, base, lanes);
    let ns = splat(&mut b, n);
    let mask = b.cmp(CmpPred::Lt, offs, ns);
    let xs = splat(&mut b, x);
    let px = b.add_ptr(xs, offs);
    let v = b.load(px, Some(mask), None);
    let e = b.unary(UnaryOp::Exp, v);
    let s = b.constant(Scalar::from_f64(DType::F32, f64::from(scale)), vec![BLOCK]);
    let e = b.binary(BinaryOp::Mul, e, s);
    let c = b.constant(Scalar::from_f64(DType::F32, f64::from(bias)), vec![BLOCK]);
    let e = b.binary(BinaryOp::Add, e, c);
    let os = splat(&mut b, out);
    let po = b.add_ptr(os, offs);
    b.store(po, e, Some(mask));
    b.finish().unwrap()
}

/// A kernel as the macro would identify it: `name`, source hash `source`, one constexpr.
struct TestKernel {
    id: KernelId,
    ir: Kernel,
}

fn test_kernel(name: &'static str, source: u64, constexpr: i128, scale: f32) -> TestKernel {
    TestKernel {
        id: KernelId {
            name,
            source_hash: source,
            constexprs: vec![ConstexprValue::Int(constexpr)],
        },
        ir: kernel(name, scale, constexpr as f32),
    }
}

/// The kernels the multi-thread and multi-process tests compile.
fn kernels() -> Vec<TestKernel> {
    vec![
        test_kernel("k_a", 1, 1, 0.5),
        test_kernel("k_a", 1, 2, 0.5),
        test_kernel("k_b", 2, 1, 3.0),
    ]
}

fn input() -> Vec<f32> {
    (0..N).map(|i| (i as f32 - 100.0) * 0.03).collect()
}

/// Runs `k` on `dev` with `options`; returns `out`.
fn run_with(dev: &Device, k: &TestKernel, options: &LaunchOptions) -> Vec<f32> {
    let x = dev.upload(&input()).unwrap();
    let out = dev.zeros::<f32>(N).unwrap();
    let args = [
        KernelArg::buffer(&x),
        KernelArg::buffer(&out),
        KernelArg::scalar(N as i32),
    ];
    let grid = (N as u32).div_ceil(BLOCK);
    launch_kernel(
        dev,
        &k.id,
        || Ok::<_, Error>(k.ir.clone()),
        grid.into(),
        options,
        &args,
    )
    .unwrap();
    out.to_vec().unwrap()
}

fn run(dev: &Device, k: &TestKernel) -> Vec<f32> {
    run_with(dev, k, &LaunchOptions::default())
}

/// The reference result, from the interpreter.
fn reference(k: &TestKernel) -> Vec<f32> {
    run(&Device::interpreter(), k)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn cpu(dir: &Path) -> Device {
    Device::cpu().with_disk_cache(Some(DiskCache::at(dir)))
}

fn delta(before: Stats) -> (u64, u64) {
    let now = stats();
    (
        now.compilations - before.compilations,
        now.disk_loads - before.disk_loads,
    )
}

/// The files in the kernel directory of the cache at `dir`, sorted.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir.join(EntryKind::Kernel.dir())) {
        Ok(d) => d.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// A tracing subscriber writing into a buffer, for the duration of `f` on this thread.
fn with_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (r, text)
}

#[test]
fn keys_cover_source_ir_constexprs_and_nothing_else_on_the_cpu() {
    let _g = serial();
    let dev = Device::cpu().with_disk_cache(None);
    let opts = LaunchOptions::default();
    let key = |k: &TestKernel, o: &LaunchOptions| dev.kernel_disk_key(&k.id, &k.ir, o).unwrap();
    let base = test_kernel("k", 7, 1, 2.0);
    let k0 = key(&base, &opts).expect("the CPU caches on disk");
    // Unchanged inputs, unchanged key (and a re-built IR prints the same).
    assert_eq!(key(&base, &opts).unwrap(), k0);
    assert_eq!(key(&test_kernel("k", 7, 1, 2.0), &opts).unwrap(), k0);
    // The key names what it covers.
    for part in [
        "backend cranelift",
        bitmat_runtime::compiler_version(),
        "kernel k",
        "source 0000000000000007",
        "constexprs [Int(1)]",
        "\nir ",
    ] {
        assert!(k0.contains(part), "{part} in {k0}");
    }
    assert!(
        k0.contains(&format!("target {}", std::env::consts::ARCH)),
        "{k0}"
    );
    // Another body, same name, source hash and constexprs (an inlined helper changed): new key.
    let other_ir = TestKernel {
        id: base.id.clone(),
        ir: kernel("k", 3.0, 1.0),
    };
    assert_ne!(key(&other_ir, &opts).unwrap(), k0);
    // Another source hash, another constexpr, another name.
    assert_ne!(key(&test_kernel("k", 8, 1, 2.0), &opts).unwrap(), k0);
    let mut other_cx = test_kernel("k", 7, 1, 2.0);
    other_cx.id.constexprs = vec![ConstexprValue::Int(2)];
    assert_ne!(key(&other_cx, &opts).unwrap(), k0);
    assert_ne!(key(&test_kernel("k2", 7, 1, 2.0), &opts).unwrap(), k0);
    // GPU-only options and CPU threads do not change CPU code.
    let gpu_opts = LaunchOptions {
        num_warps: 8,
        num_stages: 3,
        cpu_threads: Some(1),
        checked: false,
        debug: false,
    };
    assert_eq!(key(&base, &gpu_opts).unwrap(), k0);
    // The interpreter caches nothing on disk.
    assert_eq!(
        Device::interpreter()
            .kernel_disk_key(&base.id, &base.ir, &opts)
            .unwrap(),
        None
    );
}

#[test]
fn a_fresh_device_loads_from_disk_and_gives_identical_results() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let k = test_kernel("fresh", 11, 4, 1.5);
    let want = reference(&k);

    let before = stats();
    let (got, logs) = with_logs(|| run(&cpu(dir.path()), &k));
    assert_eq!(bits(&got), bits(&want));
    assert_eq!(delta(before), (1, 0), "first device compiles");
    assert!(logs.contains("compiled"), "{logs}");
    assert!(logs.contains("wrote disk cache entry"), "{logs}");
    assert_eq!(entries(dir.path()).len(), 1);

    // A fresh device (a new process, as far as caches go) loads instead of compiling.
    let before = stats();
    let dev2 = cpu(dir.path());
    let (got2, logs) = with_logs(|| run(&dev2, &k));
    assert_eq!(bits(&got2), bits(&want));
    assert_eq!(delta(before), (0, 1), "second device loads from disk");
    assert!(logs.contains("loaded from disk cache"), "{logs}");
    assert!(!logs.contains("wrote disk cache entry"), "{logs}");

    // Same device again: memory hit. CPU-irrelevant options share the entry.
    let before = stats();
    let other = LaunchOptions {
        num_warps: 16,
        cpu_threads: Some(1),
        ..LaunchOptions::default()
    };
    assert_eq!(bits(&run_with(&dev2, &k, &other)), bits(&want));
    assert_eq!(delta(before), (0, 0));
    assert_eq!(dev2.cached_kernels(), 1);

    // Same name, source hash and constexprs but another IR: compiled, not the stale code.
    let changed = TestKernel {
        id: k.id.clone(),
        ir: kernel("fresh", -2.0, 4.0),
    };
    let before = stats();
    let got3 = run(&cpu(dir.path()), &changed);
    assert_eq!(bits(&got3), bits(&reference(&changed)));
    assert_ne!(bits(&got3), bits(&want));
    assert_eq!(delta(before), (1, 0));
    assert_eq!(entries(dir.path()).len(), 2);

    // Without a disk cache nothing is read or written.
    let before = stats();
    run(&Device::cpu().with_disk_cache(None), &k);
    assert_eq!(delta(before), (1, 0));
    assert_eq!(entries(dir.path()).len(), 2);
}

/// The documented frame: magic, version, key, payload, blake3 of everything before.
fn frame(version: &str, key: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = b"BITMAT\0\x01".to_vec();
    out.extend_from_slice(&(version.len() as u32).to_le_bytes());
    out.extend_from_slice(version.as_bytes());
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

/// Splits a frame into (version, key, payload), trusting it.
fn unframe(bytes: &[u8]) -> (String, String, Vec<u8>) {
    let mut at = 8;
    let mut take = |n: usize| {
        let s = &bytes[at..at + n];
        at += n;
        s.to_vec()
    };
    let n = u32::from_le_bytes(take(4).try_into().unwrap()) as usize;
    let version = String::from_utf8(take(n)).unwrap();
    let n = u32::from_le_bytes(take(4).try_into().unwrap()) as usize;
    let key = String::from_utf8(take(n)).unwrap();
    let n = u64::from_le_bytes(take(8).try_into().unwrap()) as usize;
    (version, key, take(n))
}

#[test]
fn corrupted_entries_are_ignored_with_a_warning_and_replaced() {
    let _g = serial();
    let k = test_kernel("corrupt", 21, 1, 0.25);
    let want = reference(&k);
    type Corruption = fn(&[u8]) -> Vec<u8>;
    let corruptions: [(&str, Corruption); 7] = [
        ("truncated", |b| b[..b.len() / 2].to_vec()),
        ("truncated by one byte", |b| b[..b.len() - 1].to_vec()),
        ("a flipped byte", |b| {
            let mut b = b.to_vec();
            let i = b.len() / 2;
            b[i] ^= 0x40;
            b
        }),
        ("garbage", |_| b"not a cache entry at all".to_vec()),
        ("empty", |_| Vec::new()),
        ("another compiler version", |b| {
            let (_, key, payload) = unframe(b);
            frame(
                "0.0.1+000000000000.000000000000.000000000000",
                &key,
                &payload,
            )
        }),
        ("a well-framed payload that is no CPU object", |b| {
            let (version, key, payload) = unframe(b);
            let mut p = payload.clone();
            p.truncate(payload.len() / 3);
            frame(&version, &key, &p)
        }),
    ];
    for (what, corrupt) in corruptions {
        let dir = tempfile::tempdir().unwrap();
        run(&cpu(dir.path()), &k);
        let files = entries(dir.path());
        assert_eq!(files.len(), 1);
        let good = std::fs::read(&files[0]).unwrap();
        let bad = corrupt(&good);
        std::fs::write(&files[0], &bad).unwrap();

        let before = stats();
        let (got, logs) = with_logs(|| run(&cpu(dir.path()), &k));
        assert_eq!(bits(&got), bits(&want), "{what}");
        assert_eq!(delta(before), (1, 0), "{what}: rebuilt, not loaded");
        assert!(logs.contains("WARN"), "{what}: {logs}");
        assert!(logs.contains("ignored"), "{what}: {logs}");
        // The rebuilt entry replaced the bad one, and loads.
        assert_eq!(entries(dir.path()), files, "{what}");
        let replaced = std::fs::read(&files[0]).unwrap();
        assert_ne!(replaced, bad, "{what}");
        let before = stats();
        let (got, logs) = with_logs(|| run(&cpu(dir.path()), &k));
        assert_eq!(bits(&got), bits(&want), "{what}");
        assert_eq!(delta(before), (0, 1), "{what}: the replacement loads");
        assert!(!logs.contains("WARN"), "{what}: {logs}");
    }
}

/// Launches every kernel of [`kernels`] on a fresh device using `dir`, checking results.
fn compile_all(dir: &Path, want: &[Vec<u32>]) {
    let dev = cpu(dir);
    for (k, w) in kernels().iter().zip(want) {
        assert_eq!(&bits(&run(&dev, k)), w, "{}", k.id.name);
    }
}

/// Every entry in `dir` is whole and readable: no temporary files, one per kernel, and a fresh
/// device loads all of them without compiling.
fn check_entries(dir: &Path, want: &[Vec<u32>]) {
    let files = entries(dir);
    assert_eq!(files.len(), kernels().len(), "{files:?}");
    for f in &files {
        assert_eq!(f.extension().and_then(|e| e.to_str()), Some("bin"), "{f:?}");
    }
    let cache = DiskCache::at(dir);
    assert_eq!(cache.payloads(EntryKind::Kernel).len(), files.len());
    let before = stats();
    compile_all(dir, want);
    assert_eq!(delta(before), (0, kernels().len() as u64));
}

#[test]
fn concurrent_threads_share_one_cache_dir() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let want: Vec<Vec<u32>> = kernels().iter().map(|k| bits(&reference(k))).collect();
    // Threads with a device each, and threads sharing one device.
    let shared = cpu(dir.path());
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| compile_all(dir.path(), &want));
        }
        for _ in 0..4 {
            let shared = &shared;
            let want = &want;
            s.spawn(move || {
                for (k, w) in kernels().iter().zip(want) {
                    assert_eq!(&bits(&run(shared, k)), w);
                }
            });
        }
    });
    check_entries(dir.path(), &want);
}

/// The environment variable that makes `child_process` do its work (set only on children).
const CHILD_DIR: &str = "BITMAT_DISK_CACHE_TEST_CHILD_DIR";

/// Run by the child processes of `concurrent_processes_share_one_cache_dir` (a no-op
/// otherwise): compiles or loads every kernel into the cache directory it is given.
#[test]
fn child_process() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let want: Vec<Vec<u32>> = kernels().iter().map(|k| bits(&reference(k))).collect();
    for _ in 0..3 {
        compile_all(Path::new(&dir), &want);
    }
}

#[test]
fn concurrent_processes_share_one_cache_dir() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "child_process", "--test-threads=1"])
                .env(CHILD_DIR, dir.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Meanwhile this process compiles into the same directory too.
    let want: Vec<Vec<u32>> = kernels().iter().map(|k| bits(&reference(k))).collect();
    compile_all(dir.path(), &want);
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("1 passed"),
            "the child ran its test: {stdout}"
        );
    }
    check_entries(dir.path(), &want);
}

/// Runs every test kernel on `dev`, whose cache stores nothing: each result is `want`'s, each
/// kernel is compiled and none loaded. Returns the logs of the run.
fn run_uncached(dev: &Device, want: &[Vec<u32>]) -> String {
    let before = stats();
    let (_, logs) = with_logs(|| {
        for (k, w) in kernels().iter().zip(want) {
            assert_eq!(&bits(&run(dev, k)), w, "{}", k.id.name);
        }
    });
    assert_eq!(
        delta(before),
        (kernels().len() as u64, 0),
        "compiled, nothing loaded"
    );
    logs
}

/// A cache directory that cannot be written (here: its path runs through a regular file, so
/// every directory and file creation fails, as on a read-only or full disk): one warning for
/// the whole run, naming the directory, and every kernel compiled and correct.
#[test]
fn an_unwritable_cache_dir_warns_once_and_runs_uncached() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let root = blocker.join("cache");
    let want: Vec<Vec<u32>> = kernels().iter().map(|k| bits(&reference(k))).collect();
    let logs = run_uncached(&cpu(&root), &want);
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning for {} kernels:\n{logs}",
        kernels().len()
    );
    assert!(
        warnings[0].contains("cannot write to the cache directory")
            && warnings[0].contains(&root.display().to_string()),
        "{}",
        warnings[0]
    );
}

/// A cache directory that exists but whose entries cannot be written (each entry's path is
/// taken by a non-empty directory, so the final rename fails after the temporary file was
/// written, as a write does on a full disk): one warning about writing, no temporary file left
/// behind, and every kernel compiled and correct.
#[test]
fn entries_that_cannot_be_stored_warn_once_and_leave_nothing() {
    let _g = serial();
    let want: Vec<Vec<u32>> = kernels().iter().map(|k| bits(&reference(k))).collect();
    // The entries' file names, from a first run into a writable cache.
    let first = tempfile::tempdir().unwrap();
    compile_all(first.path(), &want);
    let names: Vec<_> = entries(first.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), kernels().len());
    let dir = tempfile::tempdir().unwrap();
    let kernel_dir = dir.path().join(EntryKind::Kernel.dir());
    for name in &names {
        let taken = kernel_dir.join(name);
        std::fs::create_dir_all(&taken).unwrap();
        std::fs::write(taken.join("keep"), b"x").unwrap();
    }
    let logs = run_uncached(&cpu(dir.path()), &want);
    // (Reading each blocked entry also warns that it is unreadable: it is a directory.)
    let write_warnings = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("cannot write to the cache directory"))
        .count();
    assert_eq!(write_warnings, 1, "one write warning:\n{logs}");
    // Only the directories that block the entries are there: no temporary file is left.
    let mut left: Vec<_> = std::fs::read_dir(&kernel_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    left.sort();
    let mut blocked = names.clone();
    blocked.sort();
    assert_eq!(left, blocked);
}

/// `count` (what `bitmat info` reports) counts valid entries only: a truncated entry, garbage
/// with an entry's extension and an empty file are not counted.
#[test]
fn only_valid_entries_are_counted() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let k = test_kernel("counted", 31, 1, 0.5);
    run(&cpu(dir.path()), &k);
    let files = entries(dir.path());
    assert_eq!(files.len(), 1);
    let good = std::fs::read(&files[0]).unwrap();
    let kernels = dir.path().join(EntryKind::Kernel.dir());
    std::fs::write(kernels.join("truncated.bin"), &good[..good.len() / 2]).unwrap();
    std::fs::write(kernels.join("garbage.bin"), b"not an entry").unwrap();
    std::fs::write(kernels.join("empty.bin"), b"").unwrap();
    let count = DiskCache::at(dir.path()).count(EntryKind::Kernel);
    assert_eq!(count.files, 1);
    assert_eq!(count.bytes, good.len() as u64);
}
