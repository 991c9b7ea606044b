//! Writes tests/vectors/*.vec from tests/common/vectorgen.rs:
//! `cargo run --example gen_vectors`.

#[path = "../tests/common/vectorgen.rs"]
mod vectorgen;

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    std::fs::create_dir_all(&dir)?;
    for v in vectorgen::all() {
        std::fs::write(dir.join(format!("{}.vec", v.name)), v.to_text())?;
    }
    println!("wrote {} vectors to {}", vectorgen::all().len(), dir.display());
    Ok(())
}
