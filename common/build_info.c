#include "common/build_info.h"

// Generated (not a source of the tree, hence the angle brackets): build/gen/build_commit.h,
// rewritten by the Makefile when the commit or the tree's dirtiness changes.
#include <build_commit.h>

const char *sam_build_commit(void) { return SAM_BUILD_COMMIT; }
