// Comptime `if`/`for`/`match` on constexprs, a runtime `if` on a scalar tile, an inline
// helper, `as` casts, and comparisons on tiles and on Rust values.
use bitmat::prelude::*;

#[bitkernel(inline)]
fn relu(x: Tile) -> Tile {
    maximum(x, 0.0)
}

#[bitkernel]
fn mixed(
    x: Ptr<f32>,
    y: Ptr<f32>,
    n: i32,
    flag: i32,
    #[constexpr] block: i32,
    #[constexpr] doublings: u32,
    #[constexpr] op: u8,
    #[constexpr] bias: bool,
) {
    let offs = program_id(0) * block + arange(block);
    let mask = offs < n; // a comparison on tiles: a tile of bool
    let mut v = load(x + offs, mask, 0.0);
    // A comptime `for`: unrolled at specialization.
    for _ in 0..doublings {
        v = v * 2.0;
    }
    // A comptime `match` on a constexpr.
    v = match op {
        0 => v + 1.0,
        1 => relu(v),
        _ => -v,
    };
    // A comptime `if` on comparisons of Rust values.
    if bias && block >= 4 && doublings != 3 {
        v = v + (block as f32); // `as` on a Rust value
    }
    // A runtime `if` on a scalar bool tile, assigning a variable and yielding a tile.
    let w = if flag > 0 {
        v = v * 10.0;
        v
    } else {
        -v
    };
    // `as` on tiles: truncate towards zero through i32 and back.
    let truncated = (w as i32) as f32;
    store(y + offs, select(truncated == 0.0, -1.0, truncated), mask);
}

fn expected(x: &[f32], flag: i32, block: i32, doublings: u32, op: u8, bias: bool) -> Vec<f32> {
    x.iter()
        .map(|&x| {
            let mut v = x * 2f32.powi(doublings as i32);
            v = match op {
                0 => v + 1.0,
                1 => v.max(0.0),
                _ => -v,
            };
            if bias && block >= 4 && doublings != 3 {
                v += block as f32;
            }
            let w = if flag > 0 { v * 10.0 } else { -v };
            let t = (w as i32) as f32;
            if t == 0.0 { -1.0 } else { t }
        })
        .collect()
}

fn main() -> Result<(), Error> {
    let device = Device::interpreter();
    let xs: Vec<f32> = (0..10).map(|i| i as f32 * 0.37 - 1.5).collect();
    let x = device.upload(&xs)?;
    for (flag, doublings, op, bias) in [(1, 0, 0, false), (0, 2, 1, true), (5, 1, 2, true), (-1, 3, 1, true)] {
        let y = device.zeros::<f32>(xs.len())?;
        mixed::launch(&device, 3, &x, &y, xs.len() as i32, flag, 4, doublings, op, bias)?;
        assert_eq!(y.to_vec()?, expected(&xs, flag, 4, doublings, op, bias));
    }
    Ok(())
}
