"""What the two Windows suites under Wine share (windows_test.py, installer_test.py): a private
Wine prefix, waiting for Wine's server to settle, and the PASS/FAIL lines with their count."""
import os
import subprocess

WINE = os.environ.get("WINE64", "/usr/lib/wine/wine64")
WINESERVER = "/usr/lib/wine/wineserver"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail and not ok else ""), flush=True)


def summary():
    """Prints the count; the exit code: 0 only when there were checks and all passed."""
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed and passed == len(results) else 1


def prefix_env(prefix):
    """The environment of a private Wine prefix, quiet; winemenubuilder would copy shortcuts
    into this machine's own menus."""
    return dict(os.environ, WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="winemenubuilder.exe=d")


def settle(env):
    """Waits until Wine's server has nothing left to do (a new prefix sets itself up in the
    background after its first start; an uninstaller goes on after it returned)."""
    subprocess.run([WINESERVER, "-w"], env=env, capture_output=True, timeout=300)


def init_prefix(env):
    subprocess.run([WINE, "wineboot", "--init"], env=env, capture_output=True, timeout=300)
    settle(env)


def stop(env):
    subprocess.run([WINESERVER, "-k"], env=env, capture_output=True)
