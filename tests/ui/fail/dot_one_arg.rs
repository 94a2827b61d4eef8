use bitmat::prelude::*;

#[bitkernel]
fn square(a: Ptr<f32>, c: Ptr<f32>, #[constexpr] block: i32) {
    let r = arange(block);
    let idx = r.unsqueeze(1) * block + r.unsqueeze(0);
    store(c + idx, dot(load(a + idx)));
}

fn main() {}
