//! `.env` files as HR-SM's Node apps read them (the `dotenv` package), parsed with the
//! `dotenvy` crate into ordered (key, value) pairs. Nothing is put into this process's
//! environment, and no value is ever put into an error (a malformed line is named by its
//! number, not its text: it may hold a password).
//!
//! Two things differ from calling `dotenvy` on the file as it is:
//! - Node's `dotenv` never expands `$NAME`, but `dotenvy` does (from the file and from this
//!   process's environment), so a password such as `pa$$word` would come back mangled. Every
//!   `$` that dotenvy would expand is escaped first (`\$`, which dotenvy reads as a plain `$`).
//! - dotenvy's reader does not say on which line it failed, so each logical line (a quoted
//!   value may span several) is given to it on its own, and an error names that line.
//! - A comment (`#` after a space or right after `=`) is cut off before dotenvy sees it, so an
//!   apostrophe in it (`PORT=5000  # it's the API`) cannot open a quoted value.
//!
//! Depends on `error` only.

use std::path::Path;

use crate::error::{Error, Result};

/// Larger than any real `.env` file: a file over this size is not read.
pub const MAX_ENV_FILE: u64 = 1 << 20;

/// The (key, value) pairs of the `.env` file at `path`, in file order (a key given twice
/// appears twice; Node's dotenv takes the last).
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>> {
    let bytes = read_small(path, MAX_ENV_FILE)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Config(format!("{}: is not UTF-8 text, so it is not a .env file", path.display())))?;
    parse_env(&text, path)
}

/// Reads a file of at most `max` bytes (a larger one is refused).
pub(crate) fn read_small(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::Config(format!(
            "{}: is larger than {} KiB, too large for a settings file; it was not read",
            path.display(),
            max / 1024
        )));
    }
    Ok(bytes)
}

/// The pairs of `.env` text; `origin` names the file in errors.
pub fn parse_env(text: &str, origin: &Path) -> Result<Vec<(String, String)>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pairs = Vec::new();
    for chunk in logical_lines(text) {
        for item in dotenvy::from_read_iter(chunk.text.as_bytes()) {
            // dotenvy's error text quotes the line, which may hold a secret: never shown.
            let (key, value) = item.map_err(|_| {
                let what = if chunk.open_quote {
                    "a quoted value that starts here is never closed"
                } else {
                    "is not a KEY=VALUE line (values with spaces need quotes)"
                };
                Error::Config(format!("{}: line {}: {what}", origin.display(), chunk.line))
            })?;
            pairs.push((key, value));
        }
    }
    Ok(pairs)
}

/// One logical line of a dotenv file: its first line number (1-based) and its text, with `$`
/// escaped where dotenvy would expand it.
struct Chunk {
    line: usize,
    text: String,
    open_quote: bool,
}

/// dotenvy's line reader's states (its `QuotedLines`), followed here so that logical lines
/// and quoting are cut exactly as dotenvy will read them.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Complete,
    Escape,
    Strong,
    StrongEscape,
    Weak,
    WeakEscape,
    WhiteSpace,
    Comment,
}

fn logical_lines(text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut current: Option<Chunk> = None;
    let mut state = State::Complete;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let chunk = match current.as_mut() {
            Some(c) => c,
            None => {
                if line.trim_start().starts_with('#') || line.trim().is_empty() {
                    continue;
                }
                state = State::Complete;
                current.insert(Chunk { line: n + 1, text: String::new(), open_quote: false })
            }
        };
        let mut prev = '\n';
        for c in line.chars() {
            let unquoted = matches!(state, State::Complete | State::WhiteSpace);
            if unquoted && c == '#' && (prev == ' ' || prev == '\t' || prev == '=') {
                // A comment: left out, so that a quote in it (`# it's`) cannot open a value
                // (dotenvy's line reader would take it for one, Node's dotenv does not).
                state = State::Comment;
                if line.ends_with('\n') {
                    chunk.text.push('\n');
                }
                break;
            }
            if c == '$' && matches!(state, State::Complete | State::WhiteSpace | State::Weak) {
                chunk.text.push('\\');
            }
            chunk.text.push(c);
            prev = c;
            state = match (state, c) {
                (State::WhiteSpace | State::Complete, '\\') => State::Escape,
                (State::WhiteSpace | State::Complete, '"') => State::Weak,
                (State::WhiteSpace | State::Complete, '\'') => State::Strong,
                (State::Complete, c) if c.is_whitespace() && c != '\n' && c != '\r' => State::WhiteSpace,
                (State::WhiteSpace | State::Complete | State::Escape, _) => State::Complete,
                (State::Weak, '\\') => State::WeakEscape,
                (State::Weak, '"') => State::Complete,
                (State::WeakEscape, _) => State::Weak,
                (State::Strong, '\\') => State::StrongEscape,
                (State::Strong, '\'') => State::Complete,
                (State::StrongEscape, _) => State::Strong,
                (s, _) => s,
            };
        }
        if matches!(state, State::Complete | State::Comment) {
            out.extend(current.take());
        }
    }
    if let Some(mut c) = current {
        c.open_quote = matches!(state, State::Strong | State::StrongEscape | State::Weak | State::WeakEscape);
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<(String, String)> {
        parse_env(text, Path::new("site/.env")).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_quoted_commented_and_exported_values() {
        let text = "# HR-SM\nNODE_ENV=production\nPORT=5000  # it's the API port\n\nSMTP_PASS=\"p#ss w0rd\"\nAPI='single # kept'\n\
                    TENANT_MODE=single # or multi\nexport JWT_SECRET=abc\nEMPTY=\nURI=mongodb://u:p@h:1/db?a=b#x\n";
        assert_eq!(
            parse(text),
            pairs(&[
                ("NODE_ENV", "production"),
                ("PORT", "5000"),
                ("SMTP_PASS", "p#ss w0rd"),
                ("API", "single # kept"),
                ("TENANT_MODE", "single"),
                ("JWT_SECRET", "abc"),
                ("EMPTY", ""),
                ("URI", "mongodb://u:p@h:1/db?a=b#x"),
            ])
        );
    }

    #[test]
    fn crlf_line_ends_and_a_byte_order_mark() {
        let text =
            "\u{feff}MONGODB_URI=mongodb://h/hrsm_platform\r\nKEY=\"quoted\"\r\n# comment\r\nTZ=Africa/Cairo\r\n";
        assert_eq!(
            parse(text),
            pairs(&[("MONGODB_URI", "mongodb://h/hrsm_platform"), ("KEY", "quoted"), ("TZ", "Africa/Cairo")])
        );
    }

    /// Node's dotenv takes `$` literally; dotenvy alone would expand `$word` (to nothing) and
    /// `$HOME` from this process's environment.
    #[test]
    fn dollar_signs_are_taken_literally_as_node_does() {
        let text = "PASS=pa$$word\nHOME_REF=\"at $HOME/x\"\nSTRONG='$HOME'\nBRACED=${PATH}\nLAST=$\n";
        assert_eq!(
            parse(text),
            pairs(&[
                ("PASS", "pa$$word"),
                ("HOME_REF", "at $HOME/x"),
                ("STRONG", "$HOME"),
                ("BRACED", "${PATH}"),
                ("LAST", "$"),
            ])
        );
    }

    #[test]
    fn a_quoted_value_may_span_lines_and_keeps_its_line_numbers() {
        let text = "A=1\nKEY=\"-----BEGIN\nline two\n-----END\"\nB=2\nC\n";
        let err = parse_env(text, Path::new("x/.env")).unwrap_err().to_string();
        assert!(err.contains("x/.env: line 6"), "{err}");
        let ok = parse("A=1\nKEY=\"-----BEGIN\nline two\n-----END\"\nB=2\n");
        assert_eq!(ok[1], ("KEY".into(), "-----BEGIN\nline two\n-----END".into()));
        assert_eq!(ok[2], ("B".into(), "2".into()));
    }

    #[test]
    fn an_empty_file_has_no_pairs() {
        assert!(parse("").is_empty());
        assert!(parse("\n\n# only comments\n   \n").is_empty());
        assert!(parse("\u{feff}").is_empty());
    }

    #[test]
    fn nonsense_is_refused_by_line_without_showing_the_line() {
        for (text, line) in [
            ("A=1\nthis is not an env file\n", 2),
            ("A=1\nB=2\nMONGODB_URI=mongodb://u:secretpw@h/db extra\n", 3),
            ("{\"json\": true}\n", 1),
            ("A=1\nB='secretpw\nC=3\n", 2),
            ("=value\n", 1),
        ] {
            let err = parse_env(text, Path::new("/srv/hr-sm/.env")).unwrap_err().to_string();
            assert!(err.contains(&format!("/srv/hr-sm/.env: line {line}:")), "{text:?}: {err}");
            assert!(!err.contains("secretpw"), "{err}");
        }
        let err = parse_env("A=1\nB='open\n", Path::new(".env")).unwrap_err().to_string();
        assert!(err.contains("line 2: a quoted value that starts here is never closed"), "{err}");
    }

    #[test]
    fn files_that_cannot_be_read_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.env");
        let err = read_env_file(&missing).unwrap_err().to_string();
        assert!(err.contains("nope.env"), "{err}");
        let binary = dir.path().join("bin.env");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x41]).unwrap();
        let err = read_env_file(&binary).unwrap_err().to_string();
        assert!(err.contains("bin.env") && err.contains("UTF-8"), "{err}");
        let big = dir.path().join("big.env");
        std::fs::write(&big, vec![b'#'; MAX_ENV_FILE as usize + 1]).unwrap();
        assert!(read_env_file(&big).unwrap_err().to_string().contains("too large"));
        let good = dir.path().join(".env");
        std::fs::write(&good, "A=1\n").unwrap();
        assert_eq!(read_env_file(&good).unwrap(), pairs(&[("A", "1")]));
    }
}
