#!/usr/bin/env python3
"""The Windows CLI (hrsm-backup.exe, cross-built with mingw-w64) run under Wine on the Linux CI
machine, with real files and the Linux side's MongoDB test server: key generate / export /
import (into Wine's Credential Manager, read back by the next process), a files backup, list,
verify, restore (identical files and times), a tampered archive refused with nothing written, an
archive made on Linux restored by the Windows binary and one made on Windows restored by the
Linux binary, the Task Scheduler's hourly `backup --if-due` task registered and removed with
schtasks, and a MongoDB backup and restore (the native export: there is no mongodump.exe
here) compared document by document.
Run it with scripts/test-windows (which builds both binaries and the Wine prerequisites)."""
import filecmp
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from pymongo import MongoClient
from wine import WINE, check, init_prefix, prefix_env, stop, summary

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXE = ROOT / "target" / "x86_64-pc-windows-gnu" / "debug" / "hrsm-backup.exe"
LINUX = ROOT / "target" / "debug" / "hrsm-backup"


def tree_same(a, b):
    """Same names, same bytes, same modification times (whole seconds)."""
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False, f"{cmp.left_only} {cmp.right_only} {cmp.diff_files}"
    for name in cmp.common_files:
        if not filecmp.cmp(os.path.join(a, name), os.path.join(b, name), shallow=False):
            return False, name
        ta, tb = int(os.stat(os.path.join(a, name)).st_mtime), int(os.stat(os.path.join(b, name)).st_mtime)
        if ta != tb:
            return False, f"{name}: mtime {ta} != {tb}"
    for d in cmp.common_dirs:
        ok, why = tree_same(os.path.join(a, d), os.path.join(b, d))
        if not ok:
            return ok, why
    return True, ""


def start_garage(work):
    """One Garage node (the S3 server of the off-site tests) with a bucket `win` and a key."""
    import secrets
    import socket
    bin_ = os.environ.get("HRSM_GARAGE", str(pathlib.Path.home() / ".cache/hrsm-tools/bin/garage"))
    ports = []
    for _ in range(2):
        with socket.socket() as s_:
            s_.bind(("127.0.0.1", 0))
            ports.append(s_.getsockname()[1])
    cfg = work / "garage.toml"
    cfg.write_text(f'metadata_dir = "{work}/g/meta"\ndata_dir = "{work}/g/data"\ndb_engine = "lmdb"\nreplication_factor = 1\n'
                   f'rpc_bind_addr = "127.0.0.1:{ports[1]}"\nrpc_public_addr = "127.0.0.1:{ports[1]}"\nrpc_secret = "{secrets.token_hex(32)}"\n'
                   f'[s3_api]\ns3_region = "garage"\napi_bind_addr = "127.0.0.1:{ports[0]}"\n')
    genv = dict(os.environ, RUST_LOG="warn")
    proc = subprocess.Popen([bin_, "-c", str(cfg), "server"], env=genv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def g(*args):
        for _ in range(50):
            r = subprocess.run([bin_, "-c", str(cfg), *args], env=genv, capture_output=True, text=True)
            if r.returncode == 0:
                return r.stdout
            time.sleep(0.2)
        raise RuntimeError(f"garage {args}: {r.stderr}")
    node = g("node", "id", "-q").strip().split("@")[0]
    g("layout", "assign", "-z", "dc1", "-c", "1G", node)
    g("layout", "apply", "--version", "1")
    key, secret = "GK" + secrets.token_hex(12), secrets.token_hex(32)
    g("key", "import", "--yes", "-n", "win", key, secret)
    g("bucket", "create", "win")
    g("bucket", "allow", "--read", "--write", "--owner", "win", "--key", "win")
    return {"process": proc, "port": ports[0], "key": key, "secret": secret}


def main():
    work = pathlib.Path(tempfile.mkdtemp(prefix="hrsm-win-"))
    env = prefix_env(work / "prefix")
    for v in ("BACKUP_ENCRYPTION_KEY", "MONGODB_URI", "MONGO_URI", "HRSM_BACKUP_CONFIG", "HRSM_BACKUP_KEY_FILE", "BACKUPS_ENABLED"):
        env.pop(v, None)

    def win(*args, stdin=None):
        return subprocess.run([WINE, str(EXE), *map(str, args)], env=env, cwd=work, capture_output=True, text=True, input=stdin, timeout=300)

    def linux(*args):
        return subprocess.run([str(LINUX), *map(str, args)], env=env, cwd=work, capture_output=True, text=True, timeout=300)

    server = None
    garage = None
    try:
        # A fresh Wine prefix is set up in the background after the first start: wait for it,
        # or the next programs race its first-run configuration.
        init_prefix(env)
        v = win("--version")
        check("the Windows binary starts under Wine", v.returncode == 0 and v.stdout.startswith("hrsm-backup "), v.stderr[-300:])

        # Keys: a key file, its recovery text, and the Credential Manager across processes.
        key = work / "master.key"
        g = win("--key-file", key, "key", "generate")
        check("key generate writes a key file", g.returncode == 0 and key.exists(), g.stderr)
        e = win("--key-file", key, "key", "export", "--out", work / "recovery.txt")
        text = (work / "recovery.txt").read_text() if (work / "recovery.txt").exists() else ""
        check("key export writes the recovery text", e.returncode == 0 and text.startswith("hrsm-key-v1:"), e.stderr)
        key_id = lambda out: (re.search(r"[0-9a-f]{32}", out) or [""])[0]
        file_id = key_id(win("--key-file", key, "key", "id").stdout)
        i = win("key", "import", "--from", work / "recovery.txt")
        check("key import stores it in the Credential Manager", i.returncode == 0, i.stderr)
        again = win("key", "id")
        check("the next process reads the same key from the Credential Manager", again.returncode == 0 and file_id and key_id(again.stdout) == file_id, f"{again.stdout} {again.stderr} vs {file_id}")

        # Files: backup, list, verify, restore.
        data = work / "data"
        (data / "contracts" / "2026").mkdir(parents=True)
        (data / "contracts" / "2026" / "offer letter.pdf").write_bytes(os.urandom(300_000))
        (data / "contracts" / "notes.txt").write_text("Ünïcödé name inside\n")
        (data / "empty-folder").mkdir()
        os.utime(data / "contracts" / "notes.txt", (1_700_000_000, 1_700_000_000))
        cfg = work / "win.toml"
        cfg.write_text(f'destination = "{(work / "win-backups").as_posix()}"\n[mongodb]\nenabled = false\n[[sources]]\nname = "data"\npath = "{data.as_posix()}"\n')
        b = win("--key-file", key, "--config", cfg, "backup")
        check("a files backup is written and verified", b.returncode == 0 and "verified" in b.stdout, b.stderr[-500:])
        listed = win("--key-file", key, "--config", cfg, "--json", "list")
        entries = json.loads(listed.stdout or "{}").get("backups", [])
        check("list shows it, ok and verified", len(entries) == 1 and entries[0]["status"] == "ok" and entries[0]["verified"], listed.stdout[-300:])
        vr = win("--key-file", key, "--config", cfg, "verify", "latest")
        check("verify says OK", vr.returncode == 0 and "OK" in vr.stdout, vr.stderr)
        r = win("--key-file", key, "--config", cfg, "restore", "latest", "--files-to", work / "restored")
        same, why = tree_same(data, work / "restored" / "data") if r.returncode == 0 else (False, r.stderr)
        check("restore gives the same files, bytes and times", same, why)

        # Windows paths in the config: a drive letter in single quotes (Wine's Z: is /).
        def zpath(p):
            return "Z:" + str(p).replace("/", "\\")
        dcfg = work / "drive.toml"
        dcfg.write_text(f"destination = '{zpath(work / 'drive-backups')}'\n[mongodb]\nenabled = false\n[[sources]]\nname = \"data\"\npath = '{zpath(data)}'\n")
        db_ = win("--key-file", key, "--config", dcfg, "backup")
        dr = win("--key-file", key, "--config", dcfg, "restore", "latest", "--files-to", zpath(work / "drive-restored"))
        same, why = tree_same(data, work / "drive-restored" / "data") if dr.returncode == 0 else (False, db_.stderr + dr.stderr)
        check("C:\\-style paths in the config and on the command line work", db_.returncode == 0 and same, why)

        # A file server's share (UNC paths, \\server\share\...): Wine maps \\fileserver\share to
        # its prefix's dosdevices/unc/fileserver/share, here folders of this test.
        unc_root = work / "prefix" / "dosdevices" / "unc" / "fileserver"
        unc_root.mkdir(parents=True)
        (work / "share-backups").mkdir()
        (unc_root / "backups").symlink_to(work / "share-backups")
        (unc_root / "hr").symlink_to(data)
        (unc_root / "restored").symlink_to(work / "unc-restored", target_is_directory=True)
        (work / "unc-restored").mkdir()
        ucfg = work / "unc.toml"
        ucfg.write_text("destination = '\\\\fileserver\\backups\\hrsm'\n[mongodb]\nenabled = false\n[[sources]]\nname = \"data\"\npath = '\\\\fileserver\\hr'\n")
        ub = win("--key-file", key, "--config", ucfg, "backup")
        uv = win("--key-file", key, "--config", ucfg, "verify", "latest")
        ur = win("--key-file", key, "--config", ucfg, "restore", "latest", "--files-to", "\\\\fileserver\\restored\\here")
        same, why = tree_same(data, work / "unc-restored" / "here" / "data") if ur.returncode == 0 else (False, ub.stdout + ub.stderr + uv.stderr + ur.stderr)
        on_share = sorted(p.name for p in (work / "share-backups" / "hrsm").glob("*.hrsmbk")) if (work / "share-backups" / "hrsm").is_dir() else []
        check("UNC paths (\\\\server\\share) as the backup folder, a source and the restore target", ub.returncode == 0 and uv.returncode == 0 and len(on_share) == 1 and same, why)

        # The daily run registered with the Task Scheduler: every hour `backup --if-due`, with
        # the key from the Credential Manager (no key file, nothing secret in the task).
        tcfg = work / "task.toml"
        tcfg.write_text(f'destination = "{(work / "task-backups").as_posix()}"\n[mongodb]\nenabled = false\n[[sources]]\nname = "data"\npath = "{data.as_posix()}"\n[schedule]\ntime = "02:00"\ntimezone = "Africa/Cairo"\n')
        ti = win("--config", tcfg, "schedule-task", "install", "--only-when-logged-on")
        task_file = work / "prefix" / "drive_c" / "windows" / "system32" / "tasks" / "HR-SM Backup"
        task_text = task_file.read_bytes().decode("utf-8", "replace") if task_file.exists() else ""
        # Wine's schtasks parses the whole XML (a malformed one is refused) but keeps only the
        # registration info and settings of it (its task service has no triggers or actions):
        # those are checked in the XML itself.
        check("schedule-task install registers the task with schtasks", ti.returncode == 0 and "the daily restore point of HR-SM" in task_text and "<MultipleInstancesPolicy>IgnoreNew" in task_text and "<StartWhenAvailable>true" in task_text, ti.stdout + ti.stderr + task_text[:300])
        tp = win("--config", tcfg, "schedule-task", "print")
        check("the task runs hrsm-backup.exe backup --if-due every hour, logged on or not", tp.returncode == 0 and "hrsm-backup.exe</Command>" in tp.stdout and 'task.toml&quot; backup --if-due</Arguments>' in tp.stdout and "<Interval>PT1H</Interval>" in tp.stdout and "<LogonType>Password</LogonType>" in tp.stdout, tp.stdout[-600:] + tp.stderr)
        check("the task holds no key", "BACKUP_ENCRYPTION_KEY" not in tp.stdout + task_text and "hrsm-key" not in tp.stdout + task_text, task_text[:300])
        d1 = win("--config", tcfg, "backup", "--if-due")
        d2 = win("--config", tcfg, "backup", "--if-due")
        check("backup --if-due backs up a slot once, with the key from the Credential Manager", d1.returncode == 0 and "written" in d1.stdout and d2.returncode == 0 and d2.stdout.startswith("not due: nothing to do before"), d1.stdout + d1.stderr[-300:] + d2.stdout + d2.stderr[-300:])
        tr_ = win("schedule-task", "remove")
        check("schedule-task remove takes the task away", tr_.returncode == 0 and not task_file.exists(), tr_.stdout + tr_.stderr)

        # A tampered archive is refused, and nothing is written.
        archive = next((work / "win-backups").glob("*.hrsmbk"))
        bad = work / "tampered.hrsmbk"
        raw = bytearray(archive.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        bad.write_bytes(raw)
        tv = win("--key-file", key, "verify", bad)
        tr = win("--key-file", key, "restore", bad, "--files-to", work / "from-tampered")
        check("a tampered archive fails verify", tv.returncode != 0 and tv.stderr.strip(), tv.stdout + tv.stderr)
        check("a tampered archive restores nothing", tr.returncode != 0 and not any((work / "from-tampered").rglob("*.pdf")), tr.stderr)

        # Across systems: Linux writes, Windows restores; Windows writes, Linux restores. The key
        # file made on Windows has no Unix mode: on Linux it must be made private first.
        os.chmod(key, 0o600)
        lcfg = work / "linux.toml"
        lcfg.write_text(f'destination = "{(work / "linux-backups").as_posix()}"\n[mongodb]\nenabled = false\n[[sources]]\nname = "data"\npath = "{data.as_posix()}"\n')
        lb = linux("--key-file", key, "--config", lcfg, "backup")
        check("the Linux binary backs up the same folder", lb.returncode == 0, lb.stderr)
        lr = win("--key-file", key, "--config", lcfg, "restore", "latest", "--files-to", work / "linux-on-windows")
        same, why = tree_same(data, work / "linux-on-windows" / "data") if lr.returncode == 0 else (False, lr.stderr)
        check("an archive made on Linux restores on Windows", same, why)
        wl = linux("--key-file", key, "--config", cfg, "restore", "latest", "--files-to", work / "windows-on-linux")
        same, why = tree_same(data, work / "windows-on-linux" / "data") if wl.returncode == 0 else (False, wl.stderr)
        check("an archive made on Windows restores on Linux", same, why)

        # MongoDB on the Linux side, through the Windows binary's native export and restore.
        store = work / "db"
        log = open(work / "db.log", "w")
        server = subprocess.Popen([os.environ.get("HRSM_SECANTUSD", str(pathlib.Path.home() / ".cache/hrsm-tools/bin/secantusd-rs")), "--port", "0", "--log-file-max", "16MB", "--cache-size", "256M", "--storage-path", str(store)], stdout=log, stderr=subprocess.DEVNULL)
        port = None
        end = time.time() + 30
        while time.time() < end and not port:
            m = re.search(r"listening on [^:\s]+:(\d+)", (work / "db.log").read_text())
            port = m and m.group(1)
            time.sleep(0.1)
        uri = f"mongodb://127.0.0.1:{port}/hrms?directConnection=true"
        client = MongoClient(uri, serverSelectionTimeoutMS=5000)
        client["hrms"]["employees"].insert_many([{"name": f"Employee {n}", "salary": 1000.5 + n, "tags": ["a", "b"]} for n in range(300)])
        client["hrms"]["departments"].insert_many([{"name": f"Dept {n}"} for n in range(7)])
        mcfg = work / "mongo.toml"
        mcfg.write_text(f'destination = "{(work / "mongo-backups").as_posix()}"\nsources = []\n[mongodb]\nenabled = true\nuri = "{uri}"\ndatabases = ["hrms"]\nlog_collection = ""\n')
        mb = win("--key-file", key, "--config", mcfg, "backup")
        check("a MongoDB backup from Windows (native export)", mb.returncode == 0 and "verified" in mb.stdout, mb.stderr[-500:])
        mr = win("--key-file", key, "--config", mcfg, "restore", "latest", "--db", "hrms=hrms_win")
        check("its restore into another database", mr.returncode == 0, mr.stderr[-500:])
        for coll in ("employees", "departments"):
            a = list(client["hrms"][coll].find().sort("_id", 1))
            b = list(client["hrms_win"][coll].find().sort("_id", 1))
            check(f"every document of {coll} came back the same", a == b and len(a) > 0, f"{len(a)} vs {len(b)}")

        # Off-site: a second folder given as a Windows path, and an S3 store (Garage, on the
        # Linux side) through the Windows binary's HTTP client; then back onto an empty folder.
        garage = start_garage(work)
        ocfg = work / "offsite.toml"
        ocfg.write_text(
            f"destination = '{zpath(work / 'o-backups')}'\n[mongodb]\nenabled = false\n[[sources]]\nname = \"data\"\npath = '{zpath(data)}'\n"
            f"[[offsite]]\nname = \"usb\"\nkind = \"folder\"\npath = '{zpath(work / 'usb')}'\n"
            f"[[offsite]]\nname = \"s3\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:{garage['port']}\"\nregion = \"garage\"\nbucket = \"win\"\n")
        (work / "usb").mkdir()
        env.update(AWS_ACCESS_KEY_ID=garage["key"], AWS_SECRET_ACCESS_KEY=garage["secret"])
        ob = win("--key-file", key, "--config", ocfg, "--json", "backup")
        reports = json.loads(ob.stdout or "{}").get("offsite", [])
        copied = [r["destination"] for r in reports if len(r.get("copied", [])) == 1]
        check("a backup from Windows is copied to a folder and to S3, read back and checked", ob.returncode == 0 and copied == ["usb", "s3"], ob.stdout[-600:] + ob.stderr[-300:])
        bid = json.loads(ob.stdout or "{}").get("backup", {}).get("id", "?")
        shutil.rmtree(work / "o-backups", ignore_errors=True)
        of = win("--key-file", key, "--config", ocfg, "offsite", "fetch", bid, "--from", "s3")
        orr = win("--key-file", key, "--config", ocfg, "restore", bid, "--files-to", zpath(work / "from-s3"))
        same, why = tree_same(data, work / "from-s3" / "data") if of.returncode == 0 and orr.returncode == 0 else (False, of.stderr + orr.stderr)
        check("on an empty Windows folder it comes back from S3 and restores", same, why)
    except Exception as e:  # a failed step is a failed test, with the reason
        check("the Windows run completed", False, repr(e))
    finally:
        if server:
            server.kill()
        if garage:
            garage["process"].kill()
        stop(env)
        shutil.rmtree(work, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
