//! Backends behind a device: compiling a specialized kernel, and running it over a grid.

use crate::buffer::lock;
use crate::device::Backend;
use crate::error::Error;
use crate::launch::{Grid, KernelArg};
use bitmat_ir::interp::{self, ArgValue};
use bitmat_ir::{HostData, Kernel};
use std::sync::{Arc, Mutex};

/// A kernel ready to run on one backend: its verified IR (for argument checks) and the
/// backend's code.
pub(crate) struct Compiled {
    /// The specialized, verified IR.
    pub(crate) ir: Kernel,
    code: Code,
}

/// The backend's form of a kernel.
enum Code {
    /// The interpreter runs the IR itself.
    Interpreter,
}

/// Compiles `ir` for `backend`.
pub(crate) fn compile(backend: Backend, ir: Kernel) -> Result<Compiled, Error> {
    let code = match backend {
        Backend::Interpreter => Code::Interpreter,
    };
    Ok(Compiled { ir, code })
}

/// The distinct host buffers of `args` (aliased arguments share one), and each argument as
/// the interpreter sees it.
fn host_arguments<'a>(args: &[KernelArg<'a>]) -> (Vec<&'a Arc<Mutex<HostData>>>, Vec<ArgValue>) {
    let mut storages: Vec<&Arc<Mutex<HostData>>> = Vec::new();
    let mut values = Vec::with_capacity(args.len());
    for arg in args {
        match arg {
            KernelArg::Buffer { storage, .. } => {
                let index = match storages.iter().position(|s| Arc::ptr_eq(s, storage)) {
                    Some(i) => i,
                    None => {
                        storages.push(storage);
                        storages.len() - 1
                    }
                };
                values.push(ArgValue::Buffer(index));
            }
            KernelArg::Scalar(s) => values.push(ArgValue::Scalar(*s)),
        }
    }
    (storages, values)
}

/// Runs `compiled` over `grid` (arguments already checked against its parameters).
pub(crate) fn run(compiled: &Compiled, grid: Grid, args: &[KernelArg<'_>]) -> Result<(), Error> {
    let (storages, values) = host_arguments(args);
    // One lock per distinct buffer, held for the whole launch.
    let mut guards: Vec<_> = storages.iter().map(|s| lock(s)).collect();
    let mut buffers: Vec<&mut HostData> = guards.iter_mut().map(|g| &mut **g).collect();
    match &compiled.code {
        Code::Interpreter => interp::run(&compiled.ir, grid.0, &values, &mut buffers)?,
    }
    Ok(())
}
