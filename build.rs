// Rebuild when a migration is added: `sqlx::migrate!` and the SQLite migrator
// embed the files at build time.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
