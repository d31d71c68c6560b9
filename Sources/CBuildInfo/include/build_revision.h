#ifndef FOOTPRINT_BUILD_REVISION_H
#define FOOTPRINT_BUILD_REVISION_H

#include <stddef.h>

/// Writes the git revision the binary was linked with (12 hex digits, "-dirty" appended for a modified tree) into
/// `buffer`, or "unknown" when the link gave none (debug builds, a tree without git). See build_revision.c.
void footprint_build_revision(char *buffer, size_t size);

#endif
