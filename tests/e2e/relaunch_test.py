#!/usr/bin/env python3
"""The tray app gives its window's memory back (src-tauri/src/relaunch.rs), tried on the real
app in a private session (Xvfb, D-Bus; scripts/e2e runs it after e2e.py):

- started at login (--hidden) with nothing configured, it stays as it is (no window was shown);
- the admin opens the window (a second start brings it up, with WebKit's helper processes),
  then closes it as the close button does; after the delay the app starts itself again as the
  tray alone, in the same process: every WebKit helper has ended (none left a zombie);
- what it was started with (--demo here) is kept, and a start from the menu still brings the
  window up, in the restarted app;
- a window opened again before the delay is over stops the restart.

The delay is 3 s here (HRSM_DESKTOP_RELAUNCH_AFTER); 60 s in the app. The memory figures are
printed, not asserted: bench/desktop-idle.sh measures them."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
APP = ROOT / "target" / "debug" / "hrsm-backup-desktop"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)


def app_pids():
    """Running (not zombie) processes of this build of the app."""
    found = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if os.readlink(p / "exe") == str(APP) and (p / "stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX":
                found.append(int(p.name))
        except OSError:
            pass
    return sorted(found)


def webkit_helpers():
    """The app's WebKit processes (its children: other sessions' are not counted)."""
    apps = {str(p) for p in app_pids()}
    out = subprocess.run(["ps", "-eo", "pid,ppid,rss,comm"], capture_output=True, text=True).stdout
    return [[pid, rss, comm] for pid, ppid, rss, comm in (line.split(None, 3) for line in out.splitlines()[1:]) if "WebKit" in comm and ppid in apps]


def rss_mb(pid):
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Rss:"):
            return int(line.split()[1]) // 1024
    return 0


def wait_for(cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def close_window():
    return subprocess.run(["/usr/bin/python3", str(ROOT / "scripts" / "close-window.py")], capture_output=True, text=True).returncode == 0


def main():
    data = tempfile.mkdtemp(prefix="hrsm-relaunch-")
    env = dict(os.environ, HRSM_DESKTOP_DATA=data, HRSM_DESKTOP_RELAUNCH_AFTER="3")
    for v in ("BACKUP_ENCRYPTION_KEY", "MONGODB_URI", "MONGO_URI", "BACKUPS_ENABLED"):
        env.pop(v, None)
    log_path = pathlib.Path(data) / "out.log"
    log = open(log_path, "w")

    def said(text):
        return log_path.read_text(errors="replace").count(text)

    try:
        first = subprocess.Popen([str(APP), "--demo", "--hidden"], env=env, stdout=log, stderr=log)
        check("the app starts to its tray", wait_for(lambda: said("tray ready") == 1, 60), log_path.read_text()[-500:])
        time.sleep(5)
        check("started at login, with no window shown, it does not restart", app_pids() == [first.pid] and said("restarting") == 0, str(app_pids()))

        # Opened, then closed before the delay is over, then opened again: no restart.
        subprocess.run([str(APP)], env=env, timeout=60)
        check("a second start brings the window up", wait_for(lambda: said("page ready") == 1, 60))
        check("with WebKit's helper processes", len(webkit_helpers()) >= 1, str(webkit_helpers()))
        check("the window closes as with its close button", close_window())
        time.sleep(1)
        subprocess.run([str(APP)], env=env, timeout=60)
        time.sleep(5)
        check("a window opened again before the delay stops the restart", app_pids() == [first.pid] and said("restarting") == 0, str(app_pids()))
        open_rss = rss_mb(first.pid) + sum(int(h[1]) for h in webkit_helpers()) // 1024

        check("closed again, the window goes", close_window())
        restarted = wait_for(lambda: said("restarting as the tray alone") == 1 and said("tray ready") == 2, 40)
        pids = app_pids()
        # The same process (exec): a session manager or a systemd unit sees no exit.
        check("after the delay the app starts again as the tray alone, in the same process", restarted and pids == [first.pid] and first.poll() is None, f"{pids} {log_path.read_text()[-800:]}")
        check("every WebKit helper process has ended and none is left a zombie", wait_for(lambda: not webkit_helpers(), 10), str(webkit_helpers()))
        if len(pids) == 1:
            new = pids[0]
            cmdline = pathlib.Path(f"/proc/{new}/cmdline").read_bytes().split(b"\0")
            check("it keeps what it was started with, and is hidden", b"--demo" in cmdline and b"--hidden" in cmdline, str(cmdline))
            time.sleep(3)
            print(f"memory: window open {open_rss} MB (app and WebKit helpers); after the restart {rss_mb(new)} MB, no helpers", flush=True)
            subprocess.run([str(APP)], env=env, timeout=60)
            check("a start from the menu brings the window up in the restarted app", wait_for(lambda: said("page ready") == 2, 60) and app_pids() == [new], str(app_pids()))
    except Exception as e:  # a failed step is a failed test, with the reason
        check("the relaunch run completed", False, repr(e))
    finally:
        for pid in app_pids():
            try:
                os.kill(pid, 15)
            except OSError:
                pass
        wait_for(lambda: not app_pids(), 10)
        log.close()
        shutil.rmtree(data, ignore_errors=True)
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
