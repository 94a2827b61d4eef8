//! The `#[bitkernel]` macro's compile-time contract: what compiles (and runs) and what is
//! rejected, with the error messages a kernel author sees.
//!
//! Regenerate the expected `.stderr` files with `TRYBUILD=overwrite cargo test --test trybuild`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
