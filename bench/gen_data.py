#!/usr/bin/env python3
"""Generates the benchmark data set: about 1 GB shaped like an HR-SM installation.

  gen_data.py DIR [SIZE_MB]

- text: log-like lines (compressible), in files of 8-64 MB
- json: JSON-like records (exports, compressible), in files of 8-64 MB
- random: incompressible files of 1-12 MB (scanned PDFs, photos)
- small: thousands of 1-40 KB files (contracts, attendance sheets), a mix of the above

Deterministic (seeded). gzip looks back only 32 KiB, so rotating through an 8 MiB pool of
varied text gives the same compression ratio as fresh text, at a fraction of the time.
"""
import os
import random
import sys

def main():
    out = sys.argv[1]
    total_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    rnd = random.Random(2026)
    words = [''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(2, 11))) for _ in range(5000)]
    depts = ["HR", "Finance", "IT", "Sales", "Legal", "Ops", "Support"]

    def text_pool(n):
        lines = []
        size = 0
        while size < n:
            line = "2026-%02d-%02dT%02d:%02d:%02dZ INFO user=%d dept=%s %s\n" % (
                rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59),
                rnd.randint(1, 300000), rnd.choice(depts), ' '.join(rnd.choice(words) for _ in range(rnd.randint(4, 16))))
            lines.append(line)
            size += len(line)
        return ''.join(lines).encode()

    def json_pool(n):
        recs = []
        size = 0
        while size < n:
            r = '{"_id":"%024x","email":"%s.%s@example.com","name":"%s %s","dept":"%s","salary":%d,"active":%s,"leaves":[%s]}\n' % (
                rnd.getrandbits(96), rnd.choice(words), rnd.choice(words), rnd.choice(words).title(), rnd.choice(words).title(),
                rnd.choice(depts), rnd.randint(3000, 90000), rnd.choice(["true", "false"]),
                ','.join('{"from":"2026-%02d-%02d","days":%d}' % (rnd.randint(1, 12), rnd.randint(1, 28), rnd.randint(1, 15)) for _ in range(rnd.randint(0, 4))))
            recs.append(r)
            size += len(r)
        return ''.join(recs).encode()

    pools = {"text": text_pool(8 << 20), "json": json_pool(8 << 20)}

    def slice_of(pool, n, at):
        p = pools[pool]
        at %= len(p)
        buf = bytearray()
        while len(buf) < n:
            take = min(n - len(buf), len(p) - at)
            buf += p[at:at + take]
            at = 0
        return bytes(buf)

    budget = {"text": total_mb * 30 // 100, "json": total_mb * 30 // 100, "random": total_mb * 32 // 100, "small": total_mb * 8 // 100}
    offset = 0
    for kind in ("text", "json"):
        d = os.path.join(out, "exports" if kind == "json" else "logs")
        os.makedirs(d, exist_ok=True)
        left = budget[kind] << 20
        i = 0
        while left > 0:
            n = min(left, rnd.randint(8, 64) << 20)
            with open(os.path.join(d, "%s-%03d.%s" % (kind, i, "jsonl" if kind == "json" else "log")), "wb") as f:
                f.write(slice_of(kind, n, offset))
            offset += n + 7919
            left -= n
            i += 1
    d = os.path.join(out, "uploads", "scans")
    os.makedirs(d, exist_ok=True)
    left = budget["random"] << 20
    i = 0
    while left > 0:
        n = min(left, rnd.randint(1, 12) << 20)
        with open(os.path.join(d, "scan-%04d.pdf" % i), "wb") as f:
            f.write(os.urandom(n))
        left -= n
        i += 1
    left = budget["small"] << 20
    i = 0
    while left > 0:
        n = rnd.randint(1, 40) << 10
        kind = rnd.choice(["text", "json", "random"])
        d = os.path.join(out, "uploads", "employees", "emp%04d" % (i % 1500))
        os.makedirs(d, exist_ok=True)
        data = os.urandom(n) if kind == "random" else slice_of(kind, n, rnd.randint(0, 1 << 23))
        with open(os.path.join(d, "doc-%05d.%s" % (i, {"text": "txt", "json": "json", "random": "jpg"}[kind])), "wb") as f:
            f.write(data)
        left -= n
        i += 1
    print("generated %d MB in %s (%d small files)" % (total_mb, out, i))

if __name__ == "__main__":
    main()
