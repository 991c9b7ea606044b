#!/usr/bin/env python3
"""End to end, with the real parts: the real desktop app binary under Xvfb on a private D-Bus
session (gnome-keyring unlocked, dunst running), driven through tauri-driver + WebKitWebDriver.

It starts from nothing configured, so the app runs its demo (a local SecantusDB seeded with
sample HR-SM data); clicks "Back up now" and sees progress and a new history row; checks that a
Notify call went over D-Bus and that the key is in the Secret Service; restores the backup into
a second database through the Restore screen and compares every collection's count with the
original; saves a screenshot of each screen under target/e2e-screenshots/.
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
from selenium.webdriver.support.ui import WebDriverWait

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


def main():
    data = tempfile.mkdtemp(prefix="hrsm-e2e-")
    env = dict(os.environ, HRSM_DESKTOP_DATA=data)
    env.pop("BACKUP_ENCRYPTION_KEY", None)
    env.pop("MONGODB_URI", None)
    subprocess.run(["secret-tool", "clear", "service", SERVICE, "username", "master-key"], check=False)
    notify_log = open(os.path.join(data, "notify.log"), "w")
    # A panel's StatusNotifierWatcher, so the tray icon registers (Debian's python3 + python3-dbus).
    items_file = os.path.join(data, "tray-items.txt")
    watcher = subprocess.Popen(["/usr/bin/python3", str(ROOT / "tests" / "e2e" / "sni_watcher.py"), items_file], stderr=subprocess.DEVNULL)
    tray = Tray(items_file)
    time.sleep(1)
    monitor = subprocess.Popen(["dbus-monitor", "--session", "interface='org.freedesktop.Notifications',member='Notify'"], stdout=notify_log, stderr=subprocess.DEVNULL)
    driver_proc = subprocess.Popen([DRIVER, "--port", "4444"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = None
    try:
        check("tauri-driver listens", wait_port(4444))
        opts = ArgOptions()
        opts.set_capability("browserName", "wry")
        opts.set_capability("tauri:options", {"application": str(APP)})
        t0 = time.time()
        d = webdriver.Remote(command_executor="http://127.0.0.1:4444", options=opts)
        wait = WebDriverWait(d, 90)
        wait.until(lambda d: by_id(d, "state").text not in ("", "…"))
        print(f"start to first status on screen: {time.time() - t0:.2f} s", flush=True)
        check("dashboard shows the demo", "Demo mode" in by_id(d, "state-message").text, by_id(d, "state-message").text)
        check("the page warns that the key is not exported", "not been exported" in by_id(d, "banner").text)
        shot(d, "1-dashboard")

        by_id(d, "backup-now").click()
        wait.until(lambda d: not by_id(d, "progress-wrap").get_attribute("hidden"))
        seen_phases = set()
        end = time.time() + 180
        while time.time() < end and not by_id(d, "result").text:
            seen_phases.add(by_id(d, "phase").text)
            time.sleep(0.05)
        result = by_id(d, "result").text
        check("backup now succeeds", result.startswith("Backup ") and "done" in result, result)
        check("progress was shown", len(seen_phases - {""}) >= 1, str(seen_phases))
        shot(d, "2-after-backup")

        d.find_element(By.CSS_SELECTOR, "button[data-view=history]").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-rows tr")) >= 1)
        cells = [td.text for td in d.find_elements(By.CSS_SELECTOR, "#history-rows tr:first-child td")]
        check("a new history row, ok and verified", len(cells) >= 7 and cells[1] == "ok" and cells[6] == "yes", str(cells))
        check("the size chart has a bar", len(d.find_elements(By.CSS_SELECTOR, "#chart rect")) >= 1)
        shot(d, "3-history")

        # The tray: registered, its status line tells the last and next run, and its
        # "Back up now" makes another backup that shows up in the history.
        check("the tray icon registered with the panel", tray.item() is not None)
        labels = [l for _, l in tray.menu()]
        check("the tray menu has Back up now, Open and Quit", {"Back up now", "Open", "Quit"} <= set(labels), str(labels))
        status_line = next((l for l in labels if l.startswith("Last: ")), "")
        check("the tray status line says Last and Next", " ok" in status_line and "Next: " in status_line, status_line)
        tray.click("Back up now")
        d.find_element(By.CSS_SELECTOR, "button[data-view=dashboard]").click()
        d.find_element(By.CSS_SELECTOR, "button[data-view=history]").click()
        end = time.time() + 120
        while time.time() < end and len(d.find_elements(By.CSS_SELECTOR, "#history-rows tr")) < 2:
            time.sleep(1)
            d.find_element(By.CSS_SELECTOR, "button[data-view=dashboard]").click()
            d.find_element(By.CSS_SELECTOR, "button[data-view=history]").click()
        check("Back up now from the tray made a second backup", len(d.find_elements(By.CSS_SELECTOR, "#history-rows tr")) >= 2)

        secret = subprocess.run(["secret-tool", "lookup", "service", SERVICE, "username", "master-key"], capture_output=True, text=True).stdout
        check("the key is in the Secret Service", secret.startswith("hrsm-key-v1:") and len(secret.strip()) == 76)

        d.find_element(By.CSS_SELECTOR, "button[data-view=restore]").click()
        wait.until(lambda d: "database hrms" in by_id(d, "restore-contents").text)
        contents = by_id(d, "restore-contents").text
        shot(d, "4-restore")
        d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-db=hrms]").click()
        target = d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-to=hrms]")
        target.clear()
        target.send_keys("hrms_e2e")
        by_id(d, "preflight").click()
        wait.until(lambda d: by_id(d, "confirm-box").is_displayed())
        check("the preflight lists what will be restored", "hrms.users → hrms_e2e.users" in by_id(d, "preflight-out").text, by_id(d, "preflight-out").text)
        by_id(d, "confirm-word").send_keys("RESTORE")
        shot(d, "5-restore-preflight")
        by_id(d, "restore-go").click()
        wait.until(lambda d: by_id(d, "restore-result").text.startswith(("Restored", "Restore failed")))
        restored = by_id(d, "restore-result").text
        check("restore into a second database succeeds", restored.startswith("Restored"), restored)
        shot(d, "6-restore-done")

        uri = re.search(r'uri = "([^"]+)"', open(os.path.join(data, "hrsm-backup.toml")).read()).group(1)
        client = MongoClient(uri, serverSelectionTimeoutMS=5000)
        # The collections of the backup (the run log collection is written after it, by design).
        names = sorted(n for n in client["hrms"].list_collection_names() if not n.startswith("system.") and n != "backuplogs")
        counts = {n: (client["hrms"][n].count_documents({}), client["hrms_e2e"][n].count_documents({})) for n in names}
        check("every collection came back with its count", names and all(a == b for a, b in counts.values()), str(counts))
        for n, (a, _) in counts.items():
            check(f"the Restore screen listed {n} with {a} documents", f"{n} ({a})" in contents, contents)

        d.find_element(By.CSS_SELECTOR, "button[data-view=settings]").click()
        wait.until(lambda d: by_id(d, "s-time").get_attribute("value") == "02:00")
        check("settings show the schedule", by_id(d, "s-tz").get_attribute("value") == "UTC")
        shot(d, "7-settings")
        d.find_element(By.CSS_SELECTOR, "button[data-view=log]").click()
        wait.until(lambda d: "backup" in by_id(d, "log").text)
        check("the log view lists the runs", "restore" in by_id(d, "log").text and "ok" in by_id(d, "log").text, by_id(d, "log").text)
        shot(d, "8-log")

        # The HR-SM installation card on a site whose own files hold a password: shown masked,
        # used with the password in the keychain only.
        site = os.path.join(data, "site-e2e")
        os.makedirs(site, exist_ok=True)
        hostport = re.search(r"mongodb://([^/?]+)", uri).group(1)
        with open(os.path.join(site, ".env"), "w") as f:
            f.write(f"MONGODB_URI=mongodb://hrsm:E2eS3cretPw@{hostport}/hrsm_platform\nBACKUP_TIMEZONE=Africa/Cairo\n")
        d.find_element(By.CSS_SELECTOR, "button[data-view=settings]").click()
        wait.until(lambda d: by_id(d, "site-root").get_attribute("value"))  # the configured folder
        root = by_id(d, "site-root")
        root.clear()
        root.send_keys(site)
        by_id(d, "site-look").click()
        wait.until(lambda d: "Main database" in by_id(d, "site-out").text)
        check("the installation's settings are shown, the password masked", "hrsm:***@" in by_id(d, "site-out").text and "E2eS3cretPw" not in d.page_source, by_id(d, "site-out").text)
        shot(d, "9-site")
        by_id(d, "site-use").click()
        wait.until(lambda d: by_id(d, "site-result").text)
        saved = open(os.path.join(data, "hrsm-backup.toml")).read()
        stored = subprocess.run(["secret-tool", "lookup", "service", SERVICE, "username", "mongodb-uri"], capture_output=True, text=True).stdout
        check("using it keeps the password in the keychain, not in the config", "E2eS3cretPw" in stored and "E2eS3cretPw" not in saved and "hrsm_platform" in saved, saved)
        check("the settings now show the installation's time zone", by_id(d, "s-tz").get_attribute("value") == "Africa/Cairo")
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
        time.sleep(1)
        monitor.terminate()
        watcher.terminate()
        notify_log.close()
    notes = open(os.path.join(data, "notify.log")).read()
    shutil.rmtree(data, ignore_errors=True)
    check("a Notify call went over D-Bus", 'member=Notify' in notes and "HR-SM Backup" in notes, notes[-500:])
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
