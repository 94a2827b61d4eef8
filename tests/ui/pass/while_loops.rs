// A runtime `while` on a scalar bool tile carrying a scalar and a tile, the exit folded into
// its condition (instead of a `break`), next to a `while` on a constexpr run at specialization.
use bitmat::prelude::*;

#[bitkernel]
fn first_negative(x: Ptr<f32>, out: Ptr<i32>, n: i32, #[constexpr] block: i32) {
    // At specialization: the smallest power of two not below `block`.
    let mut width = 1;
    while width < block {
        width *= 2;
    }
    let mut i = full([], 0i32);
    let mut found = full([], 0i32);
    let mut seen = zeros::<f32>([width]);
    while (i < n) & (found == 0) {
        let v = load(x + i);
        found = select(v < 0.0, 1, 0);
        seen = select(arange(width) == i % width, v, seen);
        i = i + 1;
    }
    store(out, i - found);
    store(out + 1 + arange(width), seen as i32);
}

fn main() -> Result<(), Error> {
    let device = Device::interpreter();
    let x = device.upload(&[3.0f32, 1.0, 2.0, -4.0, 5.0, -6.0])?;
    let out = device.zeros::<i32>(9)?;
    first_negative::launch(&device, 1, &x, &out, 6, 6)?;
    assert_eq!(out.to_vec()?, vec![3, 3, 1, 2, -4, 0, 0, 0, 0]);
    let none = device.upload(&[1.0f32, 2.0])?;
    first_negative::launch(&device, 1, &none, &out, 2, 6)?;
    assert_eq!(out.to_vec()?[0], 2);
    Ok(())
}
