//! The export ceiling for bench/export-profile.sh: the plainest fast reader of a database.
//! Every collection is read with a raw cursor (no decoding, nothing written), `threads`
//! collections at once, as our native export reads them; only the bytes are counted. What it
//! times is what the server can give: our export (which also writes, hashes, compresses and
//! encrypts) is measured against it.
//!
//!   cargo run --release --example export_ceiling -- URI DB THREADS
//! Prints: seconds documents bytes

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use bson::{doc, RawDocumentBuf};
use mongodb::sync::Client;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (uri, db, threads) = (&args[1], &args[2], args[3].parse::<usize>().expect("THREADS"));
    let client = Client::with_uri_str(uri).expect("connect");
    let names = client.database(db).list_collection_names().run().expect("list collections");
    let queue = Mutex::new(names);
    let (docs, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let Some(name) = queue.lock().expect("queue").pop() else { return };
                let coll = client.database(db).collection::<RawDocumentBuf>(&name);
                let mut cursor = coll.find(doc! {}).batch_size(2000).run().expect("find");
                while cursor.advance().expect("read") {
                    docs.fetch_add(1, Ordering::Relaxed);
                    bytes.fetch_add(cursor.current().as_bytes().len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    println!("{:.3} {} {}", t.elapsed().as_secs_f64(), docs.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
}
