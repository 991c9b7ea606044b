//! A sample HR-SM installation for demos and first runs: uploads (contracts, photos,
//! attendance sheets, an insurance claim with a long name), configuration files and license-key
//! files, and sample HR-SM databases for the desktop demo's local server. Deterministic
//! content, a few MiB. Demo data only: nothing here is secret.
//!
//! Depends on `mongo::client` and `error`.

use std::fs;
use std::path::Path;

use bson::{doc, DateTime, Document};
use rand::{Rng, RngCore, SeedableRng};

use crate::error::{Error, Result};

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| Error::io("create folder", d, e))?;
    }
    fs::write(path, bytes).map_err(|e| Error::io("write", path, e))
}

/// The sample installation: deterministic content, a few MiB.
/// Writes the sample installation under `root`.
pub fn seed_sample_installation(root: &Path) -> Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    let employees = ["amira.hassan", "omar.farouk", "laila.nabil", "youssef.adel", "mona.samir", "karim.tarek"];
    for (i, who) in employees.iter().enumerate() {
        let mut pdf = format!("%PDF-1.7\n% employment contract of {who}\n").into_bytes();
        let mut body = vec![0u8; 40_000 + i * 9_000];
        rng.fill_bytes(&mut body);
        pdf.extend_from_slice(&body);
        write(&root.join(format!("uploads/contracts/{who}.pdf")), &pdf)?;
        let mut photo = vec![0u8; 120_000];
        rng.fill_bytes(&mut photo);
        photo[..4].copy_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
        write(&root.join(format!("uploads/photos/{who}.jpg")), &photo)?;
        let notes: String = (0..200)
            .map(|d| {
                format!("2026-{:02}-{:02} {who}: attendance ok, {} h\n", d % 12 + 1, d % 28 + 1, rng.gen_range(6..10))
            })
            .collect();
        write(&root.join(format!("uploads/attendance/{who}.csv")), notes.as_bytes())?;
    }
    write(&root.join("uploads/insurance/claims/2026/claim-00017 (dental, Amira Hassan) - receipts and medical report scanned.pdf"), b"%PDF-1.4 demo claim")?;
    write(
        &root.join(".env"),
        b"NODE_ENV=production\nPORT=5000\nMONGODB_URI=mongodb://localhost:27017/hrms\nJWT_SECRET=demo-only-not-a-secret\n",
    )?;
    write(
        &root.join("config/app.json"),
        br#"{"company":"Demo Co","timezone":"Africa/Cairo","leavePolicy":{"annualDays":21}}"#,
    )?;
    write(&root.join("hrsm-license-server/.env"), b"PORT=4000\nMONGODB_URI=mongodb://localhost:27017/hrsm-licenses\n")?;
    let mut fake_key = vec![0u8; 1200];
    rng.fill_bytes(&mut fake_key);
    let pem = format!("-----BEGIN DEMO PRIVATE KEY-----\n{}\n-----END DEMO PRIVATE KEY-----\n", hex::encode(&fake_key));
    write(&root.join("hrsm-license-server/keys/private.pem"), pem.as_bytes())?;
    write(
        &root.join("hrsm-license-server/keys/public.pem"),
        b"-----BEGIN PUBLIC KEY-----\ndemo\n-----END PUBLIC KEY-----\n",
    )?;
    // The other folders a real site has (tests/common/site.rs has the full picture).
    write(&root.join("server/uploads/demo-co/letterhead.png"), &[0x89, b'P', b'N', b'G', 13, 10, 26, 10])?;
    write(&root.join("server/modules/tasks/uploads/task-reports/q3-onboarding.pdf"), b"%PDF-1.7 demo task report")?;
    write(&root.join("keys/public.pem"), b"-----BEGIN PUBLIC KEY-----\ndemo\n-----END PUBLIC KEY-----\n")?;
    let p = root.join("hrsm-license-server/keys/private.pem");
    crate::fsutil::set_mode(&p, 0o600).map_err(|e| Error::io("chmod", &p, e))?;
    Ok(())
}

/// Points the sample installation's `.env` files at the demo's own server `uri`, so that what
/// discovery reads from the sample site is true (the demo server's port changes per start).
pub fn point_sample_installation_at(root: &Path, uri: &str) -> Result<()> {
    let with_db = |db: &str| match uri.split_once("/?") {
        Some((base, query)) => format!("{base}/{db}?{query}"),
        None => format!("{}/{db}", uri.trim_end_matches('/')),
    };
    write(
        &root.join(".env"),
        format!("NODE_ENV=production\nPORT=5000\nMONGODB_URI={}\nJWT_SECRET=demo-only-not-a-secret\n", with_db("hrms"))
            .as_bytes(),
    )?;
    write(
        &root.join("hrsm-license-server/.env"),
        format!("PORT=4000\nMONGODB_URI={}\n", with_db("hrsm-licenses")).as_bytes(),
    )
}

/// Sample HR-SM databases on `uri` (the desktop demo's local server), once: `hrms` (users, tenants, insurancepolicies, familymembers,
/// insuranceclaims, auditlogs, notifications with an expiry rule) and `hrsm-licenses` (licenses).
pub fn seed_sample_databases(uri: &str) -> Result<()> {
    let client = crate::mongo::client::connect(uri)?;
    let e = |what: &'static str| move |err: mongodb::error::Error| crate::mongo::client::explain(uri, what, err);
    let hrms = client.database("hrms");
    if hrms.collection::<Document>("users").estimated_document_count().run().map_err(e("count the demo users"))? > 0 {
        return Ok(());
    }
    let names = [
        "Amira Hassan",
        "Omar Farouk",
        "Laila Nabil",
        "Youssef Adel",
        "Mona Samir",
        "Karim Tarek",
        "Nour Ali",
        "Hana Mostafa",
    ];
    let tenants: Vec<Document> = (0..3).map(|t| doc! {"_id": t, "name": format!("Tenant {t}"), "plan": (["basic", "pro", "enterprise"][t as usize]), "createdAt": DateTime::from_millis(1_700_000_000_000 + t * 86_400_000)}).collect();
    hrms.collection::<Document>("tenants").insert_many(tenants).run().map_err(e("write the demo data"))?;
    hrms.run_command(
        doc! {"createIndexes": "users", "indexes": [{"key": {"email": 1}, "name": "email_1", "unique": true}]},
    )
    .run()
    .map_err(e("write the demo data"))?;
    let users: Vec<Document> = (0..400)
        .map(|i| {
            let name = names[i % names.len()];
            doc! {"_id": i as i64, "name": format!("{name} {i}"), "email": format!("user{i}@demo.hrsm"), "tenant": (i % 3) as i32, "department": (["HR", "Finance", "IT", "Sales"][i % 4]), "salary": bson::Decimal128::from_bytes([0u8; 16]), "joinedAt": DateTime::from_millis(1_600_000_000_000 + i as i64 * 3_600_000), "active": i % 17 != 0}
        })
        .collect();
    hrms.collection::<Document>("users").insert_many(users).run().map_err(e("write the demo data"))?;
    let policies: Vec<Document> = (0..60).map(|i| doc! {"_id": i, "user": (i * 6) as i64, "provider": (["Allianz", "AXA", "MetLife"][i as usize % 3]), "coverage": 100000 + i * 1000}).collect();
    hrms.collection::<Document>("insurancepolicies").insert_many(policies).run().map_err(e("write the demo data"))?;
    let family: Vec<Document> = (0..150).map(|i| doc! {"user": (i % 400) as i64, "name": format!("Family member {i}"), "relation": (["spouse", "child"][i % 2]), "born": DateTime::from_millis(1_100_000_000_000 + i as i64 * 10_000_000)}).collect();
    hrms.collection::<Document>("familymembers").insert_many(family).run().map_err(e("write the demo data"))?;
    let claims: Vec<Document> = (0..200).map(|i| doc! {"policy": i % 60, "amount": 50.0 + i as f64 * 3.5, "status": (["pending", "approved", "rejected"][i as usize % 3]), "items": [{"kind": "dental", "amount": 20.0}, {"kind": "optical", "amount": 30.0 + i as f64}]}).collect();
    hrms.collection::<Document>("insuranceclaims").insert_many(claims).run().map_err(e("write the demo data"))?;
    let logs: Vec<Document> = (0..1000).map(|i| doc! {"user": (i % 400) as i64, "action": (["login", "update", "approve", "export"][i % 4]), "at": DateTime::from_millis(1_790_000_000_000 + i as i64 * 60_000), "changes": [{"field": "salary", "old": i as i32, "new": i as i32 + 1}]}).collect();
    hrms.collection::<Document>("auditlogs").insert_many(logs).run().map_err(e("write the demo data"))?;
    // Notifications expire 90 days after they are made (a TTL index): what a restore of an
    // older backup must not lose within a minute.
    let now = chrono::Utc::now().timestamp_millis();
    let notes: Vec<Document> = (0..120).map(|i| doc! {"user": (i % 400) as i64, "text": format!("Leave request {i} approved"), "createdAt": DateTime::from_millis(now - i as i64 * 3_600_000)}).collect();
    hrms.collection::<Document>("notifications").insert_many(notes).run().map_err(e("write the demo data"))?;
    hrms.run_command(doc! {"createIndexes": "notifications", "indexes": [{"key": {"createdAt": 1}, "name": "createdAt_1", "expireAfterSeconds": 7_776_000}]})
        .run()
        .map_err(e("write the demo data"))?;
    let licenses = client.database("hrsm-licenses").collection::<Document>("licenses");
    licenses.insert_many((0..3).map(|t| doc! {"tenant": t, "key": format!("HRSM-DEMO-{t:04}"), "seats": 50 * (t + 1), "expiresAt": DateTime::from_millis(1_900_000_000_000)})).run().map_err(e("write the demo data"))?;
    Ok(())
}
