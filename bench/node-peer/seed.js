// Seeds HR-like data for the MongoDB benchmark: users, audit logs with nested arrays, and small
// binary attachments, in the proportions 1/3, 3/5, 1/15. Deterministic (seeded PRNG).
//   node seed.js URI DB TOTAL_DOCS
const { MongoClient, Binary, ObjectId, Decimal128 } = require('mongodb');

let state = 2026;
const rnd = () => { state = (state * 1103515245 + 12345) & 0x7fffffff; return state / 0x7fffffff; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const words = ['leave', 'payroll', 'insurance', 'claim', 'dental', 'optical', 'approved', 'rejected', 'pending', 'manager', 'review', 'salary', 'bonus', 'overtime', 'contract'];
const depts = ['HR', 'Finance', 'IT', 'Sales', 'Legal', 'Ops'];

async function main() {
  const [uri, dbName, totalArg] = process.argv.slice(2);
  const total = parseInt(totalArg, 10);
  const client = new MongoClient(uri);
  const db = client.db(dbName);
  await db.dropDatabase();
  await db.collection('users').createIndex({ email: 1 }, { unique: true });
  await db.collection('auditlogs').createIndex({ user: 1, at: -1 });
  const plan = [['users', Math.round(total / 3)], ['auditlogs', Math.round(total * 3 / 5)], ['attachments', total - Math.round(total / 3) - Math.round(total * 3 / 5)]];
  for (const [name, n] of plan) {
    const coll = db.collection(name);
    for (let start = 0; start < n; start += 1000) {
      const batch = [];
      for (let i = start; i < Math.min(n, start + 1000); i++) batch.push(make(name, i));
      await coll.insertMany(batch, { ordered: false });
    }
  }
  await client.close();
}

function make(kind, i) {
  if (kind === 'users') {
    return { email: `user${i}@acme.example`, name: `${pick(words)} ${pick(words)}`, dept: pick(depts), salary: Decimal128.fromString((3000 + Math.floor(rnd() * 9000)) + '.50'),
      joined: new Date(1600000000000 + Math.floor(rnd() * 1e11)), active: rnd() > 0.1, tenant: new ObjectId(),
      family: Array.from({ length: Math.floor(rnd() * 4) }, (_, k) => ({ name: pick(words), relation: pick(['spouse', 'child']), born: new Date(1e12 + k * 1e9) })) };
  }
  if (kind === 'auditlogs') {
    return { user: `user${Math.floor(rnd() * 100000)}`, action: pick(words), at: new Date(1700000000000 + i * 1000),
      changes: Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => ({ field: pick(words), old: Math.floor(rnd() * 1e6), new: Math.floor(rnd() * 1e6) })),
      ip: `10.${i % 255}.${(i >> 8) % 255}.${i % 7}` };
  }
  const size = 4 * (512 + Math.floor(rnd() * 1536));
  const bytes = Buffer.alloc(size);
  for (let k = 0; k < size; k += 4) bytes.writeUInt32LE(Math.floor(rnd() * 0xffffffff) >>> 0, k);
  return { owner: `user${i % 100000}`, file: `scan-${i}.pdf`, mime: 'application/pdf', data: new Binary(bytes) };
}

main().catch((e) => { console.error(e); process.exit(1); });
