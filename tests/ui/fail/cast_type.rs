use bitmat::prelude::*;

#[bitkernel]
fn to_text(x: Ptr<f32>, y: Ptr<i32>, #[constexpr] block: i32) {
    let offs = arange(block);
    store(y + offs, load(x + offs) as String);
}

fn main() {}
