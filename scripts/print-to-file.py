#!/usr/bin/env python3
"""Answers GTK's print dialog ("Print", on the X display of $DISPLAY) as a person would with
the keyboard: the pointer into the dialog (Xvfb has no window manager, so the keyboard follows
the pointer), Down to choose the first printer, GTK's own "Print to File", and Return to print.
The file is GTK's default, output.pdf in the app's current folder. For the end-to-end test;
exits 1 when there is no such dialog."""
import sys
import time

from Xlib import X, XK, display
from Xlib.ext import xtest
from xwin import find

d = display.Display()
w = find(d.screen().root, "Print")
if w is None:
    sys.exit("no Print window")
g = w.get_geometry()
at = w.translate_coords(d.screen().root, 0, 0)
# A point inside the printer list: a third of the way down, a fifth across.
xtest.fake_input(d, X.MotionNotify, x=-at.x + g.width // 5, y=-at.y + g.height // 3)
d.sync()
w.set_input_focus(X.RevertToParent, X.CurrentTime)
d.sync()
time.sleep(0.5)
for name in ("Down", "Return"):
    code = d.keysym_to_keycode(XK.string_to_keysym(name))
    xtest.fake_input(d, X.KeyPress, code)
    xtest.fake_input(d, X.KeyRelease, code)
    d.sync()
    time.sleep(0.5)
