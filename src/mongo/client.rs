//! Connecting to MongoDB with the official driver (sync API): bounded timeouts, a URI that is
//! never shown with its password, and driver errors turned into messages an admin can act on.
//!
//! Depends on `mongodb` and `error`.

use std::time::Duration;

use bson::{doc, Document};
use mongodb::options::ClientOptions;
use mongodb::sync::Client;

use crate::error::{Error, Result};

pub use crate::uri::{redact_uri, split_uri, with_password, without_password, UriParts};

/// Hosts of the URI, for "cannot reach" messages.
pub fn hosts(uri: &str) -> String {
    let rest = split_uri(uri).map(|p| p.rest).unwrap_or(uri);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}

/// Turns a driver error into an actionable message.
pub fn explain(uri: &str, what: &str, e: mongodb::error::Error) -> Error {
    use mongodb::error::ErrorKind;
    let message = match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } => format!(
            "cannot reach MongoDB at {} while trying to {what}; check that the server is running and that MONGODB_URI / mongodb.uri is right",
            hosts(uri)
        ),
        ErrorKind::Authentication { .. } => format!(
            "MongoDB at {} rejected the credentials while trying to {what}; check the user name and password in MONGODB_URI (and authSource)",
            hosts(uri)
        ),
        ErrorKind::Io(io) => format!(
            "the MongoDB server at {} went away while trying to {what} ({}); check that it is still running, then try again",
            hosts(uri),
            crate::error::describe_io(io)
        ),
        ErrorKind::ConnectionPoolCleared { .. } => format!(
            "the connection to MongoDB at {} was lost while trying to {what}; check that the server is still running, then try again",
            hosts(uri)
        ),
        ErrorKind::InvalidArgument { message, .. } => format!("the MongoDB URI is not valid ({message}); check MONGODB_URI / mongodb.uri"),
        ErrorKind::Command(c) => format!("MongoDB refused to {what}: {} (error {} {})", c.message, c.code, c.code_name),
        ErrorKind::InsertMany(ie) => {
            let first = ie.write_errors.as_ref().and_then(|w| w.first()).map(|w| format!("{} (error {})", w.message, w.code));
            let n = ie.write_errors.as_ref().map(|w| w.len()).unwrap_or(0);
            format!("MongoDB refused to {what}: {n} document(s) failed, first: {}", first.unwrap_or_else(|| "write concern error".into()))
        }
        ErrorKind::Write(mongodb::error::WriteFailure::WriteError(w)) => format!("MongoDB refused to {what}: {} (error {})", w.message, w.code),
        _ => {
            // Driver messages can quote the URI; never let a password through.
            let text = e.to_string().replace(uri, &redact_uri(uri));
            format!("MongoDB error while trying to {what}: {text}")
        }
    };
    Error::Mongo(message)
}

/// A connected client (server selection is lazy; `ping` proves the server answers).
/// Checks that `uri` is a MongoDB connection string the driver accepts, without connecting
/// (no network: an SRV URI is checked for its form only).
pub fn check_uri(uri: &str) -> Result<()> {
    let parsed = mongodb::options::ConnectionString::parse(uri);
    parsed.map(|_| ()).map_err(|e| Error::Config(format!("the MongoDB URI is not valid: {}", e.kind)))
}

/// A server that does not answer within 2 s is reported as unreachable: a backup's progress
/// bar must not sit frozen for 10 s or more. That first look is a client of its own: the
/// client returned waits up to 10 s for the server during the run, so a busy server's pause
/// does not fail a long dump (a URI's own `serverSelectionTimeoutMS` wins for both).
pub fn connect(uri: &str) -> Result<Client> {
    drop(connect_within(uri, Duration::from_secs(2))?);
    connect_within(uri, Duration::from_secs(10))
}

/// As `connect`, giving up after `wait` when nothing answers (a "test the connection" button
/// answers in seconds, not after the driver's 30).
pub fn connect_within(uri: &str, wait: Duration) -> Result<Client> {
    let mut opts = ClientOptions::parse(uri).run().map_err(|e| explain(uri, "read the connection string", e))?;
    opts.app_name = Some("hrsm-backup".into());
    opts.server_selection_timeout = Some(opts.server_selection_timeout.unwrap_or(wait).min(Duration::from_secs(30)));
    opts.connect_timeout = Some(opts.connect_timeout.unwrap_or(Duration::from_secs(10)));
    let client = Client::with_options(opts).map_err(|e| explain(uri, "connect", e))?;
    client.database("admin").run_command(doc! {"ping": 1}).run().map_err(|e| explain(uri, "connect", e))?;
    Ok(client)
}

/// What kind of deployment answers: replica set (snapshot reads possible) or standalone.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: String,
    pub replica_set: Option<String>,
}

pub fn server_info(client: &Client, uri: &str) -> Result<ServerInfo> {
    let admin = client.database("admin");
    let hello: Document =
        admin.run_command(doc! {"hello": 1}).run().map_err(|e| explain(uri, "ask the server what it is", e))?;
    let build: Document =
        admin.run_command(doc! {"buildInfo": 1}).run().map_err(|e| explain(uri, "read the server version", e))?;
    Ok(ServerInfo {
        version: build.get_str("version").unwrap_or("unknown").to_string(),
        replica_set: hello.get_str("setName").ok().map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_uri("mongodb://admin:s3cret@db1:27017,db2/hrms?authSource=admin"),
            "mongodb://admin:***@db1:27017,db2/hrms?authSource=admin"
        );
        assert_eq!(redact_uri("mongodb://db:27017"), "mongodb://db:27017");
        assert_eq!(hosts("mongodb://a:b@h1:1,h2:2/?x=y"), "h1:1,h2:2");
        // A password with an unescaped '/' or '@' is still found and never shown.
        assert_eq!(redact_uri("mongodb://admin:pa/s@s@db:27017/?tls=true"), "mongodb://admin:***@db:27017/?tls=true");
        assert_eq!(without_password("mongodb://admin:pa/ss@db/?x=1"), "mongodb://admin@db/?x=1");
        assert_eq!(with_password("mongodb://admin:***@db2/", "s3cret"), "mongodb://admin:s3cret@db2/");
        assert!(crate::config::uri_has_password("mongodb://admin:pa/ss@db"));
    }
}
