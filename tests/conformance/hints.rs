//! Compiler hints: `multiple_of` and `max_contiguous` on true facts change no result (a copy
//! from starts read from memory, aligned and not, against the interpreter and plain Rust).

use crate::harness::{compare, run, test, Arg, Test, Tol};
use bitmat::ir::HostData;
use bitmat::prelude::*;
use bitmat::Device;

/// The tests of this module.
pub fn tests() -> Vec<Test> {
    vec![test("hints::copy_from_hinted_starts", copy)]
}

/// Program `pid` copies `block` elements of `x` from `starts[pid]` (a multiple of 16, as the
/// hint says) to row `pid` of `y`; the offsets are also declared contiguous.
#[bitkernel]
fn copy_from_starts(x: Ptr<f32>, y: Ptr<f32>, starts: Ptr<i32>, #[constexpr] block: i32) {
    let pid = program_id(0);
    let start = multiple_of(load(starts + pid), 16);
    let offs = max_contiguous(start + arange(block), block as u32);
    store(y + pid * block + arange(block), load(x + offs) * 2.0);
}

fn copy(dev: &Device) -> Result<(), String> {
    let block = 64;
    let k = copy_from_starts::ir(block).map_err(|e| e.to_string())?;
    let x: Vec<f32> = (0..512).map(|i| i as f32 * 0.25 - 7.0).collect();
    let starts = vec![0i32, 16, 448, 224, 32];
    let b = block as usize;
    let want: Vec<f32> = starts
        .iter()
        .flat_map(|&s| x[s as usize..s as usize + b].iter().map(|v| v * 2.0))
        .collect();
    let args = [
        Arg::Buf(HostData::F32(x)),
        Arg::Buf(HostData::F32(vec![0.0; starts.len() * b])),
        Arg::Buf(HostData::I32(starts.clone())),
    ];
    let o = run(
        dev,
        "hinted copy",
        &k,
        [starts.len() as u32, 1, 1],
        4,
        &args,
    )?;
    o.check_all(&Tol::Bits)?;
    compare("hinted copy", &o.got[1], &HostData::F32(want), &Tol::Bits)
}
