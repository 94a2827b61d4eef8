//! Running one file test: what each `; test` kind does with the kernel, and how its output is
//! checked (against the expectation, or with `filecheck` directives).

use crate::file::TestFile;
use bitmat_codegen::ptx::{compile_ptx, PtxOptions, PtxTarget};
use bitmat_codegen::CpuObject;
use bitmat_ir::interp::{self, ArgValue};
use bitmat_ir::kernel::{Block, ParamKind};
use bitmat_ir::parse::{parse_kernel, parse_scalar};
use bitmat_ir::passes::{self, contiguity};
use bitmat_ir::verify::verify_all;
use bitmat_ir::{HostData, Kernel};

/// How a file's output compared with what the file expects.
pub enum Checked {
    /// As expected.
    Matched,
    /// The output differs from the file's expectation (or the file has none).
    Differs {
        /// The output, to show in a diff or to bless.
        actual: String,
    },
}

/// Runs `file`; an error is a failure that blessing cannot fix (a kernel that does not parse,
/// a failed `check:`).
pub fn run(file: &TestFile) -> Result<Checked, String> {
    let kernel =
        parse_kernel(&file.kernel_text).map_err(|e| format!("the kernel does not parse: {e}"))?;
    let output = match file.kind.as_str() {
        "verify" => verify_output(&kernel),
        "simplify" | "divide" | "cse" | "dce" | "optimize" => {
            valid(&kernel)?;
            let mut k = kernel;
            match file.kind.as_str() {
                "simplify" => passes::simplify::run(&mut k),
                "divide" => passes::divide::run(&mut k),
                "cse" => passes::cse::run(&mut k),
                "dce" => passes::dce::run(&mut k),
                _ => passes::optimize(&mut k),
            }
            // A pass must leave the kernel valid.
            valid(&k).map_err(|e| format!("after the pass: {e}"))?;
            format!("{k}\n")
        }
        "contiguity" => {
            valid(&kernel)?;
            contiguity_output(&kernel)
        }
        "bounds" => {
            valid(&kernel)?;
            let checked = passes::bounds::instrument(&kernel).map_err(|e| e.to_string())?;
            valid(&checked.kernel).map_err(|e| format!("after the pass: {e}"))?;
            format!(
                "{}\nchecked sites: {}\npreconditions:\n{}",
                checked.kernel,
                checked.sites.len(),
                checked.preconditions
            )
        }
        "interp" => {
            valid(&kernel)?;
            interp_output(file, &kernel)?
        }
        "ptx" => {
            let target = match file.option("target") {
                None => PtxTarget::Sm80,
                Some(t) => PtxTarget::from_arch(t).ok_or(format!("unknown PTX target `{t}`"))?,
            };
            let warps = match file.option("num_warps") {
                None => 4,
                Some(w) => w
                    .parse()
                    .map_err(|_| format!("num_warps=`{w}` is not a number"))?,
            };
            let stages = match file.option("num_stages") {
                None => 1,
                Some(w) => w
                    .parse()
                    .map_err(|_| format!("num_stages=`{w}` is not a number"))?,
            };
            let options = PtxOptions {
                num_warps: warps,
                num_stages: stages,
            };
            let module = compile_ptx(&kernel, target, options).map_err(|e| e.to_string())?;
            return filecheck(file, &module.text);
        }
        "clif" => {
            let object = CpuObject::compile(&kernel).map_err(|e| e.to_string())?;
            return filecheck(file, object.clif());
        }
        other => {
            return Err(format!(
                "unknown test kind `{other}` (verify, simplify, cse, dce, optimize, contiguity, bounds, interp, ptx, clif)"
            ))
        }
    };
    let matches = file
        .expectation
        .as_deref()
        .is_some_and(|e| e.trim_end() == output.trim_end());
    Ok(if matches {
        Checked::Matched
    } else {
        Checked::Differs { actual: output }
    })
}

/// Fails with every verifier error when `kernel` is not valid.
fn valid(kernel: &Kernel) -> Result<(), String> {
    let errors = verify_all(kernel);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the kernel is not valid IR:\n{}",
            verify_output(kernel)
        ))
    }
}

/// Every verifier error, one per line, or `ok`.
fn verify_output(kernel: &Kernel) -> String {
    let errors = verify_all(kernel);
    if errors.is_empty() {
        return "ok\n".into();
    }
    errors.iter().map(|e| format!("{e}\n")).collect()
}

/// The contiguity facts of every integer or pointer value an op defines, in program order.
fn contiguity_output(kernel: &Kernel) -> String {
    let info = contiguity::analyze(kernel);
    let mut out = String::new();
    fn walk(kernel: &Kernel, block: &Block, info: &[contiguity::AxisInfo], out: &mut String) {
        for op in &block.ops {
            for &r in &op.results {
                let t = kernel.ty(r);
                let int_like = t.dtype().is_none_or(|d| d.is_int());
                if let (true, Some(i)) = (int_like, info.get(r.index())) {
                    out.push_str(&format!(
                        "{r}: {t} contiguity {:?} divisibility {:?} constancy {:?}\n",
                        i.contiguity, i.divisibility, i.constancy
                    ));
                }
            }
            for b in op.kind.blocks() {
                walk(kernel, b, info, out);
            }
        }
    }
    walk(kernel, &kernel.body, &info, &mut out);
    out
}

/// Runs the kernel on the `; grid:` and `; arg NAME = ..` directives; the output is every
/// buffer afterwards (`NAME = [..]`), or the interpreter's error.
fn interp_output(file: &TestFile, kernel: &Kernel) -> Result<String, String> {
    let mut grid = [1u32; 3];
    let mut given: Vec<(String, String)> = Vec::new();
    for (name, rest) in &file.directives {
        match name.as_str() {
            "grid" => {
                for (i, g) in rest.split(',').enumerate() {
                    let slot = grid
                        .get_mut(i)
                        .ok_or(format!("grid `{rest}` has more than 3 extents"))?;
                    *slot = g
                        .trim()
                        .parse()
                        .map_err(|_| format!("grid extent `{g}` is not a number"))?;
                }
            }
            _ => {
                let (param, value) = rest
                    .split_once('=')
                    .ok_or(format!("`; arg {rest}` is not `; arg NAME = VALUE`"))?;
                given.push((param.trim().to_string(), value.trim().to_string()));
            }
        }
    }
    let mut buffers: Vec<HostData> = Vec::new();
    let mut args = Vec::new();
    for p in &kernel.params {
        let text = given
            .iter()
            .find(|(n, _)| *n == p.name)
            .map(|(_, v)| v.as_str())
            .ok_or(format!(
                "no `; arg {} = ..` for parameter `{}`",
                p.name, p.name
            ))?;
        let scalar = |dtype, t: &str| {
            parse_scalar(dtype, t).map_err(|e| format!("argument `{}`: {}", p.name, e.message))
        };
        match p.kind {
            ParamKind::Scalar(d) => args.push(ArgValue::Scalar(scalar(d, text)?)),
            ParamKind::Ptr(d) => {
                let inner = text
                    .strip_prefix('[')
                    .and_then(|t| t.strip_suffix(']'))
                    .ok_or(format!("argument `{}` must be a list `[..]`", p.name))?;
                let items: Vec<&str> = inner.split(',').filter(|s| !s.trim().is_empty()).collect();
                let mut data = HostData::zeros(d, items.len());
                for (i, item) in items.iter().enumerate() {
                    data.set(i, scalar(d, item)?);
                }
                args.push(ArgValue::Buffer(buffers.len()));
                buffers.push(data);
            }
        }
    }
    let mut refs: Vec<&mut HostData> = buffers.iter_mut().collect();
    if let Err(e) = interp::run(kernel, grid, &args, &mut refs) {
        return Ok(format!("error: {e}\n"));
    }
    let mut out = String::new();
    let ptr_params = kernel
        .params
        .iter()
        .filter(|p| matches!(p.kind, ParamKind::Ptr(_)));
    for (p, data) in ptr_params.zip(&buffers) {
        let items: Vec<String> = (0..data.len())
            .filter_map(|i| data.get(i))
            .map(|s| s.to_string())
            .collect();
        out.push_str(&format!("{} = [{}]\n", p.name, items.join(", ")));
    }
    Ok(out)
}

/// Matches `output` against the file's `filecheck` directives (`check:`, `nextln:`, ..).
fn filecheck(file: &TestFile, output: &str) -> Result<Checked, String> {
    let checker = filecheck::CheckerBuilder::new()
        .text(&file.kernel_text)
        .map_err(|e| format!("bad check directive: {e}"))?
        .finish();
    if checker.is_empty() {
        return Err(format!(
            "no `; check:` lines to match the emitted code against:\n{output}"
        ));
    }
    let (ok, explanation) = checker
        .explain(output, filecheck::NO_VARIABLES)
        .map_err(|e| format!("filecheck: {e}"))?;
    if ok {
        Ok(Checked::Matched)
    } else {
        // The explanation quotes the emitted code, marking what each directive matched.
        Err(format!(
            "the emitted code does not match the check lines:\n{explanation}"
        ))
    }
}
