#!/usr/bin/env python3
"""End to end, with the real parts: the real desktop app binary under Xvfb on a private D-Bus
session (gnome-keyring unlocked, dunst running), driven through tauri-driver + WebKitWebDriver.

From an empty profile: the first start is the set-up, not a demo. "Try with sample data"
starts the demo (a local SecantusDB seeded with sample HR-SM data), clearly labelled; in it:
Back up now with progress and a new history row, a Notify call over D-Bus, the key in the
Secret Service, the tray, a cancelled run that is not a failure, Verify's answer that stays,
a restore into a second database (every collection's count compared) that is disarmed after
use (the page and the shell), an unchanged Save that changes nothing and invalid input refused
next to its field. Then the sample data is left and the set-up steps are followed on a
"real" HR-SM (its own test server with a password, its own folder): the installation is found
and used (the password to the keychain only), the connection tested, the folder and time set,
and the first backup made and checked. The app is restarted: the real settings are still
there, times in the site's zone. A second folder is added as an off-site copy, filled and
checked; the local backups are deleted and the data restored from that copy alone. A screenshot of each screen goes to target/e2e-screenshots/.
Run it with scripts/e2e (which builds the app and starts the session).
"""
import os
import pathlib
import re
import socket
import subprocess
import sys
import shutil
import tempfile
import time

from pymongo import MongoClient
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.options import ArgOptions
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = ROOT / "target" / "debug" / "hrsm-backup-desktop"
# The private session's keychain service (scripts/with-session); never the real one.
SERVICE = os.environ.get("HRSM_KEYCHAIN_SERVICE", "")
if SERVICE != "hrsm-backup-test" or os.environ.get("HRSM_TEST_SESSION_BUS") != os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
    sys.exit("refusing to run outside scripts/with-session: this test clears the keychain's master key")
SHOTS = ROOT / "target" / "e2e-screenshots"
DRIVER = os.environ.get("TAURI_DRIVER", str(pathlib.Path.home() / ".cache/hrsm-tools/bin/tauri-driver"))
results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok)))
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)


def wait_port(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def shot(d, name):
    # Let the page paint what the DOM already says before taking the picture.
    d.execute_async_script("const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")
    SHOTS.mkdir(parents=True, exist_ok=True)
    d.save_screenshot(str(SHOTS / f"{name}.png"))


def by_id(d, i):
    return d.find_element(By.ID, i)


def gdbus(*args):
    return subprocess.run(["gdbus", "call", "--session", *args], capture_output=True, text=True, timeout=10).stdout


class Tray:
    """The app's tray icon as a panel sees it: through our StatusNotifierWatcher and dbusmenu."""

    def __init__(self, items_file):
        self.items_file = items_file

    def item(self):
        lines = open(self.items_file).read().split("\n") if os.path.exists(self.items_file) else []
        lines = [l for l in lines if l.strip()]
        return lines[-1].split(" ", 1) if lines else None

    def menu(self):
        """[(id, label)] of the tray menu."""
        name, path = self.item()
        menu_path = re.search(r"objectpath '([^']+)'", gdbus("-d", name, "-o", path, "-m", "org.freedesktop.DBus.Properties.Get", "org.kde.StatusNotifierItem", "Menu")).group(1)
        layout = gdbus("-d", name, "-o", menu_path, "-m", "com.canonical.dbusmenu.GetLayout", "--", "0", "-1", "[]")
        self.menu_path = menu_path
        return [(int(i), label) for i, label in re.findall(r"<\((\d+), \{[^}]*'label': <'([^']*)'>", layout)]

    def click(self, label):
        name, _ = self.item()
        ids = [i for i, l in self.menu() if l == label]
        return gdbus("-d", name, "-o", self.menu_path, "-m", "com.canonical.dbusmenu.Event", "--", str(ids[0]), "clicked", "<0>", "0")



def start_server(data, name):
    """A SecantusDB of its own, on a free port: (process, port)."""
    bin_ = os.environ.get("HRSM_SECANTUSD", str(pathlib.Path.home() / ".cache/hrsm-tools/bin/secantusd-rs"))
    store = os.path.join(data, name)
    log_path = os.path.join(data, f"{name}.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([bin_, "--port", "0", "--log-file-max", "16MB", "--cache-size", "256M", "--storage-path", store], stdout=log, stderr=subprocess.DEVNULL)
    end = time.time() + 30
    port = None
    while time.time() < end and not port:
        m = re.search(r"listening on [^:\s]+:(\d+)", open(log_path).read())
        port = m and m.group(1)
        time.sleep(0.1)
    return proc, port


def start_real_site(data):
    """Two SecantusDBs standing in for the site's own MongoDB and its license server's (each
    with a user and password), seeded like HR-SM, and an installation folder whose .env files
    name them."""
    procs = []
    uris = []
    for name, user, pw, db in (("real-db", "hrsm", "E2eS3cretPw", "hrsm_platform"), ("license-db", "lic", "L1cE2ePw", "hrsm_license_db")):
        proc, port = start_server(data, name)
        procs.append(proc)
        admin = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=5000)
        admin["admin"].command("createUser", user, pwd=pw, roles=["root"])
        uris.append(f"mongodb://{user}:{pw}@127.0.0.1:{port}/{db}?authSource=admin&directConnection=true")
    uri, license_uri = uris
    c = MongoClient(uri, serverSelectionTimeoutMS=5000)
    c["hrsm_platform"]["employees"].insert_many([{"name": f"Employee {i}", "salary": 1000 + i} for i in range(120)])
    c["hrsm_platform"]["departments"].insert_many([{"name": f"Dept {i}"} for i in range(6)])
    c["hrsm_acme"]["employees"].insert_many([{"name": f"Acme {i}"} for i in range(15)])
    lic = MongoClient(license_uri, serverSelectionTimeoutMS=5000)
    lic["hrsm_license_db"]["licenses"].insert_many([{"tenant": f"acme-{i}", "seats": 50} for i in range(4)])
    site = os.path.join(data, "site-e2e")
    os.makedirs(os.path.join(site, "uploads", "documents"), exist_ok=True)
    os.makedirs(os.path.join(site, "hrsm-license-server"), exist_ok=True)
    for i in range(5):
        with open(os.path.join(site, "uploads", "documents", f"contract-{i}.pdf"), "wb") as f:
            f.write(os.urandom(20000))
    with open(os.path.join(site, ".env"), "w") as f:
        f.write(f"MONGODB_URI={uri}\nBACKUP_TIMEZONE=Africa/Cairo\n")
    with open(os.path.join(site, "hrsm-license-server", ".env"), "w") as f:
        f.write(f"PORT=4000\nMONGODB_URI={license_uri}\n")
    return procs, site, c, lic


OLD_KEY = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
OLD_ID = "daily-backup-2026-03-14T02-00-00-000Z"


def old_service_backup(site):
    """One backup as HR-SM's old backup service wrote it: a gzip'd tar of its parts (here the
    uploads, itself a .tar.gz), AES-256-CBC by openssl with the IV first, and its metadata."""
    import hashlib
    import io
    import json
    import tarfile

    def tgz(entries):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as t:
            for name, data in entries:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 1_773_000_000
                t.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    uploads = tgz([("uploads/old-contract.pdf", b"%PDF-1.4 signed in March" * 40)])
    plain = tgz([("uploads.tar.gz", uploads)])
    iv = os.urandom(16)
    enc = subprocess.run(["openssl", "enc", "-aes-256-cbc", "-e", "-K", OLD_KEY, "-iv", iv.hex()], input=plain, capture_output=True, check=True).stdout
    os.makedirs(os.path.join(site, "backups", "daily"), exist_ok=True)
    os.makedirs(os.path.join(site, "backups", "metadata"), exist_ok=True)
    with open(os.path.join(site, "backups", "daily", f"{OLD_ID}.tar.gz.enc"), "wb") as f:
        f.write(iv + enc)
    meta = {"id": OLD_ID, "type": "daily", "timestamp": "2026-03-14T02:00:00.000Z", "status": "completed",
            "components": [{"type": "files", "component": "uploads", "path": f"/var/www/hr-sm/backups/daily/{OLD_ID}/uploads.tar.gz", "size": len(uploads)}],
            "checksums": {"uploads": hashlib.sha256(uploads).hexdigest()}, "size": len(iv + enc)}
    with open(os.path.join(site, "backups", "metadata", f"{OLD_ID}.json"), "w") as f:
        json.dump(meta, f)


def open_app(wait_s=90):
    opts = ArgOptions()
    opts.set_capability("browserName", "wry")
    opts.set_capability("tauri:options", {"application": str(APP)})
    d = webdriver.Remote(command_executor="http://127.0.0.1:4444", options=opts)
    wait = WebDriverWait(d, wait_s)
    wait.until(lambda d: by_id(d, "state").get_attribute("textContent") not in ("", "…"))
    return d, wait


def tab(d, view):
    d.find_element(By.CSS_SELECTOR, f"button[data-view={view}]").click()


def history_rows(d):
    # In one script: the table may be redrawn between two WebDriver calls.
    return d.execute_script("return [...document.querySelectorAll('#history-rows tr')].map((tr) => [...tr.cells].map((td) => td.textContent.trim()))")


def only_db(d, name):
    """Leaves only database `name` ticked on the Restore screen."""
    for cb in d.find_elements(By.CSS_SELECTOR, "#r-dbs input[type=checkbox]"):
        if cb.is_selected() != (cb.get_attribute("data-db") == name):
            cb.click()


def run_backup(d, timeout=180):
    by_id(d, "backup-now").click()
    end = time.time() + timeout
    seen = set()
    while time.time() < end and not by_id(d, "result").text:
        seen.add(by_id(d, "phase").text)
        time.sleep(0.05)
    return by_id(d, "result").text, seen


def main():
    data = tempfile.mkdtemp(prefix="hrsm-e2e-")
    # A home of its own: start at login writes ~/.config/autostart, never this machine's.
    home = tempfile.mkdtemp(prefix="hrsm-e2e-home-")
    env = dict(os.environ, HRSM_DESKTOP_DATA=data, HOME=home)
    for v in ("BACKUP_ENCRYPTION_KEY", "MONGODB_URI", "MONGO_URI", "BACKUP_TIMEZONE", "BACKUPS_ENABLED"):
        env.pop(v, None)
    subprocess.run(["secret-tool", "clear", "service", SERVICE, "username", "master-key"], check=False)
    subprocess.run(["secret-tool", "clear", "service", SERVICE, "username", "mongodb-uri"], check=False)
    notify_log = open(os.path.join(data, "notify.log"), "w")
    # A panel's StatusNotifierWatcher, so the tray icon registers (Debian's python3 + python3-dbus).
    items_file = os.path.join(data, "tray-items.txt")
    watcher = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "e2e" / "sni_watcher.py"), items_file], stderr=subprocess.DEVNULL)
    tray = Tray(items_file)
    time.sleep(1)
    monitor = subprocess.Popen(["dbus-monitor", "--session", "interface='org.freedesktop.Notifications',member='Notify'"], stdout=notify_log, stderr=subprocess.DEVNULL)
    driver_proc = subprocess.Popen([DRIVER, "--port", "4444"], env=env, cwd=home, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    real_db = None
    d = None
    try:
        check("tauri-driver listens", wait_port(4444))
        t0 = time.time()
        d, wait = open_app()
        print(f"start to first status on screen: {time.time() - t0:.2f} s", flush=True)

        # 1. An empty profile starts with the set-up, not with sample data.
        check("the first start shows the set-up", by_id(d, "view-setup").is_displayed() and by_id(d, "state").get_attribute("textContent") == "Not set up yet", by_id(d, "state").get_attribute("textContent"))
        check("nothing can be backed up before the set-up", by_id(d, "w-backup").get_attribute("disabled") is not None and not by_id(d, "demo-bar").is_displayed())
        check("no settings file is written by a first start", not os.path.exists(os.path.join(data, "hrsm-backup.toml")))
        shot(d, "0-first-start")

        # 2. The sample data, chosen, and labelled as such.
        by_id(d, "setup-demo").click()
        wait.until(lambda d: by_id(d, "demo-bar").is_displayed())
        check("Try with sample data starts the demo, labelled", "Sample data" in by_id(d, "demo-bar").text and by_id(d, "view-dashboard").is_displayed())
        check("the demo keeps its settings in its own folder", os.path.exists(os.path.join(data, "demo", "hrsm-backup.toml")) and not os.path.exists(os.path.join(data, "hrsm-backup.toml")))
        check("the page warns that the key is not saved", "not been saved" in by_id(d, "banner").text, by_id(d, "banner").text)
        shot(d, "1-dashboard-demo")

        result, seen_phases = run_backup(d)
        check("backup now succeeds", result.startswith("Backup done"), result)
        check("progress was shown", len(seen_phases - {""}) >= 1, str(seen_phases))
        shot(d, "2-after-backup")

        tab(d, "history")
        wait.until(lambda d: len(history_rows(d)) >= 1)
        cells = history_rows(d)[0]
        check("a new history row, ok and verified", len(cells) >= 7 and cells[1] == "ok" and cells[6] == "yes", str(cells))
        check("the size chart has a bar", len(d.find_elements(By.CSS_SELECTOR, "#chart rect")) >= 1)
        # Verify's answer stays on screen, through the table's redraws.
        d.find_element(By.CSS_SELECTOR, "#history-rows tr:first-child button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#history-rows .verify-result"))
        time.sleep(1.5)
        tab(d, "dashboard")
        tab(d, "history")
        wait.until(lambda d: len(history_rows(d)) >= 1)
        kept = d.find_elements(By.CSS_SELECTOR, "#history-rows .verify-result")
        check("Verify's answer stays after the table is drawn again", kept and "Intact" in kept[0].text, kept[0].text if kept else "gone")
        shot(d, "3-history")

        # The tray: registered, its status line tells the last and next run, and its
        # "Back up now" makes another backup that shows up in the history.
        check("the tray icon registered with the panel", tray.item() is not None)
        labels = [l for _, l in tray.menu()]
        check("the tray menu has Back up now, Open and Quit", {"Back up now", "Open", "Quit"} <= set(labels), str(labels))
        status_line = next((l for l in labels if l.startswith("Last: ")), "")
        check("the tray status line says Last and Next", " ok" in status_line and "Next: " in status_line, status_line)
        tray.click("Back up now")
        end = time.time() + 120
        while time.time() < end and len(history_rows(d)) < 2:
            time.sleep(1)
            tab(d, "dashboard")
            tab(d, "history")
        check("Back up now from the tray made a second backup", len(history_rows(d)) >= 2)

        secret = subprocess.run(["secret-tool", "lookup", "service", SERVICE, "username", "master-key"], capture_output=True, text=True).stdout
        check("the key is in the Secret Service", secret.startswith("hrsm-key-v1:") and len(secret.strip()) == 76)

        # A cancelled run is neither a failure nor a backup.
        big = os.path.join(data, "demo", "hr-sm", "uploads", "big-e2e")
        os.makedirs(big, exist_ok=True)
        for i in range(160):
            with open(os.path.join(big, f"scan-{i:03}.bin"), "wb") as f:
                f.write(os.urandom(512 * 1024))
        tab(d, "dashboard")
        wait.until(lambda d: by_id(d, "backup-now").get_attribute("disabled") is None)
        by_id(d, "backup-now").click()
        wait.until(lambda d: by_id(d, "cancel").is_displayed())
        wait.until(lambda d: by_id(d, "phase").text == "archiving")
        by_id(d, "cancel").click()
        wait.until(lambda d: by_id(d, "result").text)
        result = by_id(d, "result").text
        wait.until(lambda d: by_id(d, "state").text != "Backing up…")
        check("a cancelled run says so, not failed", result.startswith("Cancelled") and "failed" not in result.lower(), result)
        check("after a cancel the dashboard is not red", "failed" not in by_id(d, "state").get_attribute("class"), by_id(d, "state").text)
        tab(d, "history")
        wait.until(lambda d: len(history_rows(d)) >= 3)
        check("the history lists the run as cancelled", history_rows(d)[0][1] == "cancelled", str(history_rows(d)[0]))
        shot(d, "3b-cancelled")
        shutil.rmtree(big)

        # Restore into a second database; the confirmation is for one restore only.
        tab(d, "restore")
        wait.until(lambda d: "database hrms" in by_id(d, "restore-contents").text)
        contents = by_id(d, "restore-contents").text
        shot(d, "4-restore")
        check("the main action puts the databases back under their own names", by_id(d, "r-mode-back").is_selected() and d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-to=hrms]").get_attribute("value") == "hrms")
        by_id(d, "r-mode-side").click()
        only_db(d, "hrms")
        target = d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-to=hrms]")
        target.clear()
        target.send_keys("hrms_e2e")
        ttl_text = by_id(d, "r-ttl-text").text if by_id(d, "r-ttl").is_displayed() else ""
        check("the restore screen warns of the collection with an expiry rule, not paused unless asked", "hrms.notifications" in ttl_text and not by_id(d, "r-pause-ttl").is_selected(), ttl_text)
        by_id(d, "r-pause-ttl").click()
        by_id(d, "preflight").click()
        wait.until(lambda d: by_id(d, "confirm-box").is_displayed())
        check("the preflight lists what will be restored", "hrms.users → hrms_e2e.users" in by_id(d, "preflight-out").text, by_id(d, "preflight-out").text)
        check("the check says the expiry rule will be paused", "hrms_e2e.notifications: its expiry rule (documents deleted 90 days after their createdAt) is paused" in by_id(d, "preflight-out").text, by_id(d, "preflight-out").text)
        check("the Restore button is disabled until RESTORE is typed", by_id(d, "restore-go").get_attribute("disabled") is not None)
        by_id(d, "confirm-word").send_keys("RESTORE")
        shot(d, "5-restore-preflight")
        by_id(d, "restore-go").click()
        wait.until(lambda d: by_id(d, "restore-result").text.startswith(("Restored", "Restore failed")))
        restored = by_id(d, "restore-result").text
        check("restore into a second database succeeds", restored.startswith("Restored"), restored)
        check("after a restore the confirmation is disarmed", not by_id(d, "confirm-box").is_displayed() and by_id(d, "confirm-word").get_attribute("value") == "" and by_id(d, "restore-go").get_attribute("disabled") is not None)
        shot(d, "6-restore-done")
        uri = re.search(r'uri = "([^"]+)"', open(os.path.join(data, "demo", "hrsm-backup.toml")).read()).group(1)
        client = MongoClient(uri, serverSelectionTimeoutMS=5000)

        def ttl_of(db):
            return next(ix.get("expireAfterSeconds") for ix in client[db]["notifications"].list_indexes() if ix["name"] == "createdAt_1")
        check("the restored copy's expiry rule is paused, and said", ttl_of("hrms_e2e") == 2147483647 and "Expiry paused on hrms_e2e.notifications: createdAt_1" in restored, f"{ttl_of('hrms_e2e')} {restored}")
        by_id(d, "resume-expiry").click()
        wait.until(lambda d: "Expiry is on again" in by_id(d, "restore-result").text or "bad" in by_id(d, "restore-result").text)
        check("Turn expiry back on puts the backup's rule back", ttl_of("hrms_e2e") == 7776000 and "hrms_e2e.notifications" in by_id(d, "restore-result").text, by_id(d, "restore-result").text)
        # A new check over what now exists arms a restore again; a changed choice disarms it;
        # and the shell refuses a restore that no check armed, whatever the page sends.
        by_id(d, "preflight").click()
        wait.until(lambda d: by_id(d, "confirm-box").is_displayed())
        check("the check now says the restore would replace collections", "replaces" in by_id(d, "preflight-out").text, by_id(d, "preflight-out").text)
        by_id(d, "confirm-word").send_keys("RESTORE")
        target.send_keys("2")
        check("changing what to restore disarms it", not by_id(d, "confirm-box").is_displayed() and by_id(d, "restore-go").get_attribute("disabled") is not None)
        refused = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const ch = new window.__TAURI__.core.Channel();
            window.__TAURI__.core.invoke('restore', { request: { id: document.getElementById('restore-pick').value, filesTo: null, overwrite: false, databases: [['hrms', 'hrms_e2e']], collections: [] }, confirm: 'RESTORE', token: 'forged', onEvent: ch })
              .then(() => done('restored'), (e) => done(e.message || String(e)));""")
        check("the shell refuses a restore no check armed", "Check the restore again" in refused, refused)

        # The collections of the backup (the run log collection is written after it, by design).
        names = sorted(n for n in client["hrms"].list_collection_names() if not n.startswith("system.") and n != "backuplogs")
        counts = {n: (client["hrms"][n].count_documents({}), client["hrms_e2e"][n].count_documents({})) for n in names}
        check("every collection came back with its count", names and all(a == b for a, b in counts.values()), str(counts))
        for n, (a, _) in counts.items():
            check(f"the Restore screen listed {n} with {a} documents", f"{n} ({a})" in contents, contents)

        # A deleted collection put back "as it was", after a safety copy of what was there.
        policies = client["hrms"]["insurancepolicies"].count_documents({})
        client["hrms"]["insurancepolicies"].drop()
        uploads = pathlib.Path(data) / "demo" / "hr-sm" / "uploads"
        lost = next(p for p in sorted(uploads.rglob("*")) if p.is_file())
        lost_bytes = lost.read_bytes()
        lost.unlink()
        users_now = client["hrms"]["users"].count_documents({})
        tab(d, "dashboard")
        tab(d, "restore")
        wait.until(lambda d: "database hrms" in by_id(d, "restore-contents").text)
        by_id(d, "r-mode-back").click()
        only_db(d, "hrms")
        check("the files' own folders are named", str(uploads) in by_id(d, "r-files-where").text, by_id(d, "r-files-where").text)
        by_id(d, "r-files-inplace").click()
        by_id(d, "preflight").click()
        wait.until(lambda d: by_id(d, "confirm-box").is_displayed())
        warning = d.find_elements(By.CSS_SELECTOR, "#preflight-out p.replaces")
        check("the check warns in red what will be replaced", warning and "hrms.users" in warning[0].text, warning[0].text if warning else "no warning")
        by_id(d, "confirm-word").send_keys("RESTORE")
        shot(d, "6b-put-back-check")
        by_id(d, "restore-go").click()
        wait.until(lambda d: by_id(d, "restore-result").text.startswith(("Restored", "Restore failed")))
        back = by_id(d, "restore-result").text
        check("put back as it was: the deleted collection is back", back.startswith("Restored") and client["hrms"]["insurancepolicies"].count_documents({}) == policies, back)
        check("the result says a safety copy was made first", "safety copy" in back, back)
        check("a deleted upload is back in its own folder, the same bytes", lost.exists() and lost.read_bytes() == lost_bytes and "back into their folders" in back, back)
        shot(d, "6c-put-back-done")
        tab(d, "history")
        wait.until(lambda d: any("safety copy" in r[-2] for r in history_rows(d) if len(r) > 8))
        safety_row = next(r for r in history_rows(d) if len(r) > 8 and "safety copy" in r[-2])
        check("the safety copy is listed in the history, ok and checked", safety_row[1] == "ok" and safety_row[6] == "yes", str(safety_row))
        # Undo: the safety copy holds the data as it was just before (without the collection).
        tab(d, "restore")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#restore-pick option"))
        check("the safety copy is the newest restore point", d.find_element(By.CSS_SELECTOR, "#restore-pick option").text.startswith(safety_row[0]), d.find_element(By.CSS_SELECTOR, "#restore-pick option").text)
        wait.until(lambda d: "database hrms" in by_id(d, "restore-contents").text)
        check("the safety copy holds the data as it was before the restore", "insurancepolicies" not in by_id(d, "restore-contents").text, by_id(d, "restore-contents").text)
        by_id(d, "r-mode-side").click()
        only_db(d, "hrms")
        undo = d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-to=hrms]")
        undo.clear()
        undo.send_keys("hrms_undo")
        by_id(d, "preflight").click()
        wait.until(lambda d: by_id(d, "confirm-box").is_displayed())
        by_id(d, "confirm-word").send_keys("RESTORE")
        by_id(d, "restore-go").click()
        wait.until(lambda d: by_id(d, "restore-result").text.startswith(("Restored", "Restore failed")))
        check("the safety copy restores", by_id(d, "restore-result").text.startswith("Restored") and client["hrms_undo"]["users"].count_documents({}) == users_now and "insurancepolicies" not in client["hrms_undo"].list_collection_names(), by_id(d, "restore-result").text)

        # Settings: an unchanged Save changes nothing; invalid input is refused at its field.
        demo_cfg = os.path.join(data, "demo", "hrsm-backup.toml")
        before = open(demo_cfg).read()
        tab(d, "settings")
        wait.until(lambda d: by_id(d, "s-time").get_attribute("value") == "02:00")
        check("settings show the schedule", by_id(d, "s-tz").get_attribute("value") == "UTC")
        rules = [e.get_attribute("value") for e in d.find_elements(By.CSS_SELECTOR, "#s-sources .src-include")]
        check("the form shows each folder's include rules", any(".env" in r for r in rules), str(rules))
        shot(d, "7-settings")
        d.find_element(By.CSS_SELECTOR, "#settings-form button[type=submit]").click()
        wait.until(lambda d: by_id(d, "settings-result").text)
        check("an unchanged Save changes nothing", by_id(d, "settings-result").text == "Saved." and open(demo_cfg).read() == before, by_id(d, "settings-result").text)
        # Start at login: ticked and saved, the session's autostart entry starts the app in the
        # tray; unticked and saved, it is gone.
        autostart = pathlib.Path(home) / ".config" / "autostart" / "HR-SM Backup.desktop"
        for ticked in (True, False):
            if by_id(d, "s-autostart").is_selected() != ticked:
                by_id(d, "s-autostart").click()
            d.find_element(By.CSS_SELECTOR, "#settings-form button[type=submit]").click()
            try:
                wait.until(lambda d: autostart.exists() == ticked)
            except Exception:
                pass
            entry = autostart.read_text() if autostart.exists() else ""
            if ticked:
                check("Start at login writes the session's autostart entry, started in the tray", "Exec=" in entry and entry.split("Exec=")[1].split("\n")[0].endswith(" --hidden"), entry)
            else:
                check("unticked, the autostart entry is removed", not autostart.exists(), entry)

        # The recovery key: shown as the keychain holds it; its sheet printed through the
        # system's print dialog (GTK's; cancelled here as its close button does), which leaves
        # nothing of the key on the page; hidden again once stored.
        by_id(d, "key-export").click()
        wait.until(lambda d: by_id(d, "key-box").is_displayed())
        held = subprocess.run(["secret-tool", "lookup", "service", SERVICE, "username", "master-key"], capture_output=True, text=True).stdout.strip()
        check("Show recovery key shows the key the keychain holds", by_id(d, "key-text").get_attribute("value") == held and held.startswith("hrsm-key-v1:"))
        by_id(d, "key-print").click()
        x_window = ["/usr/bin/python3", str(ROOT / "scripts" / "close-window.py")]
        dialog = False
        end = time.time() + 30
        while time.time() < end and not dialog:
            time.sleep(0.5)
            dialog = subprocess.run([*x_window, "--find", "Print"], capture_output=True).returncode == 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["import", "-window", "root", str(SHOTS / "8-print-dialog.png")], capture_output=True)
        check("Print a recovery sheet opens the system's print dialog", dialog)
        closed = subprocess.run([*x_window, "Print"], capture_output=True).returncode == 0
        wait.until(lambda d: d.execute_script("return document.getElementById('recovery-sheet').childElementCount") == 0)
        check("cancelled, the sheet is gone from the page", closed and not by_id(d, "key-result").text, by_id(d, "key-result").text)
        # Printed for real, to GTK's "Print to File" (output.pdf in the app's current folder, the
        # test's home): the PDF holds the key as the sheet shows it.
        pdf = pathlib.Path(home) / "output.pdf"
        by_id(d, "key-print").click()
        end = time.time() + 30
        while time.time() < end and subprocess.run([*x_window, "--find", "Print"], capture_output=True).returncode != 0:
            time.sleep(0.5)
        subprocess.run(["/usr/bin/python3", str(ROOT / "scripts" / "print-to-file.py")], capture_output=True)
        end = time.time() + 30
        while time.time() < end and not (pdf.exists() and pdf.stat().st_size > 0):
            time.sleep(0.5)
        time.sleep(1)
        words = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout if pdf.exists() else ""
        key_text = by_id(d, "key-text").get_attribute("value").strip()
        groups = re.findall(".{1,8}", key_text.removeprefix("hrsm-key-v1:"))
        check("printed to a file, the sheet holds the key in groups and the steps to restore",
              "recovery sheet" in words and " ".join(groups[:4]) in words and " ".join(groups[4:]) in words and "To restore on a new computer" in words, words[:600])
        wait.until(lambda d: d.execute_script("return document.getElementById('recovery-sheet').childElementCount") == 0)
        by_id(d, "key-done").click()
        wait.until(lambda d: by_id(d, "key-box").is_displayed() is False)
        check("I have stored it safely hides the key and empties its box", by_id(d, "key-text").get_attribute("value") == "")
        keep = by_id(d, "s-keep-days")
        keep.clear()
        keep.send_keys("abc")
        d.find_element(By.CSS_SELECTOR, "#settings-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#settings-form .field-error"))
        err = d.find_element(By.CSS_SELECTOR, "#settings-form .field-error")
        check("a bad number is refused next to its field, not saved", "days" in err.text and by_id(d, "settings-result").text == "" and open(demo_cfg).read() == before, err.text)
        keep.clear()
        keep.send_keys("30")
        by_id(d, "s-dest").clear()
        d.find_element(By.CSS_SELECTOR, "#settings-form button[type=submit]").click()
        wait.until(lambda d: "folder" in (d.find_elements(By.CSS_SELECTOR, "#settings-form .field-error") or [None])[0].text if d.find_elements(By.CSS_SELECTOR, "#settings-form .field-error") else False)
        err = d.find_element(By.CSS_SELECTOR, "#settings-form .field-error")
        check("an empty destination is refused by the shell, next to its field", "backups go" in err.text and open(demo_cfg).read() == before, err.text)
        check("no error shows an internal prefix", not re.search(r"\b(config|usage|invalid): ", d.find_element(By.TAG_NAME, "body").text))
        shot(d, "7b-settings-invalid")
        tab(d, "log")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#log-rows tr"))
        log_text = by_id(d, "log").text
        check("the log lists the runs with a header, local times to the second", "Time" in log_text and "Restore" in log_text and "done" in log_text and re.search(r"\d\d:\d\d:\d\d UTC", log_text), log_text[:300])
        shot(d, "8-log")

        # 3. Leave the sample data: back to the set-up, the demo's settings untouched.
        by_id(d, "demo-leave").click()
        wait.until(lambda d: by_id(d, "view-setup").is_displayed())
        check("leaving the sample data goes back to the set-up", by_id(d, "state").get_attribute("textContent") == "Not set up yet" and not by_id(d, "demo-bar").is_displayed(), by_id(d, "state").get_attribute("textContent"))

        # 4. The set-up on a real HR-SM (its own server, a password in its .env).
        real_db, site, real, lic = start_real_site(data)
        root = by_id(d, "site-root")
        root.clear()
        root.send_keys(site)
        by_id(d, "site-look").click()
        wait.until(lambda d: "Main database" in by_id(d, "site-out").text)
        check("the installation's settings are shown, the passwords masked", "hrsm:***@" in by_id(d, "site-out").text and "lic:***@" in by_id(d, "site-out").text and "E2eS3cretPw" not in d.page_source and "L1cE2ePw" not in d.page_source, by_id(d, "site-out").text)
        shot(d, "9-setup-site")
        by_id(d, "site-use").click()
        wait.until(lambda d: by_id(d, "site-result").text)
        real_cfg = os.path.join(data, "hrsm-backup.toml")
        saved = open(real_cfg).read() if os.path.exists(real_cfg) else ""
        stored = subprocess.run(["secret-tool", "lookup", "service", SERVICE, "username", "mongodb-uri"], capture_output=True, text=True).stdout
        check("using it keeps the password in the keychain, not in the settings", "E2eS3cretPw" in stored and "E2eS3cretPw" not in saved and "hrsm_platform" in saved, saved)
        check("the demo's settings were not touched", "hr-sm" in open(demo_cfg).read() and site not in open(demo_cfg).read())
        by_id(d, "w-test").click()
        wait.until(lambda d: by_id(d, "w-test-result").text not in ("", "Connecting…"))
        check("the connection test names the server", by_id(d, "w-test-result").text.startswith("Connected: MongoDB"), by_id(d, "w-test-result").text)
        wait.until(lambda d: by_id(d, "w-tz").get_attribute("value") == "Africa/Cairo")
        dest = by_id(d, "w-dest")
        dest.clear()
        dest.send_keys(os.path.join(data, "real-backups"))
        d.execute_script("const t = document.getElementById('w-time'); t.value = '03:30'; t.dispatchEvent(new Event('input'));")
        d.find_element(By.CSS_SELECTOR, "#w-form button[type=submit]").click()
        wait.until(lambda d: by_id(d, "w-result").text)
        check("the folder and time are saved", by_id(d, "w-result").text == "Saved." and "03:30" in open(real_cfg).read(), by_id(d, "w-result").text)
        shot(d, "10-setup-steps")
        wait.until(lambda d: by_id(d, "w-backup").get_attribute("disabled") is None)
        by_id(d, "w-backup").click()
        # The run's end, not a warning on the way (a missing optional folder, say).
        wait.until(lambda d: by_id(d, "result").text.startswith("Backup "))
        first = by_id(d, "result").text
        docs = re.search(r"(\d+) documents", first)
        check("the first backup of the real site is made and checked", first.startswith("Backup done") and "checked" in first and docs and int(docs.group(1)) >= 141, first)
        tab(d, "history")
        wait.until(lambda d: len(history_rows(d)) >= 1)
        check("its history has only the real site's backup", len(history_rows(d)) == 1 and history_rows(d)[0][1] == "ok", str(history_rows(d)))
        check("history times are in the site's zone", "Africa/Cairo" in by_id(d, "history-zone").text and "Africa/Cairo" in history_rows(d)[0][0], str(history_rows(d)[0]))
        tab(d, "dashboard")
        wait.until(lambda d: by_id(d, "state").text == "Healthy")
        check("the dashboard is healthy, next run in the site's zone", "Africa/Cairo" in by_id(d, "next").text and "03:30" in by_id(d, "schedule").text, by_id(d, "next").text)
        shot(d, "11-real-dashboard")

        # The old backup service's backups become restore points (the key typed, never kept).
        old_service_backup(site)
        tab(d, "settings")
        wait.until(lambda d: by_id(d, "s-time").get_attribute("value") == "03:30")
        by_id(d, "legacy-look").click()
        wait.until(lambda d: "old backup(s)" in by_id(d, "legacy-out").text)
        check("without its key an old backup is said to need it", "cannot be imported" in by_id(d, "legacy-out").text and "Type the old key" in by_id(d, "legacy-out").text, by_id(d, "legacy-out").text)
        by_id(d, "legacy-keys").send_keys(OLD_KEY)
        by_id(d, "legacy-look").click()
        wait.until(lambda d: "can be imported" in by_id(d, "legacy-out").text or "cannot" in by_id(d, "legacy-out").text)
        check("with the key it can be imported, held parts named", "can be imported" in by_id(d, "legacy-out").text and "14 Mar 2026" in by_id(d, "legacy-out").text, by_id(d, "legacy-out").text)
        by_id(d, "legacy-import").click()
        wait.until(lambda d: "imported" in by_id(d, "legacy-out").text and "can be imported" not in by_id(d, "legacy-out").text)
        d.execute_script("document.getElementById('legacy-out').scrollIntoView()")
        check("the typed keys are cleared from the page after the import", by_id(d, "legacy-keys").get_attribute("value") == "")
        shot(d, "11b-legacy-imported")
        tab(d, "history")
        wait.until(lambda d: any("imported" in r[-2] for r in history_rows(d) if len(r) > 8))
        old_row = next(r for r in history_rows(d) if len(r) > 8 and "imported" in r[-2])
        check("the imported backup is listed at its original date", "14 Mar 2026" in old_row[0] and old_row[1] == "ok", str(old_row))
        check("the typed key is kept nowhere", OLD_KEY not in open(real_cfg).read() and OLD_KEY not in subprocess.run(["secret-tool", "search", "--all", "service", SERVICE], capture_output=True, text=True).stdout)
        tab(d, "dashboard")
        wait.until(lambda d: by_id(d, "state").text == "Healthy")

        # 5. A restart keeps the real settings (an earlier version put the demo back).
        cfg_before = open(real_cfg).read()
        d.quit()
        d, wait = open_app()
        check("after a restart the real settings are kept", open(real_cfg).read() == cfg_before and not by_id(d, "demo-bar").is_displayed() and by_id(d, "state").text == "Healthy", by_id(d, "state").text)
        check("after a restart the set-up is not shown again", by_id(d, "view-dashboard").is_displayed())
        shot(d, "12-after-restart")

        # 6. An off-site copy to a second folder (a USB disk), and, the local backups gone, a
        # restore from that copy alone: the same data comes back.
        usb = os.path.join(data, "usb-disk")
        os.makedirs(usb)
        tab(d, "settings")
        wait.until(lambda d: by_id(d, "s-time").get_attribute("value") == "03:30")
        by_id(d, "offsite-add").click()
        wait.until(lambda d: by_id(d, "offsite-form").is_displayed())
        Select(by_id(d, "o-kind")).select_by_value("folder")
        by_id(d, "o-name").send_keys("usb")
        by_id(d, "o-path").send_keys(usb)
        shot(d, "13-offsite-form")
        d.find_element(By.CSS_SELECTOR, "#offsite-form button[type=submit]").click()
        wait.until(lambda d: not by_id(d, "offsite-form").is_displayed())
        check("an off-site folder is added from the settings", "usb" in by_id(d, "offsite-list").text and "[[offsite]]" in open(real_cfg).read(), by_id(d, "offsite-list").text)
        end = time.time() + 60
        while time.time() < end and "all copies checked" not in by_id(d, "offsite-lines").text:
            time.sleep(1)
            tab(d, "history")
            tab(d, "dashboard")
        check("the backups are copied there and checked, said on the dashboard", "all copies checked" in by_id(d, "offsite-lines").text, by_id(d, "offsite-lines").text)
        shot(d, "14-offsite-dashboard")
        tab(d, "history")
        wait.until(lambda d: len(history_rows(d)) >= 1)
        real_row = next(r for r in history_rows(d) if len(r) > 8 and "imported" not in r[-2])
        check("the history says where the backup is copied", real_row[7] == "usb", str(real_row))
        copied = sorted(p.name for p in pathlib.Path(usb).glob("*.hrsmbk"))
        check("the copy is in the folder, with its entry", copied and all((pathlib.Path(usb) / n.replace(".hrsmbk", ".json")).exists() for n in copied), str(copied))
        before = {n: real["hrsm_platform"][n].count_documents({}) for n in ("employees", "departments")}
        shutil.rmtree(os.path.join(data, "real-backups"))
        tab(d, "restore")
        wait.until(lambda d: by_id(d, "remote-card").is_displayed())
        check("with no backup on this computer, Restore points to the off-site ones", "off-site" in by_id(d, "restore-contents").text, by_id(d, "restore-contents").text)
        by_id(d, "remote-look").click()
        wait.until(lambda d: d.find_elements(By.XPATH, "//tbody[@id='remote-rows']//button[contains(., 'Restore from it')]"))
        shot(d, "15-offsite-list")
        d.find_element(By.XPATH, "//tbody[@id='remote-rows']/tr[1]//button[contains(., 'Restore from it')]").click()
        wait.until(lambda d: "Downloaded and checked" in by_id(d, "remote-result").text or "bad" in by_id(d, "remote-result").get_attribute("class"))
        check("Restore from it downloads and checks the backup", "Downloaded and checked" in by_id(d, "remote-result").text, by_id(d, "remote-result").text)
        wait.until(lambda d: "database hrsm_platform" in by_id(d, "restore-contents").text)
        by_id(d, "r-mode-side").click()
        only_db(d, "hrsm_platform")
        d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-db=hrsm_license_db]").click()
        for db, to in (("hrsm_platform", "hrsm_from_usb"), ("hrsm_license_db", "hrsm_license_from_usb")):
            side = d.find_element(By.CSS_SELECTOR, f"#r-dbs input[data-to={db}]")
            side.clear()
            side.send_keys(to)
        by_id(d, "preflight").click()
        wait.until(lambda d: by_id(d, "confirm-box").is_displayed())
        check("the check lists the license database too", "hrsm_license_db.licenses → hrsm_license_from_usb.licenses: 4 documents" in by_id(d, "preflight-out").text, by_id(d, "preflight-out").text)
        by_id(d, "confirm-word").send_keys("RESTORE")
        by_id(d, "restore-go").click()
        wait.until(lambda d: by_id(d, "restore-result").text.startswith(("Restored", "Restore failed")))
        after = {n: real["hrsm_from_usb"][n].count_documents({}) for n in ("employees", "departments")}
        check("the backup restored from the off-site copy alone holds the same data", by_id(d, "restore-result").text.startswith("Restored") and after == before, f"{by_id(d, 'restore-result').text} {before} {after}")
        check("the license database went back to the license server, not the main one", lic["hrsm_license_from_usb"]["licenses"].count_documents({}) == 4 and "hrsm_license_from_usb" not in real.list_database_names(), str(real.list_database_names()))
        shot(d, "16-restored-from-offsite")
    except Exception as e:  # a failed step is a failed test, with the reason
        check("the end-to-end run completed", False, repr(e))
        if d:
            try:
                shot(d, "failure")
            except Exception:
                pass
    finally:
        if d:
            d.quit()
        driver_proc.terminate()
        for p in real_db or []:
            p.kill()
        time.sleep(1)
        monitor.terminate()
        watcher.terminate()
        notify_log.close()
    notes = open(os.path.join(data, "notify.log")).read()
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    check("a Notify call went over D-Bus", 'member=Notify' in notes and "HR-SM Backup" in notes, notes[-500:])
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
