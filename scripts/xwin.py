"""Finding a window by its title on the X display of $DISPLAY (python3-xlib), for
close-window.py and print-to-file.py (the end-to-end tests and bench/desktop-idle.sh, under
Xvfb)."""


def find(w, title):
    """The first window under `w` (depth first) whose title is `title`, or None."""
    for c in w.query_tree().children:
        try:
            name = c.get_wm_name()
        except Exception:
            name = None
        if name == title:
            return c
        found = find(c, title)
        if found:
            return found
    return None
