// embed_migrations! reads migrations/ at compile time, but cargo only notices changes to the
// files it read: without this, a NEW migration directory is silently missing from the binary
// (and from the test binaries) until some Rust source changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
