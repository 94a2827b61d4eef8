// Jumps that are decided at specialization compile: `return` in an `if` on a constexpr,
// `break`/`continue` in a Rust loop inside a runtime `range` loop, and `return` in a closure.
use bitmat::prelude::*;

#[bitkernel]
fn jumps(x: Ptr<f32>, n: i32, #[constexpr] block: i32, #[constexpr] skip: bool) {
    if skip {
        return;
    }
    let offs = program_id(0) * block + arange(block);
    let scale = |s: f32| -> f32 {
        if s > 1.0 {
            return 1.0;
        }
        s
    };
    for k in range(0, n, block) {
        let mut v = load(x + k + offs, k + offs < n, 0.0);
        for j in 0..4 {
            if j == 1 {
                continue;
            }
            if j == 3 {
                break;
            }
            v = v * scale(2.0);
        }
        store(x + k + offs, v, k + offs < n);
    }
}

fn main() {
    let dev = Device::interpreter();
    let x = dev.upload(&[1.0f32, 2.0, 3.0]).unwrap();
    jumps::launch(&dev, 1, &x, 3, 4, false).unwrap();
    assert_eq!(x.to_vec().unwrap(), vec![1.0, 2.0, 3.0]);
    jumps::launch(&dev, 1, &x, 3, 4, true).unwrap();
}
