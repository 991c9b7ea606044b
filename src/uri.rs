//! MongoDB connection strings as text: split into parts, password removed, redacted or put
//! back. Pure string work (no driver), so that configuration, logs and messages can handle
//! URIs without a connection and never show a password.
//!
//! Depends on nothing else in the crate.

/// The parts of a connection string: scheme, user, password, and everything after the `@`
/// (hosts, path, options). The user info ends at the last `@` before any `?`, so a password
/// with a stray `/` or `@` (which should have been percent-encoded) is still found.
pub struct UriParts<'a> {
    pub scheme: &'a str,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub rest: &'a str,
}

pub fn split_uri(uri: &str) -> Option<UriParts<'_>> {
    let (scheme, after) = uri.split_once("://")?;
    let before_query = after.split('?').next().unwrap_or(after);
    match before_query.rfind('@') {
        Some(at) => {
            let userinfo = &after[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            Some(UriParts { scheme, user: Some(user), password, rest: &after[at + 1..] })
        }
        None => Some(UriParts { scheme, user: None, password: None, rest: after }),
    }
}

/// The URI with any password replaced by `***`, for messages and logs.
pub fn redact_uri(uri: &str) -> String {
    match split_uri(uri) {
        Some(UriParts { scheme, user: Some(user), password: Some(_), rest }) => format!("{scheme}://{user}:***@{rest}"),
        Some(_) => uri.to_string(),
        None => "<invalid URI>".into(),
    }
}

/// The URI without its password (`scheme://user@hosts...`), for the config file.
pub fn without_password(uri: &str) -> String {
    match split_uri(uri) {
        Some(UriParts { scheme, user: Some(user), password: Some(_), rest }) => format!("{scheme}://{user}@{rest}"),
        _ => uri.to_string(),
    }
}

/// `uri` with `password` put in (replacing a `***` placeholder or any password there).
pub fn with_password(uri: &str, password: &str) -> String {
    match split_uri(uri) {
        Some(UriParts { scheme, user: Some(user), rest, .. }) => format!("{scheme}://{user}:{password}@{rest}"),
        _ => uri.to_string(),
    }
}
