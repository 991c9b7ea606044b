//! Pure decisions, no I/O, tested as plain functions: when to run (`schedule`) and what to
//! keep (`retention`).
//!
//! Depends on `config`, `store::catalog` (the entries it reasons about) and `error`.

pub mod retention;
pub mod schedule;
