// The seed's backup approach, as the benchmark's peer: the official Node.js driver exporting each
// collection to a JSON file (Extended JSON, so types survive) and restoring with insertMany.
//   node peer.js export URI DB DIR      node peer.js restore URI DB DIR
const fs = require('fs');
const path = require('path');
const { MongoClient, BSON } = require('mongodb');
const { EJSON } = BSON;

async function main() {
  const [mode, uri, dbName, dir] = process.argv.slice(2);
  const client = new MongoClient(uri);
  const db = client.db(dbName);
  if (mode === 'export') {
    fs.mkdirSync(dir, { recursive: true });
    for (const { name } of await db.listCollections().toArray()) {
      const docs = await db.collection(name).find().toArray();
      fs.writeFileSync(path.join(dir, `${name}.json`), EJSON.stringify(docs, { relaxed: false }));
    }
  } else {
    for (const file of fs.readdirSync(dir)) {
      const docs = EJSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'), { relaxed: false });
      const coll = db.collection(path.basename(file, '.json'));
      for (let i = 0; i < docs.length; i += 1000) await coll.insertMany(docs.slice(i, i + 1000), { ordered: false });
    }
  }
  await client.close();
}

main().catch((e) => { console.error(e); process.exit(1); });
