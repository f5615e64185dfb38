/*
 * Stand-in for Windows' bcryptprimitives.dll, for Wine 8 only (tests/support/wine.py builds it).
 *
 * Rust's standard library (cryptography >= 43, starlark-pyo3) imports ProcessPrng from
 * bcryptprimitives.dll. Windows 10+ has it; Wine 8 does not, so those extensions fail with
 * "DLL load failed while importing _rust". This DLL exports the one function, answered by
 * BCryptGenRandom with the system-preferred RNG, which Wine implements. It is copied into a
 * private test WINEPREFIX's system32 and never shipped.
 */
#include <windows.h>
#include <bcrypt.h>

#ifndef BCRYPT_USE_SYSTEM_PREFERRED_RNG
#define BCRYPT_USE_SYSTEM_PREFERRED_RNG 0x00000002
#endif

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* BCryptGenRandom takes a ULONG length: feed larger requests in chunks. */
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
