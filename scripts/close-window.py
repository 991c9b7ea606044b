#!/usr/bin/env python3
"""Closes the HR-SM Backup window as a window manager's close button does (WM_DELETE_WINDOW),
on the X display of $DISPLAY; for bench/desktop-idle.sh and tests/e2e/relaunch_test.py, under Xvfb, which has no window
manager. Exits 1 when there is no such window."""
import sys

from Xlib import X, display, protocol

d = display.Display()


def find(w):
    for c in w.query_tree().children:
        try:
            name = c.get_wm_name()
        except Exception:
            name = None
        if name == "HR-SM Backup":
            return c
        found = find(c)
        if found:
            return found
    return None


w = find(d.screen().root)
if w is None:
    sys.exit("no HR-SM Backup window")
protocols, delete = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("WM_DELETE_WINDOW")
w.send_event(protocol.event.ClientMessage(window=w, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])))
d.flush()
