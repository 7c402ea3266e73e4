/* Only for the tests under Wine. Wine 8 (Debian 12) has no
 * bcryptprimitives.dll, which Rust's standard library imports on Windows for
 * ProcessPrng (every Windows from 10 on has it). This stand-in answers from
 * advapi32's RtlGenRandom (SystemFunction036), which Wine does have; the
 * test fixture puts it in the Wine prefix's system32. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
    if (!SystemFunction036(data, chunk)) return FALSE;
    data += chunk;
    length -= chunk;
  }
  return TRUE;
}
