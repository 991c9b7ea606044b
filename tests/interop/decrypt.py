#!/usr/bin/env python3
"""An independent reader of the HR-SM Backup container, written from docs/FORMAT.md alone
with the `cryptography` package. It shares no code with the Rust implementation.

  decrypt.py ARCHIVE OUTPUT      key from $BACKUP_ENCRYPTION_KEY (hex, base64 or hrsm-key-v1:hex);
                                 writes the payload (a .tar.gz) to OUTPUT, exit 1 on rejection
  decrypt.py --vectors DIR       checks every tests/vectors/*.vec file, exit 1 on any mismatch
"""
import base64
import binascii
import hashlib
import hmac
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

MAGIC = b"\x89HRSMBK\n"
MAX_PLAIN_LIMIT = 16 * 1024 * 1024


class Reject(Exception):
    """The archive is rejected; args[0] is the FORMAT.md reason name."""


def hkdf_expand(prk, info):
    return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=info).derive(prk)


def read_exact(f, n):
    data = b""
    while len(data) < n:
        part = f.read(n - len(data))
        if not part:
            break
        data += part
    return data


def unpad(padded):
    """PKCS#7 as FORMAT.md 2.4 step 4.6 says: the last byte p is 1..16 and the last p bytes are all p."""
    p = padded[-1]
    if not 1 <= p <= 16 or padded[-p:] != bytes([p]) * p:
        raise Reject("bad-chunk")
    return padded[:-p]


def decrypt(f, master, out):
    # FORMAT.md 2.4, steps and their order as written there.
    header = read_exact(f, 96)
    if len(header) < 8:
        raise Reject("truncated")  # 1.1: the empty file too, whatever the bytes are
    if header[:8] != MAGIC:
        raise Reject("not-an-archive")  # 1.2
    if len(header) < 96:
        raise Reject("truncated")  # 1.3
    if header[8] != 1 or header[9] != 1:
        raise Reject("unsupported")
    if header[10:12] != b"\0\0":
        raise Reject("bad-header")
    (max_plain,) = struct.unpack(">I", header[12:16])
    if not 1 <= max_plain <= MAX_PLAIN_LIMIT:
        raise Reject("bad-header")
    key_id = hmac.new(master, b"hrsm-backup/v1 key-id", hashlib.sha256).digest()[:16]
    if key_id != header[16:32]:
        raise Reject("wrong-key")
    salt = header[32:64]
    prk = hmac.new(salt, master, hashlib.sha256).digest()  # HKDF-Extract
    k_hdr = hkdf_expand(prk, b"hrsm-backup/v1 header-mac")
    k_enc = hkdf_expand(prk, b"hrsm-backup/v1 aes-256-cbc")
    k_mac = hkdf_expand(prk, b"hrsm-backup/v1 chunk-mac")
    if not hmac.compare_digest(hmac.new(k_hdr, header[:64], hashlib.sha256).digest(), header[64:96]):
        raise Reject("header-damaged")
    digest = hashlib.sha256(header).digest()
    max_ct = 16 * (max_plain // 16 + 1)
    index = 0
    while True:
        prefix = read_exact(f, 21)
        if len(prefix) < 21:
            raise Reject("truncated")
        (ct_len,) = struct.unpack(">I", prefix[:4])
        flags = prefix[4]
        iv = prefix[5:21]
        if flags not in (0, 1) or ct_len < 16 or ct_len % 16 or ct_len > max_ct:
            raise Reject("bad-chunk")  # before reading (or allocating) ct_len bytes
        body = read_exact(f, ct_len + 32)
        if len(body) < ct_len + 32:
            raise Reject("truncated")
        ct, tag = body[:ct_len], body[ct_len:]
        mac = hmac.new(k_mac, digest + struct.pack(">Q", index) + bytes([flags]) + iv + ct, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, tag):
            raise Reject("chunk-damaged")
        dec = Cipher(algorithms.AES(k_enc), modes.CBC(iv)).decryptor()
        plain = unpad(dec.update(ct) + dec.finalize())
        if len(plain) > max_plain:
            raise Reject("bad-chunk")
        if flags == 0 and not plain:
            raise Reject("bad-chunk")
        out.append(plain)
        index += 1
        if flags == 1:
            if f.read(1):
                raise Reject("trailing-data")
            return index


def parse_key(text):
    t = text.strip()
    if t.startswith("hrsm-key-v1:"):
        t = t[len("hrsm-key-v1:"):]
    try:
        if len(t) == 64:
            return bytes.fromhex(t)
    except ValueError:
        pass
    raw = base64.b64decode(t + "=" * (-len(t) % 4), altchars=b"-_" if ("-" in t or "_" in t) else None)
    if len(raw) != 32:
        raise SystemExit("BACKUP_ENCRYPTION_KEY must be 32 bytes")
    return raw


class ListWriter:
    def __init__(self, fh):
        self.fh = fh

    def append(self, data):
        self.fh.write(data)


def run_vectors(folder):
    passed = failed = 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".vec"):
            continue
        fields = {}
        with open(os.path.join(folder, name)) as fh:
            for line in fh:
                if line.startswith("#") or not line.strip():
                    continue
                k, v = line.rstrip("\n").split(": ", 1)
                fields[k] = v
        import io
        chunks = []
        try:
            decrypt(io.BytesIO(binascii.unhexlify(fields["archive"])), bytes.fromhex(fields["key"]), chunks)
            got = "ok"
        except Reject as r:
            got = r.args[0]
        ok = got == fields["expect"]
        if ok and got == "ok":
            ok = b"".join(chunks).hex() == fields["payload"]
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name}: expected {fields['expect']}, got {got}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "--vectors":
        return run_vectors(argv[2])
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    master = parse_key(os.environ["BACKUP_ENCRYPTION_KEY"])
    tmp = argv[2] + ".partial"
    with open(argv[1], "rb") as f, open(tmp, "wb") as out:
        try:
            n = decrypt(f, master, ListWriter(out))
        except Reject as r:
            out.close()
            os.unlink(tmp)
            print(f"reject: {r.args[0]}", file=sys.stderr)
            return 1
    os.rename(tmp, argv[2])
    print(f"ok: {n} chunks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
