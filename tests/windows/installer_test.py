#!/usr/bin/env python3
"""The Windows installer (src-tauri/windows/installer.nsi, built by
scripts/build-windows-installer) run under Wine in a fresh prefix, as an admin would run it
(silently here: /S takes every default):

- it installs for the user without administrator rights: the app, its WebView2 loader and the
  command-line tool in %LOCALAPPDATA%\\Programs\\HR-SM Backup, and the installed tool runs;
- the Start menu shortcut exists and carries the app id; the app id is registered for
  notifications, under the same id the app's notify.rs sends with (tauri.conf.json's identifier);
- Settings > Apps lists it with its version and a silent uninstall command;
- installing over a running app does not replace its files: it stops with exit code 2 and
  leaves the running one as it was; once the app has quit, the same installer goes through;
- installing over a running backup of the command-line tool stops the same way;
- uninstalling removes the program, the shortcut, the registry entries, the start-at-login entry
  and the Task Scheduler task of the tool it installed (one registered with a copy of
  hrsm-backup.exe elsewhere is kept), and keeps the admin's settings and backups.

What Wine cannot show: the toast itself, the app's window (no WebView2 under Wine) and the
installer's pages (run silently). Run it with scripts/test-windows."""
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from wine import WINE, check, init_prefix, prefix_env, stop, summary
from wine import settle as wine_settle

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRODUCT = "HR-SM Backup"


def main():
    installer = pathlib.Path(sys.argv[1]).resolve()
    holdfile = pathlib.Path(sys.argv[2]).resolve()
    stand_in = pathlib.Path(sys.argv[3]).resolve()
    conf = json.loads((ROOT / "src-tauri" / "tauri.conf.json").read_text())
    appid, version = conf["identifier"], conf["version"]
    work = pathlib.Path(tempfile.mkdtemp(prefix="hrsm-inst-"))
    env = prefix_env(work / "prefix")

    def wine(*args, timeout=300):
        return subprocess.run([WINE, *map(str, args)], env=env, cwd=work, capture_output=True, text=True, timeout=timeout)

    def settle():
        wine_settle(env)

    def reg(key, value):
        r = wine("reg", "query", key, "/v", value)
        m = re.search(rf"{re.escape(value)}\s+REG_\w+\s+(.*)", r.stdout)
        return m.group(1).strip() if r.returncode == 0 and m else None

    holder = None
    try:
        init_prefix(env)
        # Wine 8.0 lacks bcryptprimitives.dll (tests/windows/bcryptprimitives.c): the stand-in
        # goes into Wine's own system folder, never into what the installer installed.
        shutil.copy(stand_in, work / "prefix" / "drive_c" / "windows" / "system32" / "bcryptprimitives.dll")
        users = work / "prefix" / "drive_c" / "users"

        # Wine's shell link keeps no properties (its IPropertyStore::SetValue is a stub that
        # says so on its fixme channel): that the installer sets the app id on the shortcut is
        # seen from that call; the stored value only on a real Windows.
        r = subprocess.run([WINE, str(installer), "/S"], env=dict(env, WINEDEBUG="fixme+shell"), cwd=work, capture_output=True, text=True, timeout=300)
        settle()
        homes = [p for p in users.iterdir() if (p / "AppData" / "Local" / "Programs" / PRODUCT).is_dir()]
        check("the silent install ends with exit code 0", r.returncode == 0, r.stdout + r.stderr[-300:])
        check("it installs for the user, in AppData\\Local\\Programs\\HR-SM Backup", len(homes) == 1, str(list(users.iterdir())))
        home = homes[0]
        inst = home / "AppData" / "Local" / "Programs" / PRODUCT
        files = sorted(p.name for p in inst.iterdir())
        check("the app, its WebView2 loader, the command-line tool and an uninstaller are there",
              files == sorted([f"{PRODUCT}.exe", "WebView2Loader.dll", "hrsm-backup.exe", f"{PRODUCT}.ico", "uninstall.exe"]), str(files))
        v = wine(inst / "hrsm-backup.exe", "--version")
        check("the installed command-line tool runs", v.returncode == 0 and v.stdout.strip() == f"hrsm-backup {version}", v.stdout + v.stderr[-300:])

        lnk = home / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu" / "Programs" / f"{PRODUCT}.lnk"
        check("a Start menu shortcut is made", lnk.is_file())
        lnk_bytes = lnk.read_bytes() if lnk.is_file() else b""
        check("the installer sets the app id on the shortcut (what Wine can show)", "propertystore_SetValue" in r.stderr and "propertystore_Commit" in r.stderr, r.stderr[-300:])
        check("the shortcut starts the app", f"{PRODUCT}.exe".encode("utf-16-le") in lnk_bytes or f"{PRODUCT}.exe".encode() in lnk_bytes)
        aumid = rf"HKCU\Software\Classes\AppUserModelId\{appid}"
        check("the app id is registered for notifications, named HR-SM Backup", reg(aumid, "DisplayName") == PRODUCT, str(reg(aumid, "DisplayName")))
        notify_rs = (ROOT / "src-tauri" / "src" / "notify.rs").read_text()
        lib_rs = (ROOT / "src-tauri" / "src" / "lib.rs").read_text()
        check("the app sends its notifications under that id", "n.app_id(crate::APP_ID)" in notify_rs and f'APP_ID: &str = "{appid}"' in lib_rs)
        uninst = rf"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\{appid}"
        check("Settings > Apps lists it with its version", reg(uninst, "DisplayName") == PRODUCT and reg(uninst, "DisplayVersion") == version,
              f"{reg(uninst, 'DisplayName')} {reg(uninst, 'DisplayVersion')}")
        quiet = reg(uninst, "QuietUninstallString") or ""
        check("with a silent uninstall command", quiet.endswith('uninstall.exe" /S'), quiet)

        # Installing over a running app: the program file is held as a running .exe is.
        app = inst / f"{PRODUCT}.exe"
        before = app.read_bytes()
        app.write_bytes(b"the running version")
        holder = subprocess.Popen([WINE, str(holdfile), str(app)], env=env, stdout=subprocess.PIPE, text=True)
        held = holder.stdout.readline().strip() == "held"
        r = wine(installer, "/S")
        check("installing over the running app stops with exit code 2", held and r.returncode == 2, f"held={held} exit {r.returncode}")
        check("and leaves the running app's files as they were", app.read_bytes() == b"the running version")
        holder.kill()
        holder.wait()
        holder = None
        settle()
        r = wine(installer, "/S")
        settle()
        check("once the app has quit, the same installer goes through", r.returncode == 0 and app.read_bytes() == before, f"exit {r.returncode}")

        # A backup the Task Scheduler started (the installed hrsm-backup.exe running) is not
        # cut short by an upgrade either.
        cli_exe = inst / "hrsm-backup.exe"
        holder = subprocess.Popen([WINE, str(holdfile), str(cli_exe)], env=env, stdout=subprocess.PIPE, text=True)
        held = holder.stdout.readline().strip() == "held"
        r = wine(installer, "/S")
        check("nor over a running backup of the command-line tool (exit code 2)", held and r.returncode == 2, f"held={held} exit {r.returncode}")
        holder.kill()
        holder.wait()
        holder = None
        settle()

        # What the app and the admin made: settings, backups, start at login, and an hourly task
        # registered with a copy of hrsm-backup.exe elsewhere (a server's own).
        data = home / "AppData" / "Roaming" / appid
        data.mkdir(parents=True, exist_ok=True)
        (data / "config.toml").write_text("# the admin's settings\n")
        (work / "backups").mkdir()
        (work / "backups" / "hrsm-20261201T020000Z.hrsmbk").write_bytes(b"a restore point")
        wine("reg", "add", r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run", "/v", PRODUCT, "/d", f'"{app}" --hidden', "/f")
        key = work / "task.key"
        g = wine(cli_exe, "--key-file", key, "key", "generate")
        (work / "task.toml").write_text(f'destination = "{(work / "backups").as_posix()}"\n[mongodb]\nenabled = false\n'
                                        f'[[sources]]\nname = "data"\npath = "{work.as_posix()}"\n')
        (work / "elsewhere").mkdir()
        shutil.copy(cli_exe, work / "elsewhere" / "hrsm-backup.exe")
        tasks = work / "prefix" / "drive_c" / "windows" / "system32" / "tasks" / PRODUCT

        def register(exe):
            t = wine(exe, "--config", "task.toml", "--key-file", "task.key", "schedule-task", "install", "--only-when-logged-on")
            settle()
            return t.returncode == 0 and tasks.is_file(), t.stdout + t.stderr[-400:]

        def uninstall():
            r = wine(inst / "uninstall.exe", "/S")
            # The uninstaller copies itself away and returns at once; wait for its work.
            for _ in range(120):
                if not inst.exists():
                    break
                time.sleep(0.5)
            settle()
            return r

        ok, why = register(work / "elsewhere" / "hrsm-backup.exe")
        check("(set-up: an hourly task of a copy elsewhere is registered)", g.returncode == 0 and ok, g.stderr[-300:] + why)
        r = uninstall()
        check("uninstalling removes the program folder", r.returncode == 0 and not inst.exists(), str(list(inst.iterdir())) if inst.exists() else "")
        check("and the Start menu shortcut", not lnk.exists())
        check("and the app id and the Settings > Apps entry", reg(aumid, "DisplayName") is None and reg(uninst, "DisplayName") is None)
        check("and start at login", reg(r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run", PRODUCT) is None)
        check("it keeps the admin's settings and backups", (data / "config.toml").read_text() == "# the admin's settings\n"
              and (work / "backups" / "hrsm-20261201T020000Z.hrsmbk").exists())
        check("and the hourly task of a hrsm-backup.exe it did not install", tasks.is_file())

        # Installed again, the task registered with the installed tool: uninstalling removes it.
        r = wine(installer, "/S")
        settle()
        ok, why = register(cli_exe)
        check("(set-up: installed again, the task is registered with the installed tool)", r.returncode == 0 and ok, why)
        uninstall()
        check("uninstalling removes the hourly task that would run a program it removed", not tasks.exists() and not inst.exists())
    except Exception as e:  # a failed step is a failed test, with the reason
        check("the installer run completed", False, repr(e))
    finally:
        if holder:
            holder.kill()
        stop(env)
        shutil.rmtree(work, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
