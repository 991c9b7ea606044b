#!/usr/bin/env python3
"""Closes a window as a window manager's close button does (WM_DELETE_WINDOW), on the X
display of $DISPLAY; for bench/desktop-idle.sh and the end-to-end tests, under Xvfb, which has
no window manager. The window is found by its title: the app's ("HR-SM Backup") unless another
is given (`close-window.py Print` cancels GTK's print dialog); with `--find` it is only looked
for. Exits 1 when there is no such window."""
import sys

from Xlib import X, display, protocol
from xwin import find

args = [a for a in sys.argv[1:] if a != "--find"]
TITLE = args[0] if args else "HR-SM Backup"
d = display.Display()
w = find(d.screen().root, TITLE)
if w is None:
    sys.exit(f"no {TITLE} window")
if "--find" in sys.argv:
    sys.exit(0)
protocols, delete = d.intern_atom("WM_PROTOCOLS"), d.intern_atom("WM_DELETE_WINDOW")
w.send_event(protocol.event.ClientMessage(window=w, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])))
d.flush()
