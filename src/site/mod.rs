//! Discovery of a real HR-SM site's own settings (its `.env` files and PM2 ecosystem files),
//! read as text and never run, so the admin confirms what was found instead of retyping it.
//! `envfile` reads dotenv files, `jsconfig` PM2's JavaScript object literals, `discover` puts
//! them together the way Node and PM2 would and masks every secret it shows.
//!
//! Platform layer: depends on `config`, `uri`, `error` and `fsutil` only.

pub mod apply;
pub mod discover;
pub mod envfile;
pub mod jsconfig;
