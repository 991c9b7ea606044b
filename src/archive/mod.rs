//! The archive format and nothing else (docs/FORMAT.md): the authenticated chunked container
//! (`crypto`, `container`), the parallel gzip payload (`pipeline`, `payload`), the tar layer
//! (`pack` writes, `unpack` reads), the manifest, and `rules`: what an archive may hold and a
//! restore may create.
//!
//! Depends on the base modules (`progress`, `digest`) and `error` only.

pub mod container;
pub mod crypto;
pub mod manifest;
pub mod pack;
pub mod payload;
pub mod pipeline;
pub mod rules;
pub mod unpack;
