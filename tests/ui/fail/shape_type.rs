use bitmat::prelude::*;

#[bitkernel]
fn fill(y: Ptr<f32>, #[constexpr] block: i32) {
    let v = zeros::<f32>(block);
    store(y + arange(block), v);
}

fn main() {}
