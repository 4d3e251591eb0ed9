//! Build metadata for `airlock-verify --version` (see build-support/version.rs).

include!("../../build-support/version.rs");

fn main() {
    emit_version();
}
