//! The bounds pass's launch-time proofs are sound: whenever the conditions of the accesses it
//! leaves unchecked hold, the reference interpreter runs the kernel without an out-of-bounds
//! access, for random scalar arguments, grids and buffer lengths (and, for the masked vector
//! add, the conditions hold exactly when every buffer covers the lanes its masks leave on).

use bitmat_ir::interp::{run, ArgValue, InterpErrorKind};
use bitmat_ir::passes::bounds::{instrument, Checked};
use bitmat_ir::passes::ranges::Launch;
use bitmat_ir::{parse_kernel, HostData, Kernel, ParamKind, Scalar};
use proptest::prelude::*;

/// The kernels of the `bounds` file tests.
fn kernel(text: &str) -> (Kernel, Checked) {
    let k = parse_kernel(text).expect("the file test's kernel parses");
    let c = instrument(&k).expect("the kernel instruments");
    assert!(c.sites.is_empty(), "{}: every access is proven", k.name);
    (k, c)
}

/// Runs `k` on the interpreter with buffers of `lens` (in the order of its pointer
/// parameters) and the scalar `n`; whether it accessed out of bounds.
fn out_of_bounds(k: &Kernel, grid: [u32; 3], lens: &[usize], n: i32) -> bool {
    let mut bufs: Vec<HostData> = Vec::new();
    let mut args = Vec::new();
    for p in &k.params {
        match p.kind {
            ParamKind::Ptr(d) => {
                args.push(ArgValue::Buffer(bufs.len()));
                bufs.push(HostData::zeros(d, lens[bufs.len()]));
            }
            ParamKind::Scalar(d) => args.push(ArgValue::Scalar(Scalar::from_i64(d, n.into()))),
        }
    }
    let mut refs: Vec<&mut HostData> = bufs.iter_mut().collect();
    match run(k, grid, &args, &mut refs) {
        Ok(()) => false,
        Err(e) => {
            assert!(
                matches!(e.kind, InterpErrorKind::OutOfBounds { .. }),
                "unexpected error {e}"
            );
            true
        }
    }
}

fn launch(k: &Kernel, grid: [u32; 3], lens: &[usize], n: i32) -> Launch {
    let mut lens = lens.iter();
    Launch {
        scalars: k
            .params
            .iter()
            .map(|p| matches!(p.kind, ParamKind::Scalar(_)).then_some(i64::from(n)))
            .collect(),
        lens: k
            .params
            .iter()
            .map(|p| match p.kind {
                ParamKind::Ptr(_) => lens.next().map(|&l| l as u64),
                ParamKind::Scalar(_) => None,
            })
            .collect(),
        grid,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn masked_add(n in 0i32..700, grid in 1u32..12, lens in prop::collection::vec(0usize..800, 3)) {
        let (k, c) = kernel(include_str!("../../filetests/passes/bounds_masked_1d.bmir"));
        let grid = [grid, 1, 1];
        let proven = c.proven(&launch(&k, grid, &lens, n));
        let reach = (n as usize).min(64 * grid[0] as usize);
        prop_assert_eq!(proven, lens.iter().all(|&l| reach <= l));
        if proven {
            prop_assert!(!out_of_bounds(&k, grid, &lens, n));
        }
    }

    #[test]
    fn k_loop(k_len in -3i32..90, grid in 1u32..6, lens in prop::collection::vec(0usize..500, 2)) {
        let (k, c) = kernel(include_str!("../../filetests/passes/bounds_k_loop.bmir"));
        let grid = [grid, 1, 1];
        // Buffers that fit exactly (every row of `k` columns, 16 outputs) meet the conditions.
        if k_len >= 1 {
            let exact = [grid[0] as usize * k_len as usize, 16];
            prop_assert!(c.proven(&launch(&k, grid, &exact, k_len)));
        }
        if c.proven(&launch(&k, grid, &lens, k_len)) {
            prop_assert!(!out_of_bounds(&k, grid, &lens, k_len));
        }
    }
}
