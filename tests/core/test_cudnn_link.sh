#!/usr/bin/env bash
# cuDNN is a dependency of the sdpa stage only (issue 14): -lcudnn sits inside the Makefile's
# --as-needed section, so an executable records libcudnn only when its choices' code calls it.
# sam-fp32, sam-bf16 and sam-fused must not need it (they run where no cuDNN is installed);
# sam-sdpa must need libcudnn.so.9 (the major version its backend-API code is written for).
set -u
B=${BUILD:-build}
rc=0
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
for st in fp32 bf16 fused; do
    bin=$B/sam-$st
    if [ ! -x "$bin" ]; then echo "FAIL $bin: not built"; rc=1; continue; fi
    libs=$(needed "$bin" | tr '\n' ' ')
    if echo "$libs" | grep -q 'libcudnn'; then
        echo "FAIL sam-$st records a cuDNN dependency: $libs"; rc=1
    else
        echo "PASS sam-$st needs no cuDNN (NEEDED: $libs)"
    fi
done
bin=$B/sam-sdpa
if [ ! -x "$bin" ]; then
    echo "FAIL $bin: not built"; rc=1
else
    libs=$(needed "$bin" | tr '\n' ' ')
    if echo "$libs" | grep -qw 'libcudnn\.so\.9'; then
        echo "PASS sam-sdpa needs libcudnn.so.9 (NEEDED: $libs)"
    else
        echo "FAIL sam-sdpa does not record libcudnn.so.9: $libs"; rc=1
    fi
fi
exit $rc
