//! The reference interpreter as a backend: nothing is compiled; a launch runs the IR itself on
//! host memory, reporting out-of-bounds accesses as errors.

use super::{host_arguments, BackendImpl, Code};
use crate::buffer::lock;
use crate::cache::CodeOptions;
use crate::device::Backend;
use crate::error::Error;
use crate::launch::{Grid, KernelArg, LaunchOptions};
use bitmat_ir::{interp, HostData, Kernel};
use std::sync::Arc;

/// The interpreter backend.
struct Interpreter;

/// Opens the interpreter backend.
pub(super) fn open() -> Arc<dyn BackendImpl> {
    Arc::new(Interpreter)
}

impl BackendImpl for Interpreter {
    fn id(&self) -> Backend {
        Backend::INTERPRETER
    }

    fn fingerprint(&self) -> &str {
        "interpreter"
    }

    fn target(&self) -> Result<Option<&str>, Error> {
        Ok(None)
    }

    fn code_options(&self, _options: &LaunchOptions) -> CodeOptions {
        CodeOptions::NONE
    }

    fn check_options(&self, _options: &LaunchOptions) -> Result<(), String> {
        Ok(())
    }

    fn checks_in_code(&self) -> bool {
        false
    }

    fn times_configs(&self) -> bool {
        false
    }

    fn compile(&self, _ir: &Kernel, _options: &LaunchOptions) -> Result<Vec<u8>, Error> {
        Ok(Vec::new())
    }

    fn load(
        &self,
        _ir: &Kernel,
        _options: &LaunchOptions,
        _bytes: &[u8],
    ) -> Result<Box<dyn Code>, Error> {
        Ok(Box::new(Interpreted))
    }
}

/// A kernel the interpreter runs: its IR is all it needs.
struct Interpreted;

impl Code for Interpreted {
    fn launch(
        &self,
        ir: &Kernel,
        grid: Grid,
        _options: &LaunchOptions,
        args: &[KernelArg<'_>],
    ) -> Result<(), Error> {
        let (storages, values) = host_arguments(args)?;
        // One lock per distinct buffer, held for the whole launch.
        let mut guards: Vec<_> = storages.iter().map(|s| lock(s)).collect();
        let mut buffers: Vec<&mut HostData> = guards.iter_mut().map(|g| &mut **g).collect();
        interp::run(ir, grid.0, &values, &mut buffers)?;
        Ok(())
    }
}
