#!/usr/bin/env python3
"""The page alone in headless Chromium, with the shell played by tests/page/mock.js: the
dashboard, Back up now with progress from a Channel, the history table and chart, typed errors
shown where they belong. Complements (does not replace) the real-app test in tests/e2e.
Screenshots go to target/page-screenshots/."""
import http.server
import json
import pathlib
import sys
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOTS = ROOT / "target" / "page-screenshots"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ui/ with the mock shell injected before the page's own script."""

    def __init__(self, *a, **kw):
        super().__init__(*a, directory=str(ROOT / "ui"), **kw)

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in ("/", "/index.html"):
            html = (ROOT / "ui" / "index.html").read_text().replace('<script type="module" src="app.js">', '<script src="/mock.js"></script><script type="module" src="app.js">')
            body = html.encode()
        elif path == "/mock.js":
            body = (ROOT / "tests" / "page" / "mock.js").read_bytes()
        else:
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if path != "/mock.js" else "text/javascript")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/"
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,800"]:
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        wait = WebDriverWait(d, 20)
        d.get(base)
        wait.until(lambda d: d.find_element(By.ID, "state").text == "Healthy")
        check("the dashboard shows the state", "healthy" in d.find_element(By.ID, "state").get_attribute("class"))
        check("the last backup is described", "done" in d.find_element(By.ID, "last").text, d.find_element(By.ID, "last").text)
        check("the next run is shown", "UTC" in d.find_element(By.ID, "next").text)
        d.save_screenshot(str(SHOTS / "dashboard.png"))
        # The shell says the state changed (a run started elsewhere): the page shows it at once,
        # with no status call of its own (it keeps no polling timer).
        asked = d.execute_script("return window.__calls.filter(c => c[0] === 'status').length")
        d.execute_script("window.__emit('state-changed', Object.assign({}, window.__lastStatus || {}, {state: 'running', last: null, last_good: null, next_run: null, schedule: '02:00 UTC', backups_enabled: true, key_id: 'ab', key_error: null, key_exported: true, destination: '/srv/backups', demo: false, message: null}))")
        wait.until(lambda d: d.find_element(By.ID, "state").text == "Backing up…" or "running" in d.find_element(By.ID, "state").get_attribute("class"))
        check("a state-changed event updates the dashboard without asking", d.execute_script("return window.__calls.filter(c => c[0] === 'status').length") == asked)
        d.execute_script("window.__emit('state-changed', " + "{state: 'healthy', last: null, last_good: null, next_run: null, schedule: '02:00 UTC', backups_enabled: true, key_id: 'ab', key_error: null, key_exported: true, destination: '/srv/backups', demo: false, message: null})")
        wait.until(lambda d: "healthy" in d.find_element(By.ID, "state").get_attribute("class"))
        d.find_element(By.ID, "backup-now").click()
        wait.until(lambda d: d.find_element(By.ID, "phase").text == "dumping")
        check("the export says which collection it is on, of how many documents", d.find_element(By.ID, "phase-detail").text == "hrms.users: 10000 of about 12000 documents", d.find_element(By.ID, "phase-detail").text)
        wait.until(lambda d: d.find_element(By.ID, "result").text.startswith("Backup "))
        check("the detail goes when the run ends", d.find_element(By.ID, "phase-detail").text == "")
        width = d.execute_script("return document.getElementById('bar-fill').style.width")
        check("progress from the channel moved the bar", width == "100%", width)
        check("the result names the new backup", "1816 documents" in d.find_element(By.ID, "result").text)
        d.find_element(By.CSS_SELECTOR, "button[data-view=history]").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-rows tr")) == 3)
        statuses = [r.find_elements(By.TAG_NAME, "td")[1].text for r in d.find_elements(By.CSS_SELECTOR, "#history-rows tr")]
        check("history lists every run, newest first", statuses == ["ok", "failed", "ok"], str(statuses))
        check("the failed run carries its error", "cannot reach MongoDB" in (d.find_elements(By.CSS_SELECTOR, "#history-rows tr td.bad")[0].get_attribute("title") or ""))
        check("the chart has a bar per archive", len(d.find_elements(By.CSS_SELECTOR, "#chart rect")) == 2)
        d.save_screenshot(str(SHOTS / "history.png"))
        d.find_element(By.CSS_SELECTOR, "button[data-view=settings]").click()
        wait.until(lambda d: d.find_element(By.ID, "s-time").get_attribute("value") == "02:00")
        check("the time zone is chosen from a list", d.find_element(By.ID, "s-tz").tag_name == "select" and len(d.find_elements(By.CSS_SELECTOR, "#s-tz option")) == 3)
        check("each folder shows its rules", d.find_element(By.CSS_SELECTOR, ".src-exclude").get_attribute("value") == "node_modules/**")
        rows = len(d.find_elements(By.CSS_SELECTOR, "#s-sources .src-row"))
        d.find_element(By.ID, "s-add-source").click()  # no folder picked (the picker was cancelled)
        time.sleep(0.3)
        check("a cancelled folder picker adds no row", len(d.find_elements(By.CSS_SELECTOR, "#s-sources .src-row")) == rows)
        d.find_element(By.ID, "s-keep-min").clear()
        d.find_element(By.CSS_SELECTOR, "#settings-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".field-error"))
        saves = d.execute_script("return window.__calls.filter(c => c[0] === 'set_settings').length")
        check("an empty number is refused at its field and not sent", saves == 0 and "1000" in d.find_element(By.CSS_SELECTOR, ".field-error").text)
        d.find_element(By.ID, "s-keep-min").send_keys("3")
        d.find_element(By.ID, "s-dest").clear()
        d.find_element(By.CSS_SELECTOR, "#settings-form button[type=submit]").click()
        wait.until(lambda d: "backups go" in (d.find_element(By.CSS_SELECTOR, ".field-error").text if d.find_elements(By.CSS_SELECTOR, ".field-error") else ""))
        err = d.find_element(By.CSS_SELECTOR, ".field-error")
        check("the shell's complaint is shown next to its field, in plain words", err.find_element(By.XPATH, "preceding-sibling::input[1]").get_attribute("id") == "s-dest" and d.find_element(By.ID, "settings-result").text == "", err.text)
        d.save_screenshot(str(SHOTS / "settings-invalid.png"))
        # The HR-SM installation card: nothing typed is said plainly; a folder shows its settings masked.
        d.find_element(By.ID, "site-root").clear()
        d.find_element(By.ID, "site-look").click()
        wait.until(lambda d: "Choose the folder" in d.find_element(By.ID, "site-out").text)
        check("looking with no folder says what to do", d.find_element(By.ID, "site-use").get_attribute("hidden") is not None)
        d.find_element(By.ID, "site-root").send_keys("/var/www/hr-sm")
        d.find_element(By.ID, "site-look").click()
        wait.until(lambda d: "Main database" in d.find_element(By.ID, "site-out").text)
        out = d.find_element(By.ID, "site-out").text
        check("the site's settings are shown masked, with their files", "***" in out and "from ecosystem.config.js" in out and "usage" not in out, out)
        d.find_element(By.ID, "site-use").click()
        wait.until(lambda d: d.find_element(By.ID, "site-result").text)
        check("using the site says so", d.find_element(By.ID, "site-result").text.startswith("Saved"), d.find_element(By.ID, "site-result").text)
        d.save_screenshot(str(SHOTS / "site.png"))
        calls = d.execute_script("return window.__calls.map(c => c[0])")
        check("the page only calls the shell through the wrapper's commands", set(calls) <= {"status", "backup_now", "history", "get_settings", "set_settings", "logs", "discover_site", "use_site", "time_zones"}, str(set(calls)))
        # Verify's answer stays through a redraw; a restore is armed once.
        d.find_element(By.CSS_SELECTOR, "button[data-view=history]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#history-rows button"))
        d.find_element(By.CSS_SELECTOR, "#history-rows button").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".verify-result"))
        d.execute_script("window.__emit('history-changed', null)")
        time.sleep(0.3)
        check("Verify's answer stays after a redraw", "Intact" in d.find_element(By.CSS_SELECTOR, ".verify-result").text)
        d.find_element(By.CSS_SELECTOR, "button[data-view=restore]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#r-dbs input[type=checkbox]"))
        check("the main restore action puts databases back under their own names", d.find_element(By.ID, "r-mode-back").is_selected() and d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-to=hrms]").get_attribute("value") == "hrms")
        d.find_element(By.ID, "r-mode-side").click()
        check("a side copy gets a new name", d.find_element(By.CSS_SELECTOR, "#r-dbs input[data-to=hrms]").get_attribute("value") == "hrms_restored")
        d.find_element(By.ID, "preflight").click()
        wait.until(lambda d: d.find_element(By.ID, "confirm-box").is_displayed())
        check("what a restore replaces is named in red", "replaces" in d.find_element(By.CSS_SELECTOR, "#preflight-out p.replaces").text)
        check("a time series is counted in groups of measurements, not documents", "readings: 3 groups of measurements" in d.find_element(By.ID, "preflight-out").text, d.find_element(By.ID, "preflight-out").text)
        d.find_element(By.ID, "confirm-word").send_keys("RESTORE")
        d.find_element(By.ID, "restore-go").click()
        wait.until(lambda d: d.find_element(By.ID, "restore-result").text.startswith("Restored"))
        check("the restore's result counts a time series in groups too", "readings: 3 groups of measurements" in d.find_element(By.ID, "restore-result").text, d.find_element(By.ID, "restore-result").text)
        check("what the clean-up of a stopped restore found is shown with the result", "A restore was stopped while it filled hrms_restored.users" in d.find_element(By.ID, "restore-result").text, d.find_element(By.ID, "restore-result").text)
        token = d.execute_script("return window.__calls.filter(c => c[0] === 'restore')[0][1].token")
        check("the restore carries its check's token and ends disarmed", token and not d.find_element(By.ID, "confirm-box").is_displayed() and d.find_element(By.ID, "restore-go").get_attribute("disabled") is not None)
        d.get(base + "?scenario=cancel")
        wait.until(lambda d: d.find_element(By.ID, "state").text == "Healthy")
        d.find_element(By.ID, "backup-now").click()
        wait.until(lambda d: d.find_element(By.ID, "result").text)
        check("a cancel is said plainly, not as a failure", d.find_element(By.ID, "result").text.startswith("Cancelled") and "failed" not in d.find_element(By.ID, "result").text.lower())
        d.get(base + "?scenario=setup")
        wait.until(lambda d: d.find_element(By.ID, "view-setup").is_displayed())
        where = d.find_element(By.ID, "site-card").find_element(By.XPATH, "..").get_attribute("id")
        check("a fresh install opens on the set-up", d.find_element(By.ID, "state").get_attribute("textContent") == "Not set up yet" and where == "setup-site-slot", f"{d.find_element(By.ID, 'state').text} / {where}")
        d.save_screenshot(str(SHOTS / "setup.png"))
        d.find_element(By.ID, "setup-demo").click()
        wait.until(lambda d: d.find_element(By.ID, "demo-bar").is_displayed())
        check("the sample data is labelled on every view", "Sample data" in d.find_element(By.ID, "demo-bar").text and d.find_element(By.ID, "view-dashboard").is_displayed())
        d.find_element(By.ID, "demo-leave").click()
        wait.until(lambda d: d.find_element(By.ID, "view-setup").is_displayed())
        check("leaving the sample data goes back to the set-up", not d.find_element(By.ID, "demo-bar").is_displayed())
        d.get(base + "?scenario=nokey")
        wait.until(lambda d: not d.find_element(By.ID, "banner").get_attribute("hidden"))
        check("a locked keychain is said on the page", "No encryption key" in d.find_element(By.ID, "banner").text and d.find_element(By.ID, "backup-now").get_attribute("disabled") is not None)
        d.save_screenshot(str(SHOTS / "no-key.png"))
        # Off-site copies: a failed copy is said in red on the dashboard, the history marks
        # which backups are copied, the settings add one with its key, and a backup only the
        # off-site copy has is downloaded from the history.
        d.get(base + "?scenario=offsite")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offsite-lines li"))
        line = d.find_element(By.CSS_SELECTOR, "#offsite-lines li")
        check("a failed off-site copy is said in red, in plain words", "FAILED" in line.text and "bad" in line.get_attribute("class") and "refused the credentials" in line.text, line.text)
        d.save_screenshot(str(SHOTS / "offsite-dashboard.png"))
        d.find_element(By.CSS_SELECTOR, "button[data-view=history]").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-rows tr")) == 3)
        marks = [r.find_elements(By.TAG_NAME, "td")[7].text for r in d.find_elements(By.CSS_SELECTOR, "#history-rows tr")]
        check("the history says where each backup is copied", marks == ["cloud", "—", "—"], str(marks))
        d.find_element(By.ID, "remote-look").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#remote-rows tr")) == 2)
        d.find_element(By.CSS_SELECTOR, "#remote-rows tr:last-child button").click()
        wait.until(lambda d: "Downloaded and checked" in d.find_element(By.ID, "remote-result").text)
        check("a backup stored only off-site is downloaded from the history", len(d.find_elements(By.CSS_SELECTOR, "#remote-rows tr")) == 1 and len(d.find_elements(By.CSS_SELECTOR, "#history-rows tr")) == 4)
        # A new computer's admin goes to Restore: the off-site backups are there too, and one
        # click downloads one and opens it for restoring.
        d.find_element(By.CSS_SELECTOR, "button[data-view=restore]").click()
        wait.until(lambda d: d.find_element(By.ID, "remote-card").is_displayed())
        check("the off-site backups are offered under Restore", d.find_element(By.ID, "view-restore").find_elements(By.ID, "remote-card") != [])
        d.find_element(By.ID, "remote-look").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#remote-rows tr")) == 1)
        want = d.execute_script("return window.__calls.filter(c => c[0] === 'offsite_backups').length")
        d.find_element(By.XPATH, "//tbody[@id='remote-rows']//button[contains(., 'Restore from it')]").click()
        wait.until(lambda d: "chosen above" in d.find_element(By.ID, "remote-result").text)
        fetched = d.execute_script("return window.__calls.filter(c => c[0] === 'offsite_fetch').pop()[1].id")
        wait.until(lambda d: Select(d.find_element(By.ID, "restore-pick")).first_selected_option.get_attribute("value") == fetched)
        check("'Restore from it' downloads the backup and opens it in Restore", d.find_element(By.ID, "view-restore").is_displayed() and want >= 1)
        d.save_screenshot(str(SHOTS / "offsite-restore.png"))
        d.find_element(By.CSS_SELECTOR, "button[data-view=settings]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offsite-list li"))
        check("each destination says what protects it against deletion", "retention lock" in d.find_element(By.CSS_SELECTOR, "#offsite-list li").text)
        d.find_element(By.ID, "offsite-add").click()
        wait.until(lambda d: d.find_element(By.ID, "offsite-form").is_displayed())
        check("an S3 form asks for keys, not for a folder", d.find_element(By.ID, "o-secret").is_displayed() and not d.find_element(By.ID, "o-path").is_displayed() and d.find_element(By.ID, "o-secret").get_attribute("type") == "password")
        d.find_element(By.ID, "o-name").send_keys("b2")
        d.find_element(By.ID, "o-key-id").send_keys("KEYID")
        d.find_element(By.ID, "o-secret").send_keys("SECRETVALUE")
        d.find_element(By.CSS_SELECTOR, "#offsite-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offsite-form .field-error"))
        err = d.find_element(By.CSS_SELECTOR, "#offsite-form .field-error")
        check("a missing bucket is said next to its field", err.find_element(By.XPATH, "preceding-sibling::input[1]").get_attribute("id") == "o-bucket", err.text)
        d.find_element(By.ID, "o-bucket").send_keys("hr-backups")
        d.find_element(By.CSS_SELECTOR, "#offsite-form button[type=submit]").click()
        wait.until(lambda d: not d.find_element(By.ID, "offsite-form").is_displayed())
        sent = d.execute_script("return window.__calls.filter(c => c[0] === 'offsite_save').pop()[1]")
        check("saving sends the key separately and clears it from the form", sent["secret"]["secretAccessKey"] == "SECRETVALUE" and "secret" not in json.dumps(sent["form"]).lower() and d.find_element(By.ID, "o-secret").get_attribute("value") == "", json.dumps(sent["form"]))
        check("the new destination is listed", len(d.find_elements(By.CSS_SELECTOR, "#offsite-list li")) == 2)
        d.find_element(By.ID, "offsite-add").click()
        d.find_element(By.ID, "o-name").send_keys("slow")
        d.find_element(By.ID, "o-bucket").send_keys("b")
        d.find_element(By.ID, "o-limit").send_keys("0")
        d.find_element(By.CSS_SELECTOR, "#offsite-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#offsite-form .field-error"))
        err = d.find_element(By.CSS_SELECTOR, "#offsite-form .field-error")
        check("an upload limit of 0 is said next to its field", err.find_element(By.XPATH, "preceding-sibling::input[1]").get_attribute("id") == "o-limit" and "no limit" in err.text, err.text)
        d.find_element(By.ID, "o-limit").clear()
        d.find_element(By.ID, "o-limit").send_keys("20")
        d.find_element(By.CSS_SELECTOR, "#offsite-form button[type=submit]").click()
        wait.until(lambda d: not d.find_element(By.ID, "offsite-form").is_displayed())
        sent = d.execute_script("return window.__calls.filter(c => c[0] === 'offsite_save').pop()[1]")
        check("the upload limit is sent as a number", sent["form"]["uploadLimitMbps"] == 20, json.dumps(sent["form"]))
        d.find_element(By.ID, "offsite-add").click()
        Select(d.find_element(By.ID, "o-kind")).select_by_value("folder")
        check("a folder needs no key", d.find_element(By.ID, "o-path").is_displayed() and not d.find_element(By.ID, "o-secret").is_displayed())
        d.save_screenshot(str(SHOTS / "offsite-settings.png"))
        # The recovery sheet: only it is printed, the key in groups a person can type back,
        # then it is emptied.
        d.find_element(By.ID, "o-cancel").click()
        d.find_element(By.ID, "key-export").click()
        wait.until(lambda d: d.find_element(By.ID, "key-box").is_displayed())
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        d.execute_script("document.getElementById('key-print').click()")
        wait.until(lambda d: d.execute_script("return window.__printed"))
        printed = d.execute_script("return window.__printed")
        d.save_screenshot(str(SHOTS / "recovery-sheet.png"))
        check("the recovery sheet is printed through the shell's print dialog", any(c[0] == "print_sheet" for c in d.execute_script("return window.__calls")))
        check("the recovery sheet holds the key in groups, its fingerprint and the steps", "hrsm-key-v1:\n01234567 89abcdef 01234567 89abcdef\n01234567 89abcdef 01234567 89abcdef" in printed["text"] and "Key fingerprint: abab" in printed["text"] and "Import a key" in printed["text"] and "/srv/backups" in printed["text"], printed["text"])
        check("only the sheet is printed", printed["sheet"] == "block" and printed["main"] == "none", str(printed))
        # Printed again 3 s later: the first print's clean-up (5 s after it) leaves the second
        # sheet whole; then it goes too (still in print media, so only the timer empties it).
        sheet_text = "return document.getElementById('recovery-sheet').innerText"
        time.sleep(3)
        d.execute_script("window.__printed = null; document.getElementById('key-print').click()")
        wait.until(lambda d: d.execute_script("return window.__printed"))
        time.sleep(3)
        check("a second print soon after keeps its sheet whole", "hrsm-key-v1:" in d.execute_script(sheet_text))
        wait.until(lambda d: d.execute_script(sheet_text) == "")
        check("the sheet is emptied after printing", d.execute_script("return document.getElementById('recovery-sheet').childElementCount") == 0)
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        # Keyboard: the tabs are reachable and work with Enter.
        d.find_element(By.CSS_SELECTOR, "button[data-view=log]").send_keys("\n")
        wait.until(lambda d: "Backup" in d.find_element(By.ID, "log").text)
        check("the log view works from the keyboard", "done" in d.find_element(By.ID, "log").text)
    except Exception as e:
        check("the page test completed", False, repr(e))
    finally:
        d.quit()
        server.shutdown()
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
