// The commit these binaries were built from, so a result names the code that produced it even
// where the checkout it ran in says otherwise (the lent GPU machine's copy of the tree carries
// the session's first commit plus changes; the binaries come there prebuilt).
#ifndef SAM_BUILD_INFO_H
#define SAM_BUILD_INFO_H

// "<12 hex digits>", "<12 hex digits>+dirty" (uncommitted changes in the tree when built), or
// "unknown" (not built in a git checkout). Written by the Makefile (build/gen/build_commit.h).
const char *sam_build_commit(void);

#endif
