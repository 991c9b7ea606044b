/* Holds a file open as Windows holds a running program's .exe (read and delete shared, write
 * not), until killed: the installer test's stand-in for "HR-SM Backup is running", since the
 * app's window (WebView2) cannot run under Wine. Prints "held" once the file is open. */
#include <windows.h>
#include <stdio.h>

int wmain(int argc, wchar_t **argv) {
    if (argc != 2) return 2;
    HANDLE h = CreateFileW(argv[1], GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return 1;
    printf("held\n");
    fflush(stdout);
    for (;;) Sleep(1000);
}
