"""A tiny app for the `certembed openssl` tests, run as a script or frozen by PyInstaller.

argv: [PORT CAFILE]. Prints one JSON line: ssl.OPENSSL_VERSION, every libcrypto module loaded
in the process (/proc/self/maps on Linux, EnumProcessModules on Windows) and, given a port and
a CA file, the outcome of a verified handshake with 127.0.0.1:PORT as "localhost".
"""

import json
import os
import socket
import ssl
import sys


def loaded_libcrypto():
    found = []
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes

        k32 = ctypes.WinDLL("kernel32", use_last_error=True)
        k32.GetCurrentProcess.restype = wintypes.HANDLE
        k32.K32EnumProcessModules.argtypes = [
            wintypes.HANDLE,
            ctypes.POINTER(wintypes.HMODULE),
            wintypes.DWORD,
            ctypes.POINTER(wintypes.DWORD),
        ]
        k32.GetModuleFileNameW.argtypes = [wintypes.HMODULE, wintypes.LPWSTR, wintypes.DWORD]
        mods = (wintypes.HMODULE * 1024)()
        need = wintypes.DWORD()
        k32.K32EnumProcessModules(
            k32.GetCurrentProcess(), mods, ctypes.sizeof(mods), ctypes.byref(need)
        )
        buf = ctypes.create_unicode_buffer(1024)
        for i in range(need.value // ctypes.sizeof(wintypes.HMODULE)):
            k32.GetModuleFileNameW(mods[i], buf, 1024)
            found.append(buf.value)
    else:
        with open("/proc/self/maps") as maps:
            for line in maps:
                found.append(line.split(None, 5)[-1].strip())
    names = [p for p in found if os.path.basename(p).lower().startswith("libcrypto")]
    return list(dict.fromkeys(names))


def main():
    out = {"version": ssl.OPENSSL_VERSION, "libcrypto": loaded_libcrypto()}
    if len(sys.argv) > 2:
        context = ssl.create_default_context(cafile=sys.argv[2])
        try:
            raw = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                out["handshake"] = "verified " + str(tls.version())
        except ssl.SSLError as exc:
            out["handshake"] = "failed: " + str(exc)
    print(json.dumps(out))


main()
