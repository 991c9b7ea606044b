//! The restore ceiling for bench/mongo.sh: the plainest fast loader of a mongodump folder.
//! Every `.bson` is read into memory first (not timed), then all collections are inserted at
//! once, two connections each, in unordered batches of up to 10,000 documents / 2 MiB, with no
//! staging and no checks; then the indexes of each `.metadata.json` are built. What it times is
//! what the server can take: our restore is measured against it because the MongoDB Database
//! Tools (mongorestore) cannot be installed on this machine.
//!
//!   cargo run --release --example ceiling_load -- URI DUMP_DIR/DB TARGET_DB
//! Prints: seconds documents

use std::path::PathBuf;
use std::time::Instant;

use bson::{doc, Bson, Document, RawDocumentBuf};
use mongodb::options::InsertManyOptions;
use mongodb::sync::Client;

fn batches(path: &PathBuf) -> Vec<Vec<RawDocumentBuf>> {
    let bytes = std::fs::read(path).expect("read .bson");
    let (mut out, mut batch, mut size, mut at) = (Vec::new(), Vec::new(), 0usize, 0usize);
    while at + 4 <= bytes.len() {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        batch.push(RawDocumentBuf::from_bytes(bytes[at..at + n].to_vec()).expect("BSON document"));
        size += n;
        at += n;
        if batch.len() >= 10_000 || size >= 2 << 20 {
            out.push(std::mem::take(&mut batch));
            size = 0;
        }
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (uri, dir, target) = (&args[1], PathBuf::from(&args[2]), &args[3]);
    let client = Client::with_uri_str(uri).expect("connect");
    let db = client.database(target);
    let mut work = Vec::new();
    for e in std::fs::read_dir(&dir).expect("dump folder") {
        let path = e.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if let Some(stem) = name.strip_suffix(".bson") {
            let meta = std::fs::read_to_string(dir.join(format!("{stem}.metadata.json"))).unwrap_or_default();
            work.push((stem.to_string(), batches(&path), meta));
        }
    }
    let total: usize = work.iter().map(|(_, b, _)| b.iter().map(Vec::len).sum::<usize>()).sum();
    let clock = Instant::now();
    let queues: Vec<_> = work.iter().map(|(_, batches, _)| std::sync::Mutex::new(batches.iter())).collect();
    std::thread::scope(|s| {
        for ((name, _, _), queue) in work.iter().zip(&queues) {
            let coll = db.collection::<RawDocumentBuf>(name);
            for _ in 0..2 {
                let coll = coll.clone();
                s.spawn(move || {
                    let opts = InsertManyOptions::builder().ordered(false).build();
                    loop {
                        let next = queue.lock().expect("queue").next().cloned();
                        let Some(batch) = next else { break };
                        coll.insert_many(batch).with_options(opts.clone()).run().expect("insert");
                    }
                });
            }
        }
    });
    for (name, _, meta) in &work {
        let v: serde_json::Value = serde_json::from_str(meta).unwrap_or_default();
        let specs: Vec<Bson> = v["indexes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|ix| ix["name"] != "_id_")
            .filter_map(|ix| Bson::try_from(ix.clone()).ok())
            .filter_map(|b| b.as_document().cloned())
            .map(|mut d: Document| {
                d.remove("v");
                d.remove("ns");
                Bson::Document(d)
            })
            .collect();
        if !specs.is_empty() {
            db.run_command(doc! {"createIndexes": name, "indexes": specs}).run().expect("indexes");
        }
    }
    println!("{:.3} {total}", clock.elapsed().as_secs_f64());
}
