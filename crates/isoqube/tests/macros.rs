//! Misuse of `#[event]` / `#[consumer]` is a compile error pointing at the code
//! (expected messages in `tests/compile_fail/*.stderr`).

#[test]
fn misuse_is_a_compile_error() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
