//! How the suite runs a kernel and judges the result: [`run`] launches a hand-built kernel on
//! the device under test and on the reference interpreter with the same arguments, and
//! [`Outcome::check`] compares every buffer afterwards under a [`Tol`]erance; a failure names
//! the test's case (dtype, shape), the buffer and the first mismatching element.

pub use crate::reference::{i32_arg, run_reference, Arg};
use bitmat::ir::{HostData, Kernel, ParamKind};
use bitmat::{Buffer, Device, Element, KernelArg, KernelId, LaunchOptions};
use std::hash::{Hash, Hasher};

/// A test's body: runs it on a device; `Err` says what differed.
pub type Check = Box<dyn Fn(&Device) -> Result<(), String> + Send + Sync>;

/// One test of the suite: a name (`area::case`) and a check of one device.
pub struct Test {
    /// `area::case`, e.g. `ops::binary_i8`.
    pub name: String,
    /// Runs the test on a device.
    pub run: Check,
}

/// A [`Test`] named `name` running `run`.
pub fn test(
    name: impl Into<String>,
    run: impl Fn(&Device) -> Result<(), String> + Send + Sync + 'static,
) -> Test {
    Test {
        name: name.into(),
        run: Box::new(run),
    }
}

/// True on a CUDA device (where [`Tol::exact`] and the derived bounds differ).
pub fn is_cuda(dev: &Device) -> bool {
    dev.backend().is_gpu()
}

/// The buffers of a launch on the device under test and on the reference interpreter.
pub struct Outcome {
    what: String,
    names: Vec<String>,
    /// The device's buffers after the launch, in argument order.
    pub got: Vec<HostData>,
    /// The reference interpreter's buffers after the launch, in argument order.
    pub want: Vec<HostData>,
}

/// Runs `kernel` over `grid` (in programs of `num_warps` warps on a GPU) on `dev` and on the
/// reference interpreter with the same `args`. `what` names the case (dtype, shape) in
/// failure messages.
pub fn run(
    dev: &Device,
    what: &str,
    kernel: &Kernel,
    grid: [u32; 3],
    num_warps: u32,
    args: &[Arg],
) -> Result<Outcome, String> {
    let options = LaunchOptions {
        num_warps,
        ..LaunchOptions::default()
    };
    run_with(dev, what, kernel, grid, &options, args)
}

/// [`run`] with every launch option given (`num_stages` too).
pub fn run_with(
    dev: &Device,
    what: &str,
    kernel: &Kernel,
    grid: [u32; 3],
    options: &LaunchOptions,
    args: &[Arg],
) -> Result<Outcome, String> {
    let want = run_reference(kernel, grid, args).map_err(|e| format!("{what}: {e}"))?;
    // The interpreter just ran this kernel over this grid on these arguments without an
    // out-of-bounds access: the device runs its unchecked code (the checked code is tested
    // by `bounds`).
    let got = launch_on(dev, kernel, grid, options, args, Checks::Off)
        .and_then(|r| r.map_err(|e| format!("launch on {dev}: {e}")))
        .map_err(|e| format!("{what}: {e}"))?;
    let names = kernel
        .params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Ptr(_)))
        .map(|p| p.name.clone())
        .collect();
    Ok(Outcome {
        what: what.to_string(),
        names,
        got,
        want,
    })
}

/// [`run`], then [`Outcome::check_all`] under [`Tol::exact`]; returns the device's buffers.
pub fn run_exact(
    dev: &Device,
    what: &str,
    kernel: &Kernel,
    grid: [u32; 3],
    args: &[Arg],
) -> Result<Vec<HostData>, String> {
    let out = run(dev, what, kernel, grid, 4, args)?;
    out.check_all(&Tol::exact(dev))?;
    Ok(out.got)
}

impl Outcome {
    /// Compares buffer `index` (in argument order, counting buffers only) under `tol`.
    pub fn check(&self, index: usize, tol: &Tol) -> Result<(), String> {
        let what = format!("{} (buffer `{}`)", self.what, self.names[index]);
        compare(&what, &self.got[index], &self.want[index], tol)
    }

    /// Compares every buffer under `tol`.
    pub fn check_all(&self, tol: &Tol) -> Result<(), String> {
        (0..self.got.len()).try_for_each(|i| self.check(i, tol))
    }
}

/// How a device's element may differ from the reference's.
#[derive(Clone, Debug)]
pub enum Tol {
    /// Bit for bit, NaN payloads included (the interpreter and Cranelift keep them).
    Bits,
    /// Bit for bit, except that any NaN stands for any NaN: NaN payloads are unspecified in the
    /// IR, and PTX arithmetic returns the canonical NaN where x86 propagates an operand's.
    AnyNan,
    /// Within an absolute bound per element (derived where the bound is built): equal values
    /// (infinities included) and two NaNs always agree; an infinite bound leaves the element
    /// unchecked, for inputs where the backend documents no accuracy.
    Bound(Vec<f64>),
}

impl Tol {
    /// The tolerance of ops that every backend computes exactly: [`Tol::Bits`] on the
    /// interpreter and Cranelift, which keep NaN payloads, [`Tol::AnyNan`] on CUDA and on
    /// LLVM (whose optimizer commutes the operands of commutative float ops, so which NaN of
    /// two survives may differ).
    pub fn exact(dev: &Device) -> Tol {
        if is_cuda(dev) || dev.backend() == bitmat::Backend::LLVM {
            Tol::AnyNan
        } else {
            Tol::Bits
        }
    }
}

/// Compares two buffers of the same dtype and length under `tol`.
pub fn compare(what: &str, got: &HostData, want: &HostData, tol: &Tol) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.len() != want.len() {
        return Err(format!(
            "{what}: {} elements of {} vs the reference's {} of {}",
            got.len(),
            got.dtype(),
            want.len(),
            want.dtype()
        ));
    }
    for i in 0..got.len() {
        let (g, w) = (got.get(i).unwrap(), want.get(i).unwrap());
        let both_nan = g.dtype().is_float() && g.as_f64().is_nan() && w.as_f64().is_nan();
        let ok = match tol {
            Tol::Bits => g.bits() == w.bits(),
            Tol::AnyNan => g.bits() == w.bits() || both_nan,
            Tol::Bound(bounds) => {
                let (gf, wf, bound) = (g.as_f64(), w.as_f64(), bounds[i]);
                bound == f64::INFINITY
                    || g.bits() == w.bits()
                    || both_nan
                    || gf == wf
                    || (gf - wf).abs() <= bound
            }
        };
        if !ok {
            let bound = match tol {
                Tol::Bound(b) => format!(" (bound {:e})", b[i]),
                _ => String::new(),
            };
            return Err(format!(
                "{what}: first mismatch at element {i}: got {g:?}, reference {w:?}{bound}"
            ));
        }
    }
    Ok(())
}

/// A buffer on a device, of any element type.
trait DeviceBuffer {
    fn arg(&self) -> KernelArg<'_>;
    fn read(&self) -> Result<HostData, bitmat::RuntimeError>;
}

impl<T: Element> DeviceBuffer for Buffer<T> {
    fn arg(&self) -> KernelArg<'_> {
        KernelArg::buffer(self)
    }

    fn read(&self) -> Result<HostData, bitmat::RuntimeError> {
        Ok(T::into_host(self.to_vec()?))
    }
}

/// Runs `kernel` on `dev` through the runtime's launch path (compile or cache, argument
/// checks, launch); returns the buffers afterwards.
pub fn run_device(
    dev: &Device,
    kernel: &Kernel,
    grid: [u32; 3],
    num_warps: u32,
    args: &[Arg],
) -> Result<Vec<HostData>, String> {
    let options = LaunchOptions {
        num_warps,
        ..LaunchOptions::default()
    };
    run_device_with(dev, kernel, grid, &options, args)
}

/// [`run_device`] with every launch option given: a safe, bounds-checked launch.
pub fn run_device_with(
    dev: &Device,
    kernel: &Kernel,
    grid: [u32; 3],
    options: &LaunchOptions,
    args: &[Arg],
) -> Result<Vec<HostData>, String> {
    launch_on(dev, kernel, grid, options, args, Checks::On)?
        .map_err(|e| format!("launch on {dev}: {e}"))
}

/// A safe launch of `kernel` on `dev`: the launch's own result (the typed error, as the
/// `bounds` tests compare it with the interpreter's), or the buffers afterwards; `Err` for
/// what failed around it (uploads, downloads).
pub fn run_device_result(
    dev: &Device,
    kernel: &Kernel,
    grid: [u32; 3],
    args: &[Arg],
) -> Result<Result<Vec<HostData>, bitmat::RuntimeError>, String> {
    launch_on(
        dev,
        kernel,
        grid,
        &LaunchOptions::default(),
        args,
        Checks::On,
    )
}

/// Whether a launch is bounds-checked.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Checks {
    /// A safe launch (`launch_kernel`).
    On,
    /// `launch_kernel_unchecked`: only for arguments the interpreter ran in bounds.
    Off,
}

/// Launches `kernel` on `dev` (see [`run_device`]), checked or not.
fn launch_on(
    dev: &Device,
    kernel: &Kernel,
    grid: [u32; 3],
    options: &LaunchOptions,
    args: &[Arg],
    checks: Checks,
) -> Result<Result<Vec<HostData>, bitmat::RuntimeError>, String> {
    let mut buffers: Vec<Box<dyn DeviceBuffer>> = Vec::new();
    for a in args {
        if let Arg::Buf(d) = a {
            let b: Result<Box<dyn DeviceBuffer>, _> = bitmat::ir::with_host_data!(d, v => dev.upload(v).map(|b| Box::new(b) as Box<dyn DeviceBuffer>));
            buffers.push(b.map_err(|e| format!("upload: {e}"))?);
        }
    }
    let mut launch_args = Vec::new();
    let mut next = buffers.iter();
    for a in args {
        launch_args.push(match a {
            Arg::Buf(_) => next.next().expect("one buffer per buffer argument").arg(),
            Arg::Scalar(s) => KernelArg::Scalar(*s),
        });
    }
    // The kernel's identity is its IR: two test kernels of one name never share a cache entry.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{kernel:?}").hash(&mut hasher);
    let id = KernelId {
        name: Box::leak(kernel.name.clone().into_boxed_str()),
        source_hash: hasher.finish(),
        constexprs: vec![],
    };
    let build = || Ok::<_, bitmat::RuntimeError>(kernel.clone());
    let grid = bitmat::Grid(grid);
    let launched = match checks {
        Checks::On => bitmat::launch_kernel(dev, &id, build, grid, options, &launch_args),
        // SAFETY: `Checks::Off` is only passed after the interpreter ran these arguments in
        // bounds.
        Checks::Off => unsafe {
            bitmat::launch_kernel_unchecked(dev, &id, build, grid, options, &launch_args)
        },
    };
    if let Err(e) = launched {
        return Ok(Err(e));
    }
    buffers
        .iter()
        .map(|b| b.read().map_err(|e| format!("download: {e}")))
        .collect::<Result<_, _>>()
        .map(Ok)
}
