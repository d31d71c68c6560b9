#include "build_revision.h"

#include <stdint.h>
#include <stdio.h>

// The revision is set at link time, so that a new commit relinks the binary instead of recompiling every module (a
// compiler define would be part of every Swift module's flags). scripts/release-flags.sh passes
//   -Xlinker --defsym=footprint_revision_N=0x1HHHH   for N = 0, 1, 2: the revision's 12 hex digits, 4 in each
//   -Xlinker --defsym=footprint_revision_dirty=1     when tracked files differ from it
// which makes these weak symbols absolute, their addresses the values. Each part is kept under 2^31 so that the
// linker may resolve the address as a 32-bit immediate, and its 0x10000 bit tells a part of 0000 from a missing one.
// Without the flags the symbols stay undefined: their addresses are 0, and the revision "unknown". lld, which links
// the release build, keeps absolute symbols absolute in a PIE; GNU ld adds the load address, which the check below
// also turns into "unknown", never into a wrong revision (Tests/Deploy/test_release_build.py links it both ways).
extern const char footprint_revision_0[] __attribute__((weak));
extern const char footprint_revision_1[] __attribute__((weak));
extern const char footprint_revision_2[] __attribute__((weak));
extern const char footprint_revision_dirty[] __attribute__((weak));

void footprint_build_revision(char *buffer, size_t size) {
    uintptr_t parts[3] = {(uintptr_t)footprint_revision_0, (uintptr_t)footprint_revision_1,
                          (uintptr_t)footprint_revision_2};
    for (int i = 0; i < 3; i++) {
        if ((parts[i] & ~(uintptr_t)0xffff) != 0x10000) {
            snprintf(buffer, size, "unknown");
            return;
        }
    }
    snprintf(buffer, size, "%04x%04x%04x%s", (unsigned)(parts[0] & 0xffff), (unsigned)(parts[1] & 0xffff),
             (unsigned)(parts[2] & 0xffff), footprint_revision_dirty ? "-dirty" : "");
}
