//! A realistic HR-SM installation tree for tests, with the real relative paths of
//! HR-SM's own source (github.com/Haitham0Reda/HR-SM): uploads in all three places, the configuration files
//! (root `.env`, PM2 `ecosystem.config.js` shaped like HR-SM's, `config/`, `server/config/`,
//! the license server's `.env` and `ecosystem.config.cjs`), fresh RSA key pairs made by the
//! `openssl` command, and the junk a backup must leave out (several `node_modules` with `.bin`
//! links, `client/build`, logs, old backups, `*.tmp`, an unreadable folder outside every
//! include). Every byte of the uploads comes from a seeded RNG, so a tree is the same each run
//! (the RSA keys excepted). `SiteFacts` says what tests assert on.
//!
//! Used by the integration tests (`tests/it/mod.rs` includes it as `it::site`); shared by
//! several test areas, so not every item is used by each.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where the site's MongoDB servers are (point them at a test server to back the site up for
/// real). `credentials: false` leaves user and password out of the URIs (for a server without
/// authentication); the passwords are still in `SiteFacts::secrets` for no-leak checks.
#[derive(Debug, Clone)]
pub struct SiteOptions {
    pub mongo_host: String,
    pub mongo_port: u16,
    pub license_host: String,
    pub license_port: u16,
    pub credentials: bool,
    /// Seed of every random byte of the uploads and of the generated secrets.
    pub seed: u64,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions {
            mongo_host: "127.0.0.1".into(),
            mongo_port: 27017,
            license_host: "127.0.0.1".into(),
            license_port: 27017,
            credentials: true,
            seed: 11,
        }
    }
}

/// What a test needs to know about a built site. Paths in `keep`, `junk` and `code` are
/// relative to `root`.
#[derive(Debug, Clone)]
pub struct SiteFacts {
    pub root: PathBuf,
    /// The company slug of `uploads/<slug>/license.json` and `server/uploads/<slug>/`.
    pub company: String,
    /// The main app's URI that PM2 sets (`ecosystem.config.js`, apps[0].env): the effective one.
    pub mongodb_uri: String,
    /// The main app's URI in the root `.env` (same server and database, an older password):
    /// PM2's value wins over it.
    pub mongodb_uri_dotenv: String,
    /// The license server's URI (`hrsm-license-server/.env`; its ecosystem file sets none).
    pub license_uri: String,
    /// Database named in `mongodb_uri` (`hrsm_platform`, as on real sites).
    pub main_db: String,
    /// Database named in `license_uri` (`hrsm_license_db`).
    pub license_db: String,
    /// `BACKUP_ENCRYPTION_KEY` of the root `.env` (64 hex characters).
    pub encryption_key: String,
    /// `BACKUP_TIMEZONE` of the root `.env`.
    pub timezone: String,
    /// `BACKUPS_ENABLED` as PM2 sets it (`ecosystem.config.js`; the `.env` says the opposite).
    pub backups_enabled: String,
    /// JWT_PRIVATE_KEY_PATH / JWT_PUBLIC_KEY_PATH as written in the license server's `.env`.
    pub jwt_private_key_path: String,
    pub jwt_public_key_path: String,
    /// Every secret written anywhere in the tree (database passwords, JWT secrets, the key,
    /// SMTP and API passwords): none may ever appear in any output.
    pub secrets: Vec<String>,
    /// Files a backup must keep (uploads, configuration, RSA keys).
    pub keep: Vec<PathBuf>,
    /// Junk a backup must leave out: files, folders and links (node_modules, client/build,
    /// logs, old backups, `*.tmp`).
    pub junk: Vec<PathBuf>,
    /// Program code and other files that are neither data nor configuration to keep.
    pub code: Vec<PathBuf>,
    /// A folder of mode 000 outside every include (root can still read it).
    pub unreadable: PathBuf,
    /// Total bytes of the upload files.
    pub upload_bytes: u64,
}

/// A site at `root` with a MongoDB at 127.0.0.1:27017 (see `build_site_with`).
pub fn build_site(root: &Path) -> SiteFacts {
    build_site_with(root, &SiteOptions::default())
}

/// A site at `root` (created if missing) whose URIs name `opts`' servers.
pub fn build_site_with(root: &Path, opts: &SiteOptions) -> SiteFacts {
    require_openssl();
    fs::create_dir_all(root).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut b = Builder { root: root.to_path_buf(), keep: vec![], junk: vec![], code: vec![] };
    let company = "acme-trading".to_string();

    let secret = |rng: &mut ChaCha8Rng, prefix: &str, n: usize| {
        let mut bytes = vec![0u8; n];
        rng.fill_bytes(&mut bytes);
        format!("{prefix}{}", hex::encode(bytes))
    };
    let db_password = secret(&mut rng, "Pm2", 10);
    let old_db_password = secret(&mut rng, "Env", 10);
    let license_password = secret(&mut rng, "Lic", 10);
    let jwt_secret = secret(&mut rng, "jwt-", 24);
    let license_jwt_secret = secret(&mut rng, "ljwt-", 24);
    let smtp_password = format!("{}#mail {}", secret(&mut rng, "S", 4), secret(&mut rng, "", 3));
    let api_key = secret(&mut rng, "sk_live_", 16);
    let encryption_key = secret(&mut rng, "", 32);

    let uri = |user: &str, pass: &str, host: &str, port: u16, db: &str| {
        if opts.credentials {
            format!("mongodb://{user}:{pass}@{host}:{port}/{db}?authSource=admin")
        } else {
            format!("mongodb://{host}:{port}/{db}")
        }
    };
    let main_db = "hrsm_platform".to_string();
    let license_db = "hrsm_license_db".to_string();
    let mongodb_uri = uri("hrsm", &db_password, &opts.mongo_host, opts.mongo_port, &main_db);
    let mongodb_uri_dotenv = uri("hrsm", &old_db_password, &opts.mongo_host, opts.mongo_port, &main_db);
    let license_uri = uri("hrsm_license", &license_password, &opts.license_host, opts.license_port, &license_db);

    let upload_bytes = uploads(&mut b, &mut rng, &company);

    // Configuration.
    let timezone = "Africa/Cairo".to_string();
    b.keep_text(
        ".env",
        &format!(
            "# HR-SM production settings\n\
             NODE_ENV=production\n\
             PORT=5000\n\
             MONGODB_URI={mongodb_uri_dotenv}\n\
             JWT_SECRET={jwt_secret}\n\
             JWT_EXPIRE=7d\n\
             CLIENT_URL=https://hr.acme-trading.example\n\
             LICENSE_SERVER_URL=http://localhost:5001\n\
             \n\
             # Email\n\
             SMTP_HOST=smtp.acme-trading.example\n\
             SMTP_PORT=587\n\
             SMTP_USER=hr@acme-trading.example\n\
             SMTP_PASS=\"{smtp_password}\"\n\
             \n\
             # Backups (the old backup service)\n\
             BACKUPS_ENABLED=false\n\
             BACKUP_ENCRYPTION_KEY={encryption_key}\n\
             BACKUP_TIMEZONE={timezone}\n\
             BACKUP_CLOUD_ENABLED=false\n\
             TENANT_MODE=single # or multi\n"
        ),
    );
    b.keep_text("ecosystem.config.js", &ecosystem_js(&mongodb_uri, &jwt_secret));
    b.keep_text(
        "config/license.json",
        &format!(
            "{{\n  \"licenseKey\": \"HRSM-{}\",\n  \"company\": \"{company}\",\n  \"type\": \"on-premise\",\n  \"maxEmployees\": 250,\n  \"modules\": [\"attendance\", \"payroll\", \"tasks\", \"insurance\"],\n  \"expiresAt\": \"2027-12-31T23:59:59.000Z\"\n}}\n",
            secret(&mut rng, "", 8).to_uppercase()
        ),
    );
    b.keep_text(
        "config/logging/production.json",
        "{\n  \"level\": \"info\",\n  \"dir\": \"logs\",\n  \"maxFiles\": \"14d\",\n  \"maxSize\": \"20m\"\n}\n",
    );
    b.keep_text("config/logging/audit.json", "{\n  \"enabled\": true,\n  \"retentionDays\": 730\n}\n");
    b.keep_text(
        "config/nginx/hrsm.conf",
        "server {\n    listen 443 ssl;\n    server_name hr.acme-trading.example;\n    ssl_certificate /var/www/hr-sm/config/ssl/server.crt;\n    ssl_certificate_key /var/www/hr-sm/config/ssl/server.key;\n    client_max_body_size 20M;\n    location /api/ { proxy_pass http://127.0.0.1:5000; }\n    location / { root /var/www/hr-sm/client/build; try_files $uri /index.html; }\n}\n",
    );
    b.keep_text(
        "config/mongodb/mongod.conf",
        "storage:\n  dbPath: /var/lib/mongodb\nnet:\n  port: 27017\n  bindIp: 127.0.0.1\nsecurity:\n  authorization: enabled\n",
    );
    let ssl_dir = root.join("config/ssl");
    fs::create_dir_all(&ssl_dir).unwrap();
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"], &ssl_dir.join("server.key"));
    fs::set_permissions(ssl_dir.join("server.key"), fs::Permissions::from_mode(0o600)).unwrap();
    b.keep.push("config/ssl/server.key".into());
    b.keep_text("server/config/license.json", "{\n  \"mode\": \"on-premise\",\n  \"validateEvery\": \"24h\"\n}\n");
    b.keep_text(
        "server/config/features.yml",
        "attendance:\n  enabled: true\n  geofence: false\npayroll:\n  enabled: true\n  currency: EGP\n",
    );
    b.keep_text("server/config/rate-limits.yml", "api:\n  windowMs: 900000\n  max: 500\nauth:\n  max: 20\n");
    b.keep_text(
        "server/config/.env.example",
        "MONGODB_URI=mongodb://localhost:27017/hrsm_platform\nJWT_SECRET=change-me\nBACKUP_ENCRYPTION_KEY=\n",
    );
    b.code_text(
        "server/config/database.js",
        "import mongoose from 'mongoose';\n\nconst connectDB = async () => {\n  const uri = process.env.MONGODB_URI || process.env.MONGO_URI;\n  await mongoose.connect(uri);\n};\n\nexport default connectDB;\n",
    );
    b.code_text("server/index.js", "import app from './app.js';\napp.listen(process.env.PORT || 5000);\n");
    b.code_text("package.json", "{\n  \"name\": \"hr-sm\",\n  \"version\": \"2.4.0\",\n  \"type\": \"module\"\n}\n");
    b.keep_text("client/.env", "REACT_APP_API_URL=https://hr.acme-trading.example/api\nGENERATE_SOURCEMAP=false\n");
    b.code_text("client/package.json", "{\n  \"name\": \"hr-sm-client\",\n  \"private\": true\n}\n");

    // The license server.
    let jwt_private_key_path = "./keys/private.pem".to_string();
    let jwt_public_key_path = "./keys/public.pem".to_string();
    b.keep_text(
        "hrsm-license-server/.env",
        &format!(
            "NODE_ENV=production\r\nPORT=5001\r\nMONGODB_URI={license_uri}\r\nJWT_SECRET={license_jwt_secret}\r\nJWT_PRIVATE_KEY_PATH={jwt_private_key_path}\r\nJWT_PUBLIC_KEY_PATH={jwt_public_key_path}\r\nADMIN_API_KEY='{api_key}'\r\n"
        ),
    );
    b.keep_text(
        "hrsm-license-server/ecosystem.config.cjs",
        "// PM2 configuration of the license server\nmodule.exports = {\n  apps: [\n    {\n      name: 'hrsm-license-server',\n      script: 'server.js',\n      cwd: '/var/www/hr-sm/hrsm-license-server',\n      instances: 1,\n      autorestart: true,\n      watch: false,\n      max_memory_restart: '512M',\n      env: {\n        NODE_ENV: 'production',\n        PORT: 5001,\n      },\n      error_file: './logs/err.log',\n      out_file: './logs/out.log',\n    },\n  ],\n};\n",
    );
    b.code_text("hrsm-license-server/server.js", "import express from 'express';\nconst app = express();\n");
    rsa_pair(&mut b, "hrsm-license-server/keys");
    rsa_pair(&mut b, "keys");

    junk(&mut b, &mut rng);
    let unreadable = PathBuf::from("server/private-cache");
    let dir = root.join(&unreadable);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("session-cache.bin"), random(&mut rng, 2048)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).unwrap();

    let mut secrets = vec![db_password, old_db_password, license_password, jwt_secret, license_jwt_secret];
    secrets.extend([smtp_password, api_key, encryption_key.clone()]);
    SiteFacts {
        root: root.to_path_buf(),
        company,
        mongodb_uri,
        mongodb_uri_dotenv,
        license_uri,
        main_db,
        license_db,
        encryption_key,
        timezone,
        backups_enabled: "true".into(),
        jwt_private_key_path,
        jwt_public_key_path,
        secrets,
        keep: b.keep,
        junk: b.junk,
        code: b.code,
        unreadable,
        upload_bytes,
    }
}

/// Gives the unreadable folder its permissions back (so a non-root test can remove the tree).
pub fn release(facts: &SiteFacts) {
    let _ = fs::set_permissions(facts.root.join(&facts.unreadable), fs::Permissions::from_mode(0o755));
}

struct Builder {
    root: PathBuf,
    keep: Vec<PathBuf>,
    junk: Vec<PathBuf>,
    code: Vec<PathBuf>,
}

impl Builder {
    fn put(&self, rel: &str, bytes: &[u8]) {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
    }
    fn keep_bytes(&mut self, rel: &str, bytes: &[u8]) {
        self.put(rel, bytes);
        self.keep.push(rel.into());
    }
    fn keep_text(&mut self, rel: &str, text: &str) {
        self.keep_bytes(rel, text.as_bytes());
    }
    fn code_text(&mut self, rel: &str, text: &str) {
        self.put(rel, text.as_bytes());
        self.code.push(rel.into());
    }
    fn junk_bytes(&mut self, rel: &str, bytes: &[u8]) {
        self.put(rel, bytes);
        self.junk.push(rel.into());
    }
}

fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// A file of `size` bytes that starts (and, for PDF and JPEG, ends) like a real one of its type.
fn typed_file(rng: &mut ChaCha8Rng, ext: &str, size: usize) -> Vec<u8> {
    let (head, tail): (Vec<u8>, &[u8]) = match ext {
        "pdf" => (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n".to_vec(), b"\n%%EOF\n"),
        "jpg" => (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x01\x00\x48\x00\x48\x00\x00".to_vec(), b"\xff\xd9"),
        "png" => (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x01\x00\x00\x00\x01\x00\x08\x06\x00\x00\x00\x5c\x72\xa8\x66".to_vec(),
            b"\x00\x00\x00\x00IEND\xaeB`\x82",
        ),
        "docx" | "xlsx" => {
            let mut h = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00".to_vec();
            h.extend_from_slice(&[0u8; 12]);
            h.extend_from_slice(&19u16.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(b"[Content_Types].xml");
            (h, b"PK\x05\x06")
        }
        _ => (vec![], b""),
    };
    let size = size.max(head.len() + tail.len());
    let mut v = head;
    v.extend(random(rng, size - v.len() - tail.len()));
    v.extend_from_slice(tail);
    v
}

/// Log-uniform between `lo` and `hi` bytes: many small files, a few large ones.
fn size_between(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    let (a, b) = ((lo as f64).ln(), (hi as f64).ln());
    rng.gen_range(a..b).exp() as usize
}

fn object_id(rng: &mut ChaCha8Rng) -> String {
    format!("65{}", hex::encode(random(rng, 11)))
}

/// The three upload folders: about 260 files, 1 KiB to 2 MiB, about 15-25 MiB in all.
fn uploads(b: &mut Builder, rng: &mut ChaCha8Rng, company: &str) -> u64 {
    let mut total = 0u64;
    let mut file = |b: &mut Builder, rng: &mut ChaCha8Rng, rel: String, ext: &str, size: usize| {
        let bytes = typed_file(rng, ext, size);
        total += bytes.len() as u64;
        b.keep_bytes(&rel, &bytes);
    };
    let ts = |rng: &mut ChaCha8Rng| 1_735_689_600_000u64 + rng.gen_range(0..31_536_000_000u64);
    for _ in 0..60 {
        let (id, t, ext) = (object_id(rng), ts(rng), if rng.gen_bool(0.7) { "jpg" } else { "png" });
        let size = size_between(rng, 8 << 10, 400 << 10);
        file(b, rng, format!("uploads/profile-pictures/{id}-{t}.{ext}"), ext, size);
    }
    let kinds = ["pdf", "pdf", "pdf", "docx", "xlsx", "jpg"];
    for i in 0..70 {
        let (t, ext) = (ts(rng), kinds[i % kinds.len()]);
        let size = size_between(rng, 1 << 10, 200 << 10);
        file(b, rng, format!("uploads/documents/{t}-document-{i:03}.{ext}"), ext, size);
    }
    file(b, rng, "uploads/documents/عقد العمل - أميرة حسن.pdf".into(), "pdf", 23_456);
    file(b, rng, "uploads/documents/Employment contract (Omar Farouk).docx".into(), "docx", 18_000);
    for i in 0..30 {
        let ext = if i % 3 == 0 { "xlsx" } else { "pdf" };
        let size = size_between(rng, 2 << 10, 150 << 10);
        let name = format!("uploads/task-reports/{}-report-{i:03}.{ext}", ts(rng));
        file(b, rng, name, ext, size);
    }
    for i in 0..25 {
        let ext = if i % 2 == 0 { "pdf" } else { "jpg" };
        let size = size_between(rng, 4 << 10, 300 << 10);
        let name = format!("uploads/medical-documents/{}-medical-{i:03}.{ext}", object_id(rng));
        file(b, rng, name, ext, size);
    }
    for i in 0..20 {
        let size = size_between(rng, 4 << 10, 250 << 10);
        file(b, rng, format!("uploads/insurance-documents/policy-{i:04}.pdf"), "pdf", size);
    }
    for i in 0..8 {
        let size = size_between(rng, 8 << 10, 120 << 10);
        file(b, rng, format!("uploads/insurance-reports/claims-2026-{:02}.xlsx", i + 1), "xlsx", size);
    }
    // Scanned hardcopies: the few large files.
    for i in 0..6 {
        let size = size_between(rng, 1 << 20, 2 << 20);
        file(b, rng, format!("uploads/hardcopies/scan-{:04}.pdf", 100 + i), "pdf", size);
    }
    b.keep_text(
        &format!("uploads/{company}/license.json"),
        &format!("{{\"company\":\"{company}\",\"seats\":250,\"issued\":\"2026-01-05T10:00:00.000Z\"}}\n"),
    );
    for i in 0..20 {
        let ext = ["pdf", "jpg", "png", "docx"][i % 4];
        let size = size_between(rng, 1 << 10, 150 << 10);
        let name = format!("server/uploads/{company}/documents/{}-{i:03}.{ext}", ts(rng));
        file(b, rng, name, ext, size);
    }
    file(b, rng, format!("server/uploads/{company}/logo.png"), "png", 12_000);
    for i in 0..15 {
        let ext = if i % 2 == 0 { "pdf" } else { "docx" };
        let size = size_between(rng, 2 << 10, 100 << 10);
        let name = format!("server/modules/tasks/uploads/task-reports/{}-task-{i:03}.{ext}", ts(rng));
        file(b, rng, name, ext, size);
    }
    total
}

/// PM2's file as HR-SM ships it, in shape: comments, single quotes, unquoted and quoted keys,
/// numbers, booleans, an array, `env` and `env_development` blocks, a `deploy` section.
fn ecosystem_js(mongodb_uri: &str, jwt_secret: &str) -> String {
    format!(
        r#"// PM2 ecosystem file of HR-SM
// Start: pm2 start ecosystem.config.js --env production
module.exports = {{
  apps: [
    {{
      name: 'hrsm-backend',
      script: 'server/index.js',
      cwd: '/var/www/hr-sm',
      instances: 2,
      exec_mode: 'cluster',
      autorestart: true,
      watch: false,
      max_memory_restart: '1G',
      node_args: '--max-old-space-size=1024',
      env: {{
        NODE_ENV: 'production',
        PORT: 5000,
        MONGODB_URI: '{mongodb_uri}',
        JWT_SECRET: '{jwt_secret}',
        BACKUPS_ENABLED: true,   // the .env says false; PM2's value wins
        "TZ": 'Africa/Cairo',
      }},
      env_development: {{
        NODE_ENV: 'development',
        PORT: 5000,
        MONGODB_URI: 'mongodb://localhost:27017/hrsm_dev',
      }},
      /* logs */
      error_file: './logs/pm2-error.log',
      out_file: './logs/pm2-out.log',
      log_date_format: 'YYYY-MM-DD HH:mm:ss Z',
      merge_logs: true,
      min_uptime: '10s',
      max_restarts: 10,
      ignore_watch: ['node_modules', 'logs', 'uploads'],
    }},
  ],

  deploy: {{
    production: {{
      user: 'deploy',
      host: ['hr.acme-trading.example'],
      ref: 'origin/main',
      repo: 'git@github.com:acme-trading/hr-sm.git',
      path: '/var/www/hr-sm',
      'pre-deploy-local': '',
      'post-deploy': 'npm install && pm2 reload ecosystem.config.js --env production',
      'pre-setup': '',
    }},
  }},
}};
"#
    )
}

fn require_openssl() {
    match Command::new("openssl").arg("version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "build_site needs the `openssl` command to make the RSA key pairs of the site \
             (hrsm-license-server/keys, keys, config/ssl); install it (Debian: apt-get install openssl)"
        ),
    }
}

fn openssl(args: &[&str], out: &Path) {
    let o = Command::new("openssl").args(args).arg(out).output().unwrap_or_else(|e| panic!("openssl: {e}"));
    assert!(o.status.success(), "openssl {args:?} {} failed: {}", out.display(), String::from_utf8_lossy(&o.stderr));
}

/// `private.pem` (PKCS#8, mode 0600) and `public.pem` (SPKI) in `dir`, fresh from openssl.
fn rsa_pair(b: &mut Builder, dir: &str) {
    let d = b.root.join(dir);
    fs::create_dir_all(&d).unwrap();
    let private = d.join("private.pem");
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"], &private);
    fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
    let private_arg = private.to_str().unwrap().to_string();
    openssl(&["pkey", "-in", &private_arg, "-pubout", "-out"], &d.join("public.pem"));
    b.keep.push(format!("{dir}/private.pem").into());
    b.keep.push(format!("{dir}/public.pem").into());
}

/// One npm-installed package folder tree with a `.bin` link into it.
fn node_modules(b: &mut Builder, rng: &mut ChaCha8Rng, at: &str, packages: &[&str]) {
    for pkg in packages {
        b.put(
            &format!("{at}/{pkg}/package.json"),
            format!("{{\"name\":\"{pkg}\",\"version\":\"1.0.0\"}}\n").as_bytes(),
        );
        b.put(&format!("{at}/{pkg}/bin/{pkg}.js"), b"#!/usr/bin/env node\nrequire('../lib/index.js');\n");
        for i in 0..8 {
            let n = rng.gen_range(200..3000);
            let src: String = (0..n / 40).map(|l| format!("module.exports.f{l} = () => {i};\n")).collect();
            b.put(&format!("{at}/{pkg}/lib/part{i}.js"), src.as_bytes());
        }
        b.put(&format!("{at}/{pkg}/lib/index.js"), b"module.exports = require('./part0.js');\n");
        let bin = b.root.join(at).join(".bin");
        fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(format!("../{pkg}/bin/{pkg}.js"), bin.join(pkg)).unwrap();
    }
    b.junk.push(at.into());
}

fn junk(b: &mut Builder, rng: &mut ChaCha8Rng) {
    node_modules(b, rng, "node_modules", &["express", "mongoose", "jsonwebtoken", "dotenv", "multer", "nodemon"]);
    node_modules(b, rng, "client/node_modules", &["react", "react-scripts", "axios", "eslint"]);
    node_modules(b, rng, "hrsm-license-server/node_modules", &["express", "node-rsa", "dotenv"]);
    node_modules(b, rng, "server/modules/tasks/node_modules", &["sharp"]);
    b.put("client/build/index.html", b"<!doctype html><html><body><div id=root></div></body></html>\n");
    b.put("client/build/static/js/main.4f2a9c1d.js", &random(rng, 40_000));
    b.put("client/build/static/css/main.8e1b2c3d.css", b"body{margin:0}\n");
    b.junk.push("client/build".into());
    for (name, lines) in [("app.log", 400), ("error.log", 60), ("backup.log", 30)] {
        let text: String =
            (0..lines).map(|i| format!("2026-01-10T02:00:{:02}.000Z info request {i} done\n", i % 60)).collect();
        b.junk_bytes(&format!("logs/{name}"), text.as_bytes());
    }
    b.junk_bytes("hrsm-license-server/logs/out.log", b"license server started on 5001\n");
    let id = "daily-backup-2026-01-10T02-00-00-000Z";
    b.junk_bytes(&format!("backups/daily/{id}.tar.gz.enc"), &random(rng, 64_000));
    b.junk_bytes(&format!("backups/metadata/{id}.json"), format!("{{\"backupId\":\"{id}\"}}\n").as_bytes());
    b.junk_bytes("server/backups/database-1736474400000.gz", &random(rng, 20_000));
    // Temp files, also where an include reaches.
    b.junk_bytes("uploads/documents/upload_8f3a2b.tmp", &random(rng, 3000));
    b.junk_bytes("config/nginx/hrsm.conf.tmp", b"server { }\n");
    b.junk_bytes("server/uploads/acme-trading/documents/chunk-0001.tmp", &random(rng, 1500));
}
