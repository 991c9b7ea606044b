/* Wine 8.0 (Debian 12) lacks bcryptprimitives.dll, from which Rust's standard library for
 * Windows imports ProcessPrng: without it no Rust program starts under Wine (status
 * c0000135). This stand-in, used only to run the Windows test binaries under Wine, fills the
 * buffer with RtlGenRandom (SystemFunction036 of advapi32), the system's own CSPRNG. A real
 * Windows has the real DLL; this one is never shipped. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
