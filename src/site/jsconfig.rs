//! PM2 ecosystem files (`ecosystem.config.js` / `.cjs`) read without running them: the object
//! literal after `module.exports =` (or `export default`) is parsed as JSON5 (the `json5`
//! crate: unquoted keys, single quotes, comments, trailing commas), and each app's `name`,
//! `cwd`, `script`, `env` and `env_production` are taken from it. No value is ever put into an
//! error or a note: they may hold passwords.
//!
//! A file whose literal holds code (`process.env.X || 'y'`, `require(...)`, a variable) is not
//! JSON5. Before giving up, a tolerant scan of its tokens picks the plain `KEY: 'value'` pairs
//! (strings, numbers, booleans) of every `env` block and names the keys whose values are code.
//! Why: on real sites that file is where PM2 puts the `MONGODB_URI` that wins over `.env`
//! (PM2 sets it before the app starts; dotenv never overrides it), and one computed value
//! elsewhere in the file (a `deploy` path, a `require` at the top) must not make us fall back
//! to `.env`'s URI, which may name another password or database. The scan never guesses a
//! computed value: the caller is told which keys were code and says so to the admin.
//!
//! Depends on `error` (and `envfile`'s size-limited read).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// Larger than any real ecosystem file.
pub const MAX_JS_FILE: u64 = 4 << 20;

/// One entry of `apps`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PmApp {
    pub name: Option<String>,
    pub cwd: Option<String>,
    pub script: Option<String>,
    /// The `env` block: what PM2 sets for a plain `pm2 start`.
    pub env: Vec<(String, String)>,
    /// The `env_production` block, which `pm2 start … --env production` puts over `env`.
    pub env_production: Vec<(String, String)>,
    /// Keys of `env` / `env_production` whose values are code (found by the tolerant scan
    /// only); their values are unknown.
    pub code_keys: Vec<String>,
}

/// What an ecosystem file says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PmConfig {
    pub apps: Vec<PmApp>,
    /// Set when the file is not a plain literal and only its plain `env` pairs were read: the
    /// message names the file and the first line that is code.
    pub partial: Option<String>,
}

impl PmApp {
    /// The app's values in PM2's order of precedence: `env_production` first, then `env`;
    /// each with the block it came from.
    pub fn values(&self) -> impl Iterator<Item = (&'static str, &str, &str)> {
        let prod = self.env_production.iter().rev().map(|(k, v)| ("env_production", k.as_str(), v.as_str()));
        let env = self.env.iter().rev().map(|(k, v)| ("env", k.as_str(), v.as_str()));
        prod.chain(env)
    }

    /// The value PM2 would set for `key`, with its block (the last of a key given twice wins,
    /// as in JavaScript).
    pub fn get(&self, key: &str) -> Option<(&'static str, &str)> {
        self.values().find(|(_, k, _)| *k == key).map(|(block, _, v)| (block, v))
    }
}

/// Reads and parses the ecosystem file at `path`.
pub fn read_ecosystem(path: &Path) -> Result<PmConfig> {
    let bytes = super::envfile::read_small(path, MAX_JS_FILE)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Config(format!("{}: is not UTF-8 text, so it is not a PM2 ecosystem file", path.display()))
    })?;
    parse_ecosystem(&text, path)
}

/// Parses ecosystem file text; `origin` names the file in messages.
pub fn parse_ecosystem(text: &str, origin: &Path) -> Result<PmConfig> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let tokens = tokenize(text);
    let why = match literal_start(&tokens) {
        Some(start) => {
            let mut de = json5::Deserializer::from_str(&text[start..]);
            match Value::deserialize(&mut de) {
                Ok(v) => return from_value(&v, origin),
                Err(e) => {
                    let line = line_of(text, start) + e.position().map_or(0, |p| p.line);
                    let code = e.code().map_or_else(|| "not a plain value".to_string(), |c| c.to_string());
                    format!("{}: line {line}: {code}: the object after module.exports is not a plain literal (a value there is code, such as process.env.X || '...' or require(...))", origin.display())
                }
            }
        }
        None => format!(
            "{}: has no `module.exports = {{ ... }}` or `export default {{ ... }}` object literal",
            origin.display()
        ),
    };
    // hrsm-backup reads the file, never runs it; what the scan cannot read stays unknown.
    let advice =
        "hrsm-backup reads PM2 files without running them; set the values it needs in hrsm-backup's config instead";
    let apps = scan_env_blocks(&tokens);
    if apps.is_empty() {
        return Err(Error::Config(format!("{why}; {advice}")));
    }
    let mut code: Vec<&str> = Vec::new();
    for k in apps.iter().flat_map(|a| &a.code_keys) {
        if !code.contains(&k.as_str()) {
            code.push(k);
        }
    }
    let unread = if code.is_empty() { String::new() } else { format!(" (not read, being code: {})", code.join(", ")) };
    Ok(PmConfig {
        apps,
        partial: Some(format!(
            "{why}; only the plain 'KEY: value' pairs of its env blocks were read{unread}; {advice}"
        )),
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

fn from_value(v: &Value, origin: &Path) -> Result<PmConfig> {
    let apps = match v.get("apps") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => {
            return Err(Error::Config(format!(
                "{}: its exported object has no `apps` list, so it is not a PM2 ecosystem file; set the values hrsm-backup needs in its config instead",
                origin.display()
            )))
        }
    };
    let text = |app: &Value, key: &str| app.get(key).and_then(Value::as_str).map(str::to_string);
    let block = |app: &Value, key: &str| -> Vec<(String, String)> {
        match app.get(key) {
            Some(Value::Object(map)) => map.iter().filter_map(|(k, v)| Some((k.clone(), plain(v)?))).collect(),
            _ => vec![],
        }
    };
    Ok(PmConfig {
        apps: apps
            .into_iter()
            .map(|app| PmApp {
                name: text(app, "name"),
                cwd: text(app, "cwd"),
                script: text(app, "script"),
                env: block(app, "env"),
                env_production: block(app, "env_production"),
                code_keys: vec![],
            })
            .collect(),
        partial: None,
    })
}

/// What PM2 puts in the environment for a value: strings as they are, numbers and booleans as
/// text; objects, arrays and null are left out.
fn plain(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal, decoded; a template literal without `${` counts as one.
    Str(String),
    Num(String),
    Punct(char),
    /// Anything else (a template literal with `${`, a stray character).
    Code,
}

/// JavaScript tokens with their byte offsets, comments and whitespace left out. Enough of the
/// language for object literals; a regular expression literal may come out as odd tokens,
/// which at worst makes a pair unreadable, never a wrong value.
fn tokenize(text: &str) -> Vec<(usize, Tok)> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match c {
            c if c.is_whitespace() => {}
            '/' if it.peek().map(|p| p.1) == Some('/') => {
                for (_, c) in it.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if it.peek().map(|p| p.1) == Some('*') => {
                it.next();
                let mut star = false;
                for (_, c) in it.by_ref() {
                    if star && c == '/' {
                        break;
                    }
                    star = c == '*';
                }
            }
            '\'' | '"' | '`' => {
                let mut s = String::new();
                let mut code = false;
                while let Some((_, d)) = it.next() {
                    match d {
                        d if d == c => break,
                        '\\' => match it.next().map(|p| p.1) {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some('\n') | None => {}
                            Some(e) => s.push(e),
                        },
                        '$' if c == '`' && it.peek().map(|p| p.1) == Some('{') => {
                            code = true;
                            s.push(d);
                        }
                        '\n' if c != '`' => break,
                        d => s.push(d),
                    }
                }
                out.push((i, if code { Tok::Code } else { Tok::Str(s) }));
            }
            c if c.is_ascii_digit() || (c == '.' && it.peek().is_some_and(|p| p.1.is_ascii_digit())) => {
                let mut s = c.to_string();
                while let Some(&(_, d)) = it.peek() {
                    if !(d.is_ascii_alphanumeric() || d == '.' || d == '_') {
                        break;
                    }
                    s.push(d);
                    it.next();
                }
                out.push((i, Tok::Num(s)));
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let mut s = c.to_string();
                while let Some(&(_, d)) = it.peek() {
                    if !(d.is_alphanumeric() || d == '_' || d == '$') {
                        break;
                    }
                    s.push(d);
                    it.next();
                }
                out.push((i, Tok::Ident(s)));
            }
            c if "{}[](),:;.=|&?!+-*<>%".contains(c) => out.push((i, Tok::Punct(c))),
            _ => out.push((i, Tok::Code)),
        }
    }
    out
}

/// The byte offset of the `{` after `module.exports =` or `export default`.
fn literal_start(tokens: &[(usize, Tok)]) -> Option<usize> {
    let ident = |t: &Tok, s: &str| matches!(t, Tok::Ident(x) if x == s);
    for (i, (_, t)) in tokens.iter().enumerate() {
        let rest = &tokens[i + 1..];
        let brace = if ident(t, "module")
            && rest.len() >= 4
            && rest[0].1 == Tok::Punct('.')
            && ident(&rest[1].1, "exports")
            && rest[2].1 == Tok::Punct('=')
        {
            rest.get(3)
        } else if ident(t, "export") && rest.first().is_some_and(|t| ident(&t.1, "default")) {
            rest.get(1)
        } else {
            None
        };
        if let Some((at, Tok::Punct('{'))) = brace {
            return Some(*at);
        }
    }
    None
}

/// The tolerant scan: every `env` / `env_production` object in the file, its plain pairs, and
/// the app object around it (its `name`, `cwd`, `script`, wherever they are in it).
fn scan_env_blocks(tokens: &[(usize, Tok)]) -> Vec<PmApp> {
    #[derive(Default, Clone)]
    struct Frame {
        name: Option<String>,
        cwd: Option<String>,
        script: Option<String>,
    }
    // Each `{` opens a frame; env blocks remember the frame of the object that holds them.
    let mut frames: Vec<Frame> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    // (frame of the object holding it, env_production?, plain pairs, keys that are code)
    type Block = (usize, bool, Vec<(String, String)>, Vec<String>);
    let mut found: Vec<Block> = Vec::new();
    let key_of = |t: &Tok| match t {
        Tok::Ident(s) | Tok::Str(s) => Some(s.clone()),
        _ => None,
    };
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i].1;
        match t {
            Tok::Punct('{') => {
                frames.push(Frame::default());
                open.push(frames.len() - 1);
            }
            Tok::Punct('}') => {
                open.pop();
            }
            _ => {}
        }
        let key = key_of(t);
        let is_key = tokens.get(i + 1).is_some_and(|n| n.1 == Tok::Punct(':'));
        if let (Some(key), true, Some(&frame)) = (key, is_key, open.last()) {
            let value = tokens.get(i + 2).map(|v| &v.1);
            match (key.as_str(), value) {
                ("name" | "cwd" | "script", Some(Tok::Str(s))) => {
                    let f = &mut frames[frame];
                    let slot = match key.as_str() {
                        "name" => &mut f.name,
                        "cwd" => &mut f.cwd,
                        _ => &mut f.script,
                    };
                    *slot = Some(s.clone());
                }
                ("env" | "env_production", Some(Tok::Punct('{'))) => {
                    let (pairs, code, end) = scan_block(tokens, i + 3);
                    found.push((frame, key == "env_production", pairs, code));
                    i = end;
                    continue;
                }
                _ => {}
            }
        }
        i += 1;
    }
    // One app per object holding env blocks, in the order they appear.
    let mut apps: Vec<(usize, PmApp)> = Vec::new();
    for (frame, production, pairs, code) in found {
        let pos = match apps.iter().position(|(f, _)| *f == frame) {
            Some(p) => p,
            None => {
                let f = frames[frame].clone();
                apps.push((frame, PmApp { name: f.name, cwd: f.cwd, script: f.script, ..Default::default() }));
                apps.len() - 1
            }
        };
        let app = &mut apps[pos].1;
        if production {
            app.env_production.extend(pairs);
        } else {
            app.env.extend(pairs);
        }
        app.code_keys.extend(code);
    }
    apps.into_iter().map(|(_, a)| a).collect()
}

/// Reads `KEY: value` pairs from just after an env block's `{` to its `}`: the plain ones, the
/// keys whose values are code, and the index after the block.
fn scan_block(tokens: &[(usize, Tok)], mut i: usize) -> (Vec<(String, String)>, Vec<String>, usize) {
    let mut pairs = Vec::new();
    let mut code = Vec::new();
    loop {
        // One member: up to the `,` or `}` at this block's depth.
        let start = i;
        let mut depth = 0i32;
        while i < tokens.len() {
            match tokens[i].1 {
                Tok::Punct('{' | '[' | '(') => depth += 1,
                Tok::Punct('}' | ']' | ')') if depth > 0 => depth -= 1,
                Tok::Punct(',' | '}') if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let member: Vec<&Tok> = tokens[start..i].iter().map(|t| &t.1).collect();
        match member.as_slice() {
            [] => {}
            [Tok::Ident(k) | Tok::Str(k) | Tok::Num(k), Tok::Punct(':'), value] => match value {
                Tok::Str(v) | Tok::Num(v) => pairs.push((k.clone(), v.clone())),
                Tok::Ident(b) if b == "true" || b == "false" => pairs.push((k.clone(), b.clone())),
                _ => code.push(k.clone()),
            },
            [Tok::Ident(k) | Tok::Str(k), Tok::Punct(':'), Tok::Punct('-'), Tok::Num(n)] => {
                pairs.push((k.clone(), format!("-{n}")))
            }
            [Tok::Ident(k) | Tok::Str(k) | Tok::Num(k), Tok::Punct(':'), ..] | [Tok::Ident(k)] => code.push(k.clone()),
            _ => code.push("(a computed entry)".into()),
        }
        match tokens.get(i).map(|t| &t.1) {
            Some(Tok::Punct(',')) => i += 1,
            _ => return (pairs, code, i + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PmConfig {
        parse_ecosystem(text, Path::new("/var/www/hr-sm/ecosystem.config.js")).unwrap()
    }

    fn env(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const REAL_SHAPE: &str = r#"// PM2 ecosystem file of HR-SM
module.exports = {
  apps: [
    {
      name: 'hrsm-backend',
      script: 'server/index.js',
      cwd: '/var/www/hr-sm',
      instances: 2,
      exec_mode: 'cluster',
      watch: false,
      env: {
        NODE_ENV: 'production',
        PORT: 5000,
        MONGODB_URI: 'mongodb://hrsm:pw@127.0.0.1:27017/hrsm_platform', // PM2's value wins
        BACKUPS_ENABLED: true,
        "TZ": "Africa/Cairo",
      },
      env_development: { NODE_ENV: 'development', MONGODB_URI: 'mongodb://localhost/dev' },
      /* logs */
      error_file: './logs/err.log',
      ignore_watch: ['node_modules', 'logs'],
    },
  ],
  deploy: {
    production: {
      user: 'deploy',
      'pre-deploy-local': '',
      'post-deploy': 'npm install && pm2 reload ecosystem.config.js --env production',
    },
  },
};
"#;

    #[test]
    fn the_real_shape_parses_as_a_literal() {
        let c = parse(REAL_SHAPE);
        assert_eq!(c.partial, None);
        assert_eq!(c.apps.len(), 1);
        let app = &c.apps[0];
        assert_eq!(app.name.as_deref(), Some("hrsm-backend"));
        assert_eq!(app.cwd.as_deref(), Some("/var/www/hr-sm"));
        assert_eq!(
            app.env,
            env(&[
                ("NODE_ENV", "production"),
                ("PORT", "5000"),
                ("MONGODB_URI", "mongodb://hrsm:pw@127.0.0.1:27017/hrsm_platform"),
                ("BACKUPS_ENABLED", "true"),
                ("TZ", "Africa/Cairo"),
            ])
        );
        assert_eq!(app.get("MONGODB_URI").map(|x| x.0), Some("env"));
    }

    #[test]
    fn export_default_cjs_crlf_and_bom() {
        let text = "\u{feff}export default {\r\n  apps: [{ name: 'lic', env: { PORT: 5001 }, env_production: { PORT: 443, }, }],\r\n}\r\n";
        let c = parse(text);
        assert_eq!(c.apps[0].get("PORT"), Some(("env_production", "443")));
        assert_eq!(c.apps[0].env, env(&[("PORT", "5001")]));
    }

    #[test]
    fn code_in_the_literal_falls_back_to_the_plain_env_pairs() {
        let text = "const path = require('path');\nmodule.exports = {\n  apps: [{\n    name: 'hrsm-backend',\n    cwd: path.join(__dirname),\n    env: {\n      MONGODB_URI: 'mongodb://u:secretpw@h/hrsm_platform', // the real one\n      JWT_SECRET: process.env.JWT_SECRET || 'dev',\n      PORT: 5000,\n      OFFSET: -2,\n      URL: `http://x`,\n      HOST: `${HOST}`,\n    },\n  }],\n};\n";
        let c = parse(text);
        let app = &c.apps[0];
        assert_eq!(app.name.as_deref(), Some("hrsm-backend"));
        assert_eq!(app.cwd, None);
        assert_eq!(
            app.env,
            env(&[
                ("MONGODB_URI", "mongodb://u:secretpw@h/hrsm_platform"),
                ("PORT", "5000"),
                ("OFFSET", "-2"),
                ("URL", "http://x")
            ])
        );
        assert_eq!(app.code_keys, vec!["JWT_SECRET", "HOST"]);
        let note = c.partial.unwrap();
        assert!(note.starts_with("/var/www/hr-sm/ecosystem.config.js: line 5:"), "{note}");
        assert!(note.contains("not read, being code: JWT_SECRET, HOST") && note.contains("config"), "{note}");
        assert!(!note.contains("secretpw"), "{note}");
    }

    #[test]
    fn a_file_that_is_not_a_literal_is_refused_by_name() {
        for text in [
            "const config = require('./pm2.json');\nmodule.exports = config;\n",
            "module.exports = require('./base')({ port: process.env.PORT || 5000 });\n",
            "",
            "this is not javascript at all {{{ ''' ",
            "{\"apps\": []",
            "module.exports = { apps: 'nonsense' };",
        ] {
            let err = parse_ecosystem(text, Path::new("/srv/ecosystem.config.cjs")).unwrap_err().to_string();
            assert!(err.contains("/srv/ecosystem.config.cjs"), "{text:?}: {err}");
            assert!(
                err.contains("in hrsm-backup's config instead") || err.contains("in its config instead"),
                "{text:?}: {err}"
            );
        }
        let err =
            parse_ecosystem("module.exports = {\n  apps: [ { env: { A: process.env.A } } ],\n}", Path::new("e.js"));
        let c = err.unwrap();
        assert_eq!(c.apps[0].code_keys, vec!["A"]);
        assert!(c.partial.unwrap().contains("e.js: line 2:"));
    }

    #[test]
    fn two_apps_and_strings_that_look_like_comments() {
        let text = "module.exports = { apps: [\n { name: 'a', env: { U: 'mongodb://h//x /* no */', N: 'it\\'s' } },\n { env: { U: \"b\" }, name: 'b' },\n] }";
        let c = parse(text);
        assert_eq!(c.apps.len(), 2);
        assert_eq!(c.apps[0].env, env(&[("U", "mongodb://h//x /* no */"), ("N", "it's")]));
        assert_eq!(c.apps[1].name.as_deref(), Some("b"));
        // The same through the scan (a computed value elsewhere forces it).
        let scanned = parse(&text.replace("name: 'b'", "name: 'b', x: f()"));
        assert!(scanned.partial.is_some());
        assert_eq!(scanned.apps[0].env, c.apps[0].env);
        assert_eq!(scanned.apps[1].name.as_deref(), Some("b"));
        assert_eq!(scanned.apps[1].env, env(&[("U", "b")]));
    }
}
