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

/// The database a connection string names in its path (`mongodb://h/hrsm_platform?x=y` gives
/// `hrsm_platform`), percent-decoded; None when it names none.
pub fn database_of_uri(uri: &str) -> Option<String> {
    let rest = split_uri(uri)?.rest;
    let before_query = rest.split('?').next().unwrap_or(rest);
    let (_, path) = before_query.split_once('/')?;
    let name = percent_decode(path);
    (!name.is_empty()).then_some(name)
}

/// The server part of a connection string (scheme and hosts, lowercased and sorted), to tell
/// whether two URIs reach the same server whatever their user, database or options.
pub fn server_of_uri(uri: &str) -> Option<String> {
    let parts = split_uri(uri)?;
    let hosts = parts.rest.split(['/', '?']).next().unwrap_or("");
    let mut list: Vec<String> = hosts.split(',').map(|h| h.trim().to_ascii_lowercase()).collect();
    list.sort();
    Some(format!("{}://{}", parts.scheme.to_ascii_lowercase(), list.join(",")))
}

/// `%xx` escapes decoded (as the driver does for a database name); malformed ones kept.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_come_from_the_path() {
        assert_eq!(
            database_of_uri("mongodb://u:p@h:27017/hrsm_platform?authSource=admin").as_deref(),
            Some("hrsm_platform")
        );
        assert_eq!(database_of_uri("mongodb+srv://u:p@cluster.x.net/hrms?retryWrites=true").as_deref(), Some("hrms"));
        assert_eq!(database_of_uri("mongodb://h:1/hrsm%2Dlicenses").as_deref(), Some("hrsm-licenses"));
        assert_eq!(database_of_uri("mongodb://h:1/"), None);
        assert_eq!(database_of_uri("mongodb://h:1/%é%").as_deref(), Some("%é%"));
        assert_eq!(database_of_uri("mongodb://h:1"), None);
        assert_eq!(database_of_uri("mongodb://h:1/?replicaSet=rs"), None);
    }

    #[test]
    fn servers_compare_by_hosts() {
        assert_eq!(server_of_uri("mongodb://a:1,B:2/x"), server_of_uri("mongodb://u:p@b:2,a:1/y?z=1"));
        assert_ne!(server_of_uri("mongodb://a:1/x"), server_of_uri("mongodb://a:2/x"));
    }
}
