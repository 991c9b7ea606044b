//! `import-legacy`: backups written exactly as HR-SM's old backup service wrote them (its
//! backupService.js: a gzip'd tar of a staging folder holding `<db>.archive` from
//! `mongodump --archive --gzip` or `<db>-export.json`, `uploads.tar.gz`,
//! `configuration.tar.gz`, `rsa-keys.encrypted`, `application-code.tar.gz`; encrypted with
//! AES-256-CBC by `openssl enc`, in both of the service's variants; `metadata/<id>.json` with
//! the SHA-256 of each part; a rotated key in `metadata/key-rotation.json`, a generated one
//! only in `logs/backup.log`) become archives of ours that list at their original date,
//! verify, and restore: files identical, mongodump data byte for byte, the JSON export with
//! its types recovered and its losses recorded. Broken old backups fail clearly and write
//! nothing; a second import makes no second copy; retention keeps imports.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bson::{doc, Bson, Document, RawDocumentBuf};
use hrsm_backup::mongo::layout::{metadata_json, CollectionInfo};
use mongodb::sync::Client;
use sha2::Digest;

use super::fixtures::dump_archive;
use super::util::*;

/// Keys of the old service: 64 hex characters, as `crypto.randomBytes(32).toString('hex')`.
const LOGGED: &str = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
const OLD: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
const NEW: &str = "0f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a69780f1e2d3c4b5a6978";

/// The old service's `encryptData`: `Raw` is createCipheriv with the key's bytes and a random
/// IV written first; `evp` is the variant whose key and IV come from the key text through
/// EVP_BytesToKey (Node's createCipher), after 16 ignored bytes. openssl does the encrypting:
/// an implementation independent of ours.
fn old_encrypt(key: &str, evp: bool, plain: &[u8]) -> Vec<u8> {
    let iv: [u8; 16] = random_bytes(16, plain.len() as u64).try_into().unwrap();
    let mut cmd = Command::new("openssl");
    cmd.args(["enc", "-aes-256-cbc", "-e"]);
    if evp {
        cmd.args(["-nosalt", "-md", "md5", "-pass", &format!("pass:{key}")]);
    } else {
        cmd.args(["-K", key, "-iv", &hex::encode(iv)]);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = plain.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    let mut file = iv.to_vec();
    file.extend(out.stdout);
    file
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar.gz as archiver writes one: `archive.directory(dir, name)` per folder, `archive.file`
/// per file, modes and times as on disk.
fn tgz(dirs: &[(&str, &Path)], files: &[(&str, &Path)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    for (name, dir) in dirs {
        b.append_dir_all(name, dir).unwrap();
    }
    for (name, file) in files {
        b.append_path_with_name(file, name).unwrap();
    }
    gzip(&b.into_inner().unwrap())
}

/// A tar.gz of raw entries (names the tar crate's own setters would refuse).
fn raw_tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    gzip(&b.into_inner().unwrap())
}

fn sha(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// A small HR-SM installation: the folders the old service backed up.
fn site(root: &Path) {
    write(&root.join("uploads/profile-pictures/amal.png"), &random_bytes(3000, 1), 0o644, 1_700_000_001);
    write(&root.join("uploads/documents/contract 2025.pdf"), &random_bytes(70_000, 2), 0o640, 1_700_000_002);
    write(&root.join("uploads/acme/license.json"), b"{\"company\":\"acme\"}", 0o600, 1_700_000_003);
    write(&root.join("server/uploads/acme/report.pdf"), &random_bytes(5000, 3), 0o644, 1_700_000_004);
    write(&root.join(".env"), b"MONGODB_URI=mongodb://localhost:27017/hrms\nJWT_SECRET=s\n", 0o600, 1_700_000_005);
    write(&root.join("ecosystem.config.js"), b"module.exports = { apps: [] };\n", 0o644, 1_700_000_006);
    write(&root.join("config/license.json"), b"{\"seats\":50}", 0o644, 1_700_000_007);
    write(&root.join("hrsm-license-server/.env"), b"PORT=4000\n", 0o600, 1_700_000_008);
    write(
        &root.join("hrsm-license-server/keys/private.pem"),
        b"-----BEGIN PRIVATE KEY-----\nMIIE\n",
        0o600,
        1_700_000_009,
    );
    write(
        &root.join("hrsm-license-server/keys/public.pem"),
        b"-----BEGIN PUBLIC KEY-----\nMIIB\n",
        0o644,
        1_700_000_010,
    );
    write(&root.join("server/index.js"), b"import app from './app.js';\n", 0o644, 1_700_000_011);
    for d in [
        "uploads",
        "uploads/profile-pictures",
        "uploads/documents",
        "uploads/acme",
        "server/uploads",
        "server/uploads/acme",
    ] {
        fs::set_permissions(root.join(d), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        filetime::set_file_mtime(root.join(d), filetime::FileTime::from_unix_time(1_690_000_000, 0)).unwrap();
    }
}

/// The documents of `hrms` in the mongodump archive: every type that matters to HR-SM.
fn users() -> Vec<Document> {
    (0..50)
        .map(|i| {
            doc! {
                "_id": bson::oid::ObjectId::parse_str(format!("65f1a2b3c4d5e6f7081920{i:02x}")).unwrap(),
                "tenantId": "acme",
                "email": format!("user{i}@acme.example"),
                "name": format!("موظف {i}"),
                "hiredAt": bson::DateTime::from_millis(1_600_000_000_000 + i as i64 * 86_400_000),
                "salary": Bson::Decimal128(format!("{}.50", 3000 + i).parse().unwrap()),
                "leaveDays": 21_i32,
                "counter": 5_000_000_000_i64 + i as i64,
                "ratio": 0.25_f64,
                "photo": Bson::Binary(bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![i as u8; 16] }),
                "manager": bson::oid::ObjectId::parse_str("65f1a2b3c4d5e6f708192aff").unwrap(),
                "address": {"city": "Cairo", "zip": "11511"},
                "tags": ["hr", "payroll"],
                "note": Bson::Null,
            }
        })
        .collect()
}

fn auditlogs() -> Vec<Document> {
    (0..20)
        .map(|i| doc! {"_id": i, "action": "login", "timestamp": bson::DateTime::from_millis(4_000_000_000_000 + i)})
        .collect()
}

fn user_indexes() -> Vec<Document> {
    vec![
        doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"},
        doc! {"v": 2, "key": {"tenantId": 1, "email": 1}, "name": "tenantId_1_email_1", "unique": true},
    ]
}

fn audit_indexes() -> Vec<Document> {
    vec![
        doc! {"v": 2, "key": {"_id": 1}, "name": "_id_"},
        doc! {"v": 2, "key": {"timestamp": 1}, "name": "timestamp_1", "expireAfterSeconds": 63_072_000},
    ]
}

/// `mongodump --db=hrms --archive=hrms.archive --gzip`.
fn hrms_archive() -> Vec<u8> {
    let info = |name: &str, uuid: u8| CollectionInfo {
        name: name.into(),
        kind: "collection".into(),
        options: doc! {},
        uuid: Some(vec![uuid; 16]),
    };
    let users_meta = metadata_json(&info("users", 1), &user_indexes());
    let audit_meta = metadata_json(&info("auditlogs", 2), &audit_indexes());
    let u = users();
    gzip(&dump_archive(
        &[("hrms", "users", &users_meta), ("hrms", "auditlogs", &audit_meta)],
        &[("hrms", "users", u[..30].to_vec()), ("hrms", "auditlogs", auditlogs()), ("hrms", "users", u[30..].to_vec())],
    ))
}

/// `backupDatabaseJS`: `JSON.stringify(exportData, null, 2)` of what the Node.js driver read.
fn licenses_export() -> Vec<u8> {
    let export = serde_json::json!({
        "database": "hrsm-licenses",
        "timestamp": "2026-03-14T02:00:04.120Z",
        "collections": {
            "licenses": {"count": 2, "documents": [
                {"_id": "65f1a2b3c4d5e6f708193001", "licenseKey": "HRSM-AAAA-0001", "company": "65f1a2b3c4d5e6f708193101",
                 "issuedAt": "2026-01-01T00:00:00.000Z", "expiresAt": "2027-01-01T00:00:00.000Z", "seats": 50,
                 "price": {"$numberDecimal": "1999.99"}, "features": ["payroll", "attendance"], "revoked": false},
                {"_id": "65f1a2b3c4d5e6f708193002", "licenseKey": "HRSM-AAAA-0002", "company": "65f1a2b3c4d5e6f708193102",
                 "issuedAt": "2026-02-01T00:00:00.000Z", "expiresAt": null, "seats": 10,
                 "price": {"$numberDecimal": "499.00"}, "features": [], "revoked": true}
            ]},
            "license_audits": {"count": 1, "documents": [
                {"_id": "65f1a2b3c4d5e6f708193201", "license": "65f1a2b3c4d5e6f708193001", "at": "2026-03-01T10:00:00.000Z", "by": "admin"}
            ]}
        }
    });
    serde_json::to_vec_pretty(&export).unwrap()
}

/// One old backup: its parts, how it is encrypted, and what its metadata says.
struct Old {
    id: String,
    kind: &'static str,
    key: &'static str,
    evp: bool,
    parts: Vec<(String, Vec<u8>)>,
}

impl Old {
    fn new(root: &Path, id: &str, kind: &'static str, key: &'static str, evp: bool) -> Self {
        let uploads = tgz(&[("uploads", &root.join("uploads")), ("server-uploads", &root.join("server/uploads"))], &[]);
        let config = tgz(
            &[("config", &root.join("config"))],
            &[
                (".env", &root.join(".env")),
                ("ecosystem.config.js", &root.join("ecosystem.config.js")),
                ("license-server/.env", &root.join("hrsm-license-server/.env")),
            ],
        );
        let keys = tgz(&[("keys", &root.join("hrsm-license-server/keys"))], &[]);
        let code = tgz(&[], &[("server/index.js", &root.join("server/index.js"))]);
        Old {
            id: id.into(),
            kind,
            key,
            evp,
            parts: vec![
                ("hrms.archive".into(), hrms_archive()),
                ("hrsm-licenses-export.json".into(), licenses_export()),
                ("uploads.tar.gz".into(), uploads),
                ("configuration.tar.gz".into(), config),
                ("rsa-keys.encrypted".into(), old_encrypt(key, evp, &keys)),
                ("application-code.tar.gz".into(), code),
            ],
        }
    }

    fn component(file: &str) -> &str {
        match file {
            "uploads.tar.gz" => "uploads",
            "configuration.tar.gz" => "config-files",
            "rsa-keys.encrypted" => "rsa-keys",
            "application-code.tar.gz" => "source-code",
            f => f.trim_end_matches(".archive").trim_end_matches("-export.json"),
        }
    }

    /// Writes `backups/<kind>/<id>.tar.gz.enc` and `backups/metadata/<id>.json` under `root`;
    /// `checksums_of` replaces the parts the checksums are taken of (a tampered part).
    fn write(&self, root: &Path, checksums_of: Option<&[(String, Vec<u8>)]>) -> PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in &self.parts {
            let mut h = tar::Header::new_gnu();
            h.set_path(name).unwrap();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(1_773_000_000);
            h.set_cksum();
            b.append(&h, data.as_slice()).unwrap();
        }
        let file = old_encrypt(self.key, self.evp, &gzip(&b.into_inner().unwrap()));
        let path = root.join("backups").join(self.kind).join(format!("{}.tar.gz.enc", self.id));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &file).unwrap();
        let staging = format!("/var/www/hr-sm/backups/daily/{}", self.id);
        let parts = checksums_of.unwrap_or(&self.parts);
        let components: Vec<serde_json::Value> = self
            .parts
            .iter()
            .map(|(name, data)| {
                let c = Self::component(name);
                let path = format!("{staging}/{name}");
                if name.ends_with(".archive") || name.ends_with(".json") {
                    serde_json::json!({"type": "mongodb", "database": c, "path": path, "size": data.len(), "timestamp": "2026-03-14T02:00:05.000Z"})
                } else {
                    serde_json::json!({"type": "files", "component": c, "path": path, "size": data.len(), "timestamp": "2026-03-14T02:00:06.000Z"})
                }
            })
            .collect();
        let checksums: serde_json::Map<String, serde_json::Value> =
            parts.iter().map(|(name, data)| (Self::component(name).to_string(), sha(data).into())).collect();
        let at = self.id.rfind("backup-").unwrap() + "backup-".len();
        let time = chrono::NaiveDateTime::parse_from_str(&self.id[at..], "%Y-%m-%dT%H-%M-%S-%3fZ").unwrap().and_utc();
        let meta = serde_json::json!({
            "id": self.id,
            "type": self.kind,
            "timestamp": time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "components": components,
            "status": "completed",
            "checksums": checksums,
            "finalPath": format!("/var/www/hr-sm/backups/{}/{}.tar.gz.enc", self.kind, self.id),
            "size": file.len(),
        });
        fs::create_dir_all(root.join("backups/metadata")).unwrap();
        fs::write(
            root.join("backups/metadata").join(format!("{}.json", self.id)),
            serde_json::to_vec_pretty(&meta).unwrap(),
        )
        .unwrap();
        path
    }
}

/// The rotation record and the log line of a generated key, as the service wrote them.
fn keys_on_disk(root: &Path) {
    fs::create_dir_all(root.join("backups/metadata")).unwrap();
    fs::write(
        root.join("backups/metadata/key-rotation.json"),
        serde_json::to_vec_pretty(
            &serde_json::json!({"timestamp": "2026-03-15T06:00:00.021Z", "oldKey": OLD, "newKey": NEW}),
        )
        .unwrap(),
    )
    .unwrap();
    fs::create_dir_all(root.join("logs")).unwrap();
    fs::write(
        root.join("logs/backup.log"),
        format!(
            "{{\"level\":\"info\",\"message\":\"Starting comprehensive daily backup\",\"timestamp\":\"2026-01-10T02:00:00.001Z\"}}\n\
             {{\"key\":\"{LOGGED}\",\"level\":\"warn\",\"message\":\"Generated new backup encryption key. Store this securely!\",\"timestamp\":\"2026-01-10T02:00:00.002Z\"}}\n\
             {{\"level\":\"info\",\"message\":\"Encryption key rotated successfully\",\"timestamp\":\"2026-03-15T06:00:00.022Z\"}}\n"
        ),
    )
    .unwrap();
}

const D1: &str = "daily-backup-2026-01-10T02-00-00-000Z";
const D2: &str = "daily-backup-2026-03-14T02-00-00-000Z";
const W1: &str = "daily-backup-2026-03-22T03-00-00-000Z";

/// A test folder: the old installation under `site/` with three old backups (the logged key,
/// the rotated-out key in the EVP variant, the new key as a weekly), our config beside it.
fn setup(t: &Path) -> PathBuf {
    let root = t.join("site");
    site(&root);
    keys_on_disk(&root);
    Old::new(&root, D1, "daily", LOGGED, false).write(&root, None);
    Old::new(&root, D2, "daily", OLD, true).write(&root, None);
    Old::new(&root, W1, "weekly", NEW, false).write(&root, None);
    config(t, "");
    root
}

fn config(t: &Path, extra: &str) {
    fs::write(t.join("hrsm-backup.toml"), format!("destination = \"dest\"\n{extra}[mongodb]\nenabled = false\n"))
        .unwrap();
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// The catalog entries in `dest`, by id.
fn catalog(t: &Path) -> BTreeMap<String, serde_json::Value> {
    let o = cli(t, &["--json", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    json_of(&o)["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_string(), e.clone()))
        .collect()
}

/// Every entry of our archive, decrypted with the CLI's escape hatch: name -> bytes.
fn archive_contents(t: &Path, id: &str) -> BTreeMap<String, Vec<u8>> {
    let out = t.join(format!("{id}.tar.gz"));
    let o = cli(t, &["decrypt", id, "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let mut a = tar::Archive::new(flate2::read::MultiGzDecoder::new(fs::File::open(&out).unwrap()));
    let mut m = BTreeMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        m.insert(name, data);
    }
    m
}

fn ids_by_file(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["file"].as_str().unwrap().to_string(), b["id"].as_str().unwrap_or_default().to_string()))
        .collect()
}

#[test]
fn old_backups_import_list_verify_and_restore() {
    let t = tmp();
    let root = setup(t.path());
    let o = cli(t.path(), &["import-legacy", root.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // Which key opened each, by its origin only; never a key.
    assert!(out.contains("key:  the key logged in logs/backup.log on 2026-01-10 (line 2)"), "{out}");
    assert!(out.contains("key:  the old key of key-rotation.json of 2026-03-15"), "{out}");
    assert!(out.contains("key:  the new key of key-rotation.json of 2026-03-15"), "{out}");
    for k in [LOGGED, OLD, NEW] {
        assert!(!out.contains(k), "a key was printed:\n{out}");
    }
    assert!(out.contains("3 old backup(s): 3 imported, 0 already imported, 0 failed"), "{out}");
    assert!(
        out.contains("lost: hrsm-licenses.licenses: indexes and collection options were not in the old JSON export"),
        "{out}"
    );

    let o = cli(t.path(), &["--json", "import-legacy", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let again = json_of(&o);
    let ids = ids_by_file(&again);
    assert_eq!(ids.len(), 3);
    for b in again["backups"].as_array().unwrap() {
        assert_eq!(b["result"], "already_imported", "{b}");
    }

    // Listed at their original dates, oldest first, as imported, verified.
    let listed = catalog(t.path());
    assert_eq!(listed.len(), 3, "{listed:?}");
    let d1 = &ids[&format!("daily/{D1}.tar.gz.enc")];
    let d2 = &ids[&format!("daily/{D2}.tar.gz.enc")];
    let w1 = &ids[&format!("weekly/{W1}.tar.gz.enc")];
    assert!(d1.starts_with("hrsm-20260110T020000Z-") && w1.starts_with("hrsm-20260322T030000Z-"), "{ids:?}");
    assert_eq!(listed[d1]["started"], "2026-01-10T02:00:00Z");
    assert_eq!(listed[w1]["origin"]["backup_type"], "weekly");
    assert_eq!(listed[d2]["origin"]["key_origin"], "the old key of key-rotation.json of 2026-03-15");
    assert_eq!(listed[d2]["status"], "ok");
    assert_eq!(listed[d2]["verified"], true);
    let text_list = cli(t.path(), &["list"]);
    assert!(String::from_utf8_lossy(&text_list.stdout).contains("2026-01-10 02:00:00"), "{}", text(&text_list));
    for id in [d1, d2, w1] {
        let v = cli(t.path(), &["verify", id]);
        assert!(v.status.success(), "{}", text(&v));
    }

    // The manifest says where it came from and what was lost.
    let o = cli(t.path(), &["--json", "inspect", d2]);
    let m = &json_of(&o)["manifest"];
    assert_eq!(m["origin"]["kind"], "legacy");
    assert_eq!(m["origin"]["file"], format!("daily/{D2}.tar.gz.enc"));
    assert_eq!(m["origin"]["made"], "2026-03-14T02:00:00Z");
    assert_eq!(m["origin"]["sha256"], sha(&fs::read(root.join(format!("backups/daily/{D2}.tar.gz.enc"))).unwrap()));
    let losses: Vec<String> =
        m["origin"]["losses"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect();
    assert!(
        losses.iter().any(|l| l
            .starts_with("hrsm-licenses.licenses: indexes and collection options were not in the old JSON export")
            && l.contains("ObjectId 4 in _id, company")
            && l.contains("Date 3 in expiresAt, issuedAt")
            && l.contains("Decimal128 2 in price")),
        "{losses:?}"
    );
    assert!(!losses.iter().any(|l| l.starts_with("hrms.")), "the mongodump part loses nothing: {losses:?}");
    assert_eq!(m["mongo"]["method"], "import");

    // The mongodump part is the very bytes mongodump wrote, in mongodump's layout.
    let inside = archive_contents(t.path(), d2);
    let bytes = |docs: &[Document]| docs.iter().flat_map(|d| bson::to_vec(d).unwrap()).collect::<Vec<u8>>();
    assert_eq!(inside["mongo/hrms/users.bson"], bytes(&users()));
    assert_eq!(inside["mongo/hrms/auditlogs.bson"], bytes(&auditlogs()));
    let meta: serde_json::Value = serde_json::from_slice(&inside["mongo/hrms/users.metadata.json"]).unwrap();
    assert_eq!(meta["indexes"][1]["name"], "tenantId_1_email_1");
    assert_eq!(meta["uuid"], hex::encode([1u8; 16]));

    // Files restore identical to what the old service backed up.
    let restored = t.path().join("restored");
    let o = cli(t.path(), &["restore", w1, "--files-to", restored.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(snapshot(&restored.join("uploads")), snapshot(&root.join("uploads")));
    assert_eq!(snapshot(&restored.join("server-uploads")), snapshot(&root.join("server/uploads")));
    for (ours, theirs) in [
        ("config/.env", ".env"),
        ("config/ecosystem.config.js", "ecosystem.config.js"),
        ("config/config/license.json", "config/license.json"),
        ("config/license-server/.env", "hrsm-license-server/.env"),
        ("license-keys/private.pem", "hrsm-license-server/keys/private.pem"),
        ("license-keys/public.pem", "hrsm-license-server/keys/public.pem"),
        ("application-code/server/index.js", "server/index.js"),
    ] {
        assert_eq!(fs::read(restored.join(ours)).unwrap(), fs::read(root.join(theirs)).unwrap(), "{ours}");
    }
}

#[test]
fn imported_databases_restore_byte_for_byte_and_the_json_export_with_its_types() {
    let t = tmp();
    let root = setup(t.path());
    fs::remove_file(root.join(format!("backups/daily/{D1}.tar.gz.enc"))).unwrap();
    fs::remove_file(root.join(format!("backups/weekly/{W1}.tar.gz.enc"))).unwrap();
    let o = cli(t.path(), &["--json", "import-legacy", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let id = json_of(&o)["backups"][0]["id"].as_str().unwrap().to_string();
    // Restored by the CLI like any backup of ours, under other names.
    let (hrms, licenses) = (fresh_db("it_legacy_hrms"), fresh_db("it_legacy_lic"));
    fs::write(
        t.path().join("hrsm-backup.toml"),
        format!(
            "destination = \"dest\"\n[mongodb]\nenabled = false\nuri = \"{}\"\nlog_collection = \"\"\n",
            mongo_uri()
        ),
    )
    .unwrap();
    let o =
        cli(t.path(), &["restore", &id, "--db", &format!("hrms={hrms}"), "--db", &format!("hrsm-licenses={licenses}")]);
    assert!(o.status.success(), "{}", text(&o));
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    let raw = |db: &str, coll: &str| -> Vec<Vec<u8>> {
        client
            .database(db)
            .collection::<RawDocumentBuf>(coll)
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .run()
            .unwrap()
            .map(|d| d.unwrap().as_bytes().to_vec())
            .collect()
    };
    let want: Vec<Vec<u8>> = users().iter().map(|d| bson::to_vec(d).unwrap()).collect();
    assert_eq!(raw(&hrms, "users"), want, "every user document byte for byte");
    assert_eq!(raw(&hrms, "auditlogs").len(), 20);
    let indexes: Vec<Document> = client
        .database(&hrms)
        .run_cursor_command(doc! {"listIndexes": "users"})
        .run()
        .unwrap()
        .map(|d| d.unwrap())
        .collect();
    let unique = indexes.iter().find(|i| i.get_str("name") == Ok("tenantId_1_email_1")).expect("the unique index");
    assert_eq!(unique.get_bool("unique"), Ok(true));
    let audit: Vec<Document> = client
        .database(&hrms)
        .run_cursor_command(doc! {"listIndexes": "auditlogs"})
        .run()
        .unwrap()
        .map(|d| d.unwrap())
        .collect();
    let ttl = audit.iter().find(|i| i.get_str("name") == Ok("timestamp_1")).expect("the TTL index");
    assert_eq!(
        ttl.get("expireAfterSeconds")
            .and_then(Bson::as_i64)
            .or_else(|| ttl.get_i32("expireAfterSeconds").ok().map(i64::from)),
        Some(63_072_000)
    );

    // The JSON export: ObjectIds, Dates and Decimal128 recovered from their text.
    let lic: Vec<Document> = client
        .database(&licenses)
        .collection::<Document>("licenses")
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .run()
        .unwrap()
        .map(|d| d.unwrap())
        .collect();
    assert_eq!(lic.len(), 2);
    assert_eq!(lic[0].get_object_id("_id").unwrap().to_hex(), "65f1a2b3c4d5e6f708193001");
    assert!(lic[0].get_object_id("company").is_ok());
    assert_eq!(lic[0].get_datetime("issuedAt").unwrap().timestamp_millis(), 1_767_225_600_000);
    assert_eq!(lic[0].get("price"), Some(&Bson::Decimal128("1999.99".parse().unwrap())));
    assert_eq!(lic[0].get_i32("seats"), Ok(50));
    assert_eq!(lic[0].get_str("licenseKey"), Ok("HRSM-AAAA-0001"));
    assert_eq!(lic[1].get("expiresAt"), Some(&Bson::Null));
    let audits =
        client.database(&licenses).collection::<Document>("license_audits").find_one(doc! {}).run().unwrap().unwrap();
    assert!(audits.get_object_id("license").is_ok(), "{audits}");
}

#[test]
fn a_real_mongodump_archive_imports() {
    // The Database Tools' own archive (tests/fixtures/mongodump/test.bar.archive, tools r3.4.3)
    // inside an old backup, opened with the key configured in BACKUP_ENCRYPTION_KEY.
    let t = tmp();
    let root = t.path().join("site");
    site(&root);
    let real = fs::read(repo_root().join("tests/fixtures/mongodump/test.bar.archive")).unwrap();
    let old = Old {
        id: "daily-backup-2026-02-01T04-00-00-000Z".into(),
        kind: "monthly",
        key: Box::leak(key_hex().into_boxed_str()),
        evp: false,
        parts: vec![("hrms.archive".into(), gzip(&real))],
    };
    old.write(&root, None);
    config(t.path(), "");
    let o = cli(t.path(), &["import-legacy", root.join("backups").to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("key:  BACKUP_ENCRYPTION_KEY of the environment"), "{out}");
    assert!(out.contains("database test: 1 collections"), "{out}");
    let id = catalog(t.path()).into_keys().next().unwrap();
    let inside = archive_contents(t.path(), &id);
    // The fixture's documents, byte for byte: its segments concatenated.
    let mut docs = Vec::new();
    let mut a =
        hrsm_backup::mongo::DumpArchive::open(&repo_root().join("tests/fixtures/mongodump/test.bar.archive")).unwrap();
    while let Some((db, coll, seg)) = a.next_segment().unwrap() {
        if (db.as_str(), coll.as_str()) == ("test", "bar") {
            docs.extend(seg);
        }
    }
    assert!(!docs.is_empty());
    assert_eq!(inside["mongo/test/bar.bson"], docs);
    assert!(inside.contains_key("mongo/test/bar.metadata.json"));
    // The server's own namespace (admin.system.version) is left out, as mongodump --db does.
    assert!(!inside.keys().any(|k| k.starts_with("mongo/admin/")), "{:?}", inside.keys());
    assert!(out.contains("admin.system.version left out"), "{out}");
}

#[test]
fn broken_old_backups_fail_clearly_and_write_nothing() {
    let t = tmp();
    let root = t.path().join("site");
    site(&root);
    config(t.path(), "");
    let dest = t.path().join("dest");
    let import = |args: &[&str]| {
        let mut a = vec!["import-legacy", root.to_str().unwrap()];
        a.extend_from_slice(args);
        cli(t.path(), &a)
    };
    let clear = |root: &Path| {
        let _ = fs::remove_dir_all(root.join("backups"));
    };

    // No key anywhere: the error names the file, the places searched and what to do.
    Old::new(&root, D1, "daily", LOGGED, false).write(&root, None);
    let o = import(&[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("FAILED: encryption key: none of the 1 candidate key(s) opens daily/{D1}.tar.gz.enc")),
        "{out}"
    );
    assert!(out.contains("BACKUP_ENCRYPTION_KEY of the environment: 1 key"), "{out}");
    assert!(out.contains("backups/metadata/key-rotation.json: not found"), "{out}");
    assert!(out.contains("logs/backup.log"), "{out}");
    assert!(out.contains("--keys-from FILE"), "{out}");
    assert!(!dest.exists(), "nothing was written");
    // The admin gives it in a file, or on standard input; never as an argument.
    let keys = t.path().join("old-keys.txt");
    fs::write(&keys, format!("# from the old .env\nBACKUP_ENCRYPTION_KEY={LOGGED}\n")).unwrap();
    let o = import(&["--dry-run", "--keys-from", keys.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("key:  line 2 of"), "{}", text(&o));
    assert!(text(&o).contains("would be imported (dry run: nothing written)"), "{}", text(&o));
    assert!(!dest.exists(), "a dry run writes nothing");
    let mut child = Command::new(bin())
        .args(["import-legacy", root.to_str().unwrap(), "--keys-from", "-"])
        .current_dir(t.path())
        .env("BACKUP_ENCRYPTION_KEY", key_hex())
        .env_remove("HRSM_BACKUP_CONFIG")
        .env_remove("HRSM_BACKUP_KEY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{LOGGED}\n").as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("key:  line 1 of standard input"), "{}", text(&o));
    assert_eq!(catalog(t.path()).len(), 1);
    fs::remove_dir_all(&dest).unwrap();
    clear(&root);
    keys_on_disk(&root);

    // A part changed after the old service recorded its SHA-256.
    let mut tampered = Old::new(&root, D2, "daily", NEW, false);
    let honest = tampered.parts.clone();
    tampered.parts[2].1 = tgz(&[("uploads", &root.join("config"))], &[]);
    tampered.write(&root, Some(&honest));
    let o = import(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "uploads.tar.gz does not match the SHA-256 the old service recorded for 'uploads' in metadata/{D2}.json"
        )),
        "{}",
        text(&o)
    );
    assert!(!dest.exists(), "nothing was written");
    clear(&root);
    keys_on_disk(&root);

    // Truncated: shorter than its metadata says; and, without metadata, cut at a block.
    let path = Old::new(&root, D2, "daily", NEW, false).write(&root, None);
    let whole = fs::read(&path).unwrap();
    fs::write(&path, &whole[..whole.len() - 16]).unwrap();
    let o = import(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!(
            "it is {} bytes but the old service recorded {}: the file is truncated",
            whole.len() - 16,
            whole.len()
        )),
        "{}",
        text(&o)
    );
    fs::remove_file(root.join(format!("backups/metadata/{D2}.json"))).unwrap();
    let o = import(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("the new key of key-rotation.json of 2026-03-15 opens its start but not its end: the file is truncated or damaged"), "{}", text(&o));
    assert!(!dest.exists(), "nothing was written");
    clear(&root);
    keys_on_disk(&root);

    // A name that climbs out of its folder, inside uploads.tar.gz.
    let mut evil = Old::new(&root, D2, "daily", NEW, true);
    evil.parts[2].1 = raw_tgz(&[("uploads/ok.txt", b"fine"), ("uploads/../../../escaped.txt", b"gotcha")]);
    evil.write(&root, None);
    let o = import(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("uploads.tar.gz in daily/") && text(&o).contains("is refused: it contains '..'"),
        "{}",
        text(&o)
    );
    assert!(!dest.exists(), "nothing was written");
    for dir in [t.path().to_path_buf(), root.clone(), t.path().parent().unwrap().to_path_buf()] {
        assert!(!dir.join("escaped.txt").exists());
    }
    clear(&root);
    keys_on_disk(&root);

    // In one run, the good ones still import and the exit code says one failed; a missing
    // metadata file is a warning.
    Old::new(&root, D1, "daily", LOGGED, false).write(&root, None);
    let bad = Old::new(&root, D2, "daily", NEW, false).write(&root, None);
    fs::write(&bad, b"not an encrypted backup at all").unwrap();
    let p = Old::new(&root, W1, "weekly", NEW, true).write(&root, None);
    fs::remove_file(root.join(format!("backups/metadata/{W1}.json"))).unwrap();
    let o = import(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("2 imported, 0 already imported, 1 failed"), "{out}");
    assert!(
        out.contains(&format!(
            "warning: metadata/{W1}.json is missing: the SHA-256 of the backup's parts could not be checked"
        )),
        "{out}"
    );
    assert!(p.exists(), "the old files are never changed");
    assert_eq!(catalog(t.path()).len(), 2);
}

#[test]
fn retention_keeps_imported_backups() {
    let t = tmp();
    let root = setup(t.path());
    config(t.path(), "[retention]\nkeep_days = 1\nkeep_min_verified = 1\nkeep_weekly = 0\nkeep_monthly = 0\n");
    let o = cli(t.path(), &["import-legacy", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // One backup of our own after them; then prune: the imported ones stay, whatever their age.
    write(&t.path().join("data/a.txt"), b"ours", 0o644, 1_700_000_000);
    fs::write(
        t.path().join("hrsm-backup.toml"),
        "destination = \"dest\"\n[retention]\nkeep_days = 1\nkeep_min_verified = 1\nkeep_weekly = 0\nkeep_monthly = 0\n[mongodb]\nenabled = false\n[[sources]]\nname = \"data\"\npath = \"data\"\n",
    )
    .unwrap();
    let o = cli(t.path(), &["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(t.path(), &["--json", "prune"]);
    assert!(o.status.success(), "{}", text(&o));
    let decisions = json_of(&o)["decisions"].as_array().unwrap().clone();
    assert_eq!(decisions.len(), 4);
    let imported: Vec<&serde_json::Value> =
        decisions.iter().filter(|d| d["reason"] == hrsm_backup::IMPORTED_REASON).collect();
    assert_eq!(imported.len(), 3, "{decisions:?}");
    assert!(imported.iter().all(|d| d["keep"] == true));
    assert_eq!(catalog(t.path()).len(), 4);
}

/// The old Backups page's key for one configuration, as its `createBackup` made it
/// (`crypto.randomBytes(32).toString('hex')`), kept in HR-SM's `backups` collection.
const PAGE: &str = "5a4b3c2d1e0f99887766554433221100ffeeddccbbaa00112233445566778899";

/// `mongooseBackup.service.js`: `JSON.stringify(backupData, null, 2)` of `{<collection>:
/// [documents]}` as the Node.js driver read them (ObjectId and Date through their toJSON,
/// Decimal128 as `{"$numberDecimal"}`), gzip'd.
fn page_json_export() -> Vec<u8> {
    let export = serde_json::json!({
        "employees": [
            {"_id": "65f1a2b3c4d5e6f708194001", "name": "Amal", "department": "65f1a2b3c4d5e6f708194101",
             "hiredAt": "2024-05-01T08:00:00.000Z", "salary": {"$numberDecimal": "12500.50"}, "grade": 7},
            {"_id": "65f1a2b3c4d5e6f708194002", "name": "Omar", "department": null,
             "hiredAt": "2025-01-15T08:00:00.000Z", "salary": {"$numberDecimal": "9800.00"}, "grade": 4.5}
        ],
        "departments": [
            {"_id": "65f1a2b3c4d5e6f708194101", "name": "HR"}
        ]
    });
    gzip(&serde_json::to_vec_pretty(&export).unwrap())
}

#[test]
fn the_backups_page_files_import_with_the_key_it_kept_in_the_database() {
    let t = tmp();
    let root = t.path().join("site");
    site(&root);
    // The page's configurations, one with its key, in the site's main database.
    let main = fresh_db("it_page_main");
    let client = Client::with_uri_str(mongo_uri()).unwrap();
    client
        .database(&main)
        .collection::<Document>("backups")
        .insert_many([
            doc! {"name": "Nightly database", "backupType": "database", "isActive": true,
            "settings": {"encryption": {"enabled": true, "algorithm": "aes-256-cbc", "encryptionKey": PAGE}}},
            doc! {"name": "Everything", "backupType": "full", "isActive": false,
            "settings": {"encryption": {"enabled": false, "algorithm": "aes-256-cbc", "encryptionKey": Bson::Null}}},
        ])
        .run()
        .unwrap();
    // The site's URI names its main database (before any `?options`).
    let uri = mongo_uri();
    let (server, options) = uri.split_once('?').map(|(s, o)| (s, format!("?{o}"))).unwrap_or((&uri, String::new()));
    fs::write(
        t.path().join("hrsm-backup.toml"),
        format!(
            "destination = \"dest\"\n[mongodb]\nuri = \"{}/{main}{options}\"\nlog_collection = \"\"\n",
            server.trim_end_matches('/')
        ),
    )
    .unwrap();
    let page = root.join("backups");
    // database/: `mongodump --archive --gzip`, encrypted with the configuration's key (IV first).
    let db_file = page.join("database/database-2026-02-01T01-00-00-000Z.gz.enc");
    fs::create_dir_all(db_file.parent().unwrap()).unwrap();
    fs::write(&db_file, old_encrypt(PAGE, false, &hrms_archive())).unwrap();
    // full/: the JSON export (mongodump was missing) and `tar -czf` of the listed paths, plain.
    fs::create_dir_all(page.join("full")).unwrap();
    fs::write(page.join("full/database-2026-02-08T01-00-00-000Z.json.gz"), page_json_export()).unwrap();
    let tar_of = |out: &Path, paths: &[&str]| {
        let o = Command::new("tar").arg("-czf").arg(out).args(paths).current_dir(&root).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    tar_of(&page.join("full/files-2026-02-08T01-00-00-000Z.tar.gz"), &["uploads", "server/uploads"]);
    fs::create_dir_all(page.join("configuration")).unwrap();
    tar_of(&page.join("configuration/config-2026-02-09T01-00-00-000Z.tar.gz"), &[".env", "config"]);
    // An incremental run (only what changed), and a file that is none of the page's.
    fs::create_dir_all(page.join("incremental")).unwrap();
    tar_of(&page.join("incremental/incremental-2026-02-10T01-00-00-000Z.tar.gz"), &["uploads/acme"]);
    fs::write(page.join("database/notes.txt"), b"moved the old backups here").unwrap();

    // The page's run log, with the SHA-256 of the file each run wrote.
    client
        .database(&main)
        .collection::<Document>("backupexecutions")
        .insert_one(doc! {"backupName": "Nightly database", "status": "completed",
        "backupFile": "database-2026-02-01T01-00-00-000Z.gz.enc", "checksum": sha(&fs::read(&db_file).unwrap())})
        .run()
        .unwrap();
    let o = cli(t.path(), &["import-legacy", root.to_str().unwrap()]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        !out.contains("holds no SHA-256 of database/database-2026-02-01"),
        "checked by its recorded SHA-256: {out}"
    );
    assert!(out.contains("holds no SHA-256 of configuration/config-2026-02-09"), "{out}");
    // A full run (its database and its files with one time) is one restore point.
    assert!(out.contains("4 old backup(s): 4 imported, 0 already imported, 0 failed"), "{out}");
    assert!(out.contains("skipped: database/notes.txt: not one of the Backups page's files; not imported"), "{out}");
    assert!(out.contains("holds only the files changed since the run before it"), "{out}");
    assert!(
        out.contains(&format!(
            "key:  the key of the Backups page's configuration \"Nightly database\" in {main}.backups"
        )),
        "{out}"
    );
    assert!(out.contains("key:  not encrypted (the Backups page wrote it without encryption)"), "{out}");
    assert!(!out.contains(PAGE), "a key was printed:\n{out}");
    assert!(out.contains(&format!("lost: {main}: the Backups page's JSON export does not name its database")), "{out}");
    let o = cli(t.path(), &["--json", "import-legacy", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let report = json_of(&o);
    let ids = ids_by_file(&report);
    assert!(report["backups"].as_array().unwrap().iter().all(|b| b["result"] == "already_imported"), "{report}");
    assert_eq!(report["backups"][0]["format"], "page_archive");
    let listed = catalog(t.path());
    let archive_id = &ids["database/database-2026-02-01T01-00-00-000Z.gz.enc"];
    let json_id = &ids["full/database-2026-02-08T01-00-00-000Z.json.gz + files-2026-02-08T01-00-00-000Z.tar.gz"];
    let files_id = json_id;
    let config_id = &ids["configuration/config-2026-02-09T01-00-00-000Z.tar.gz"];
    assert_eq!(listed[archive_id]["started"], "2026-02-01T01:00:00Z");
    assert_eq!(listed[json_id]["origin"]["backup_type"], "full");
    for id in [archive_id, json_id, config_id] {
        assert_eq!(listed[id]["verified"], true, "{id}");
    }
    assert_eq!(listed[json_id]["databases"], serde_json::json!([main]));
    assert_eq!(listed[json_id]["sources"], serde_json::json!(["files"]));

    // The mongodump archive: byte for byte; the JSON export: its types recovered.
    let inside = archive_contents(t.path(), archive_id);
    let bytes = |docs: &[Document]| docs.iter().flat_map(|d| bson::to_vec(d).unwrap()).collect::<Vec<u8>>();
    assert_eq!(inside["mongo/hrms/users.bson"], bytes(&users()));
    let target = fresh_db("it_page_json");
    let o = cli(t.path(), &["restore", json_id, "--db", &format!("{main}={target}")]);
    assert!(o.status.success(), "{}", text(&o));
    let amal = client
        .database(&target)
        .collection::<Document>("employees")
        .find_one(doc! {"name": "Amal"})
        .run()
        .unwrap()
        .unwrap();
    assert_eq!(amal.get_object_id("_id").unwrap().to_hex(), "65f1a2b3c4d5e6f708194001");
    assert!(amal.get_object_id("department").is_ok(), "{amal}");
    assert_eq!(amal.get_datetime("hiredAt").unwrap().timestamp_millis(), 1_714_550_400_000);
    assert_eq!(amal.get("salary"), Some(&Bson::Decimal128("12500.50".parse().unwrap())));
    assert_eq!(
        client.database(&target).collection::<Document>("departments").count_documents(doc! {}).run().unwrap(),
        1
    );

    // The tarballs: the files as `tar` kept them, under the paths it was given.
    let restored = t.path().join("restored");
    for id in [files_id, config_id] {
        let o = cli(t.path(), &["restore", id, "--files-to", restored.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
    }
    assert_eq!(snapshot(&restored.join("files/uploads")), snapshot(&root.join("uploads")));
    assert_eq!(snapshot(&restored.join("files/server/uploads")), snapshot(&root.join("server/uploads")));
    assert_eq!(fs::read(restored.join("config/.env")).unwrap(), fs::read(root.join(".env")).unwrap());
    assert_eq!(
        fs::read(restored.join("config/config/license.json")).unwrap(),
        fs::read(root.join("config/license.json")).unwrap()
    );

    // Without the database's key: the file fails clearly, says where it looked, the others go on.
    client.database(&main).collection::<Document>("backups").delete_many(doc! {}).run().unwrap();
    let other = page.join("database/database-2026-02-15T01-00-00-000Z.json.gz.enc");
    fs::write(&other, old_encrypt(PAGE, false, &page_json_export())).unwrap();
    let o = cli(t.path(), &["import-legacy", root.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED: encryption key: none of the"), "{out}");
    assert!(out.contains(&format!("{main}.backups (the Backups page's settings): no key")), "{out}");
    assert!(out.contains("Give the Backups page's key"), "{out}");
    assert!(out.contains("--keys-from FILE"), "{out}");
    assert!(out.contains("5 old backup(s): 0 imported, 4 already imported, 1 failed"), "{out}");
    let o = cli(t.path(), &["--json", "import-legacy", root.to_str().unwrap()]);
    let failed: Vec<serde_json::Value> =
        json_of(&o)["backups"].as_array().unwrap().iter().filter(|b| b["result"] == "failed").cloned().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["needs_key"], true, "{failed:?}");
    // A cut file is damaged, not a wrong key.
    let mut cut = fs::read(&other).unwrap();
    cut.truncate(cut.len() - 16);
    fs::write(&other, &cut).unwrap();
    let keys = t.path().join("page-key.txt");
    fs::write(&keys, format!("{PAGE}\n")).unwrap();
    let o = cli(t.path(), &["import-legacy", root.to_str().unwrap(), "--keys-from", keys.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("opens its start but not its end: the file is truncated or damaged"), "{out}");
    assert_eq!(catalog(t.path()).len(), 4, "nothing of the broken one was written");
    let o = cli(t.path(), &["--json", "import-legacy", root.to_str().unwrap(), "--keys-from", keys.to_str().unwrap()]);
    let failed: Vec<serde_json::Value> =
        json_of(&o)["backups"].as_array().unwrap().iter().filter(|b| b["result"] == "failed").cloned().collect();
    assert!(failed[0].get("needs_key").is_none(), "a damaged file needs no other key: {failed:?}");
    // A file that does not match the SHA-256 the page recorded of it is refused.
    fs::remove_file(&other).unwrap();
    let changed = page.join("files/files-2026-03-01T01-00-00-000Z.tar.gz");
    fs::create_dir_all(changed.parent().unwrap()).unwrap();
    tar_of(&changed, &["uploads/documents"]);
    client
        .database(&main)
        .collection::<Document>("backupexecutions")
        .insert_one(doc! {"backupFile": "files-2026-03-01T01-00-00-000Z.tar.gz", "checksum": "0".repeat(64)})
        .run()
        .unwrap();
    let o = cli(t.path(), &["import-legacy", root.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("does not match the SHA-256 the Backups page recorded for it in HR-SM's backupexecutions"),
        "{out}"
    );
    assert_eq!(catalog(t.path()).len(), 4, "nothing of it was written");
}
