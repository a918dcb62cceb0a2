# Sourced on the lent GPU machine from the repository root (tests/gpu/device.sh, and the device
# call scripts of tests/gpu/logs/<session>/ from session 8 on): unpacks the bundle that
# `make gpu-bundle` made and the call carried into build/, the golden fixtures when the call
# carried them, and puts the libraries the machine keeps outside the executables' RUNPATH
# (cuDNN, cuSPARSELt) on LD_LIBRARY_PATH. Exports BUILD=build. Returns non-zero when the bundle
# cannot be unpacked.
if [ ! -x build/sam-fp32 ]; then
    tar -xJf .carry/bundle.tar.xz || { echo "sam: cannot unpack .carry/bundle.tar.xz"; return 1; }
fi
# The fixtures come only when the call carried them (.carry whole, not .carry/bundle.tar.xz).
if [ ! -d build/fixtures/sam-golden ] && [ -f .carry/sam-golden.tar.xz ]; then
    mkdir -p build/fixtures && tar -C build/fixtures -xJf .carry/sam-golden.tar.xz
fi
export BUILD=build
# cuDNN for sam-sdpa (and the tests that call its attention): the executables' RUNPATH names
# /usr/local/cuda/lib64, which on this machine may lack cuDNN (design.md section 8). Prefer the
# 9.19 in PyTorch's environment, else the system's 9.14 (design.md section 8; the H200 runs so
# far loaded 9.19). cuDNN 9 opens its sub-libraries (libcudnn_graph, libcudnn_engines_*) with
# dlopen, so the whole folder goes on the path; the
# describe JSON of a run (eval's hello line, test_sdpa's "NOTE device") names the one loaded.
for d in /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib /usr/lib/x86_64-linux-gnu; do
    if [ -e "$d/libcudnn.so.9" ]; then
        export LD_LIBRARY_PATH="$d:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        v=$(python3 -c "import ctypes,sys; v=ctypes.CDLL(sys.argv[1]).cudnnGetVersion(); print(f'{v//10000}.{v//100%100}.{v%100}')" \
            "$d/libcudnn.so.9" 2>/dev/null)
        echo "cuDNN ${v:-(version unknown)} from $d"
        break
    fi
done
[ -n "${LD_LIBRARY_PATH:-}" ] || echo "no cuDNN 9 found: sam-sdpa and test_sdpa cannot run"
# cuSPARSELt for sam-sparse and test_sparse24 (opened with dlopen): only PyTorch's environment
# has it here (0.8.0, the version the build's headers are). Their RUNPATH names this folder
# too; on the path it also serves a copy of the executables elsewhere.
csl=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt/lib
if [ -e $csl/libcusparseLt.so.0 ]; then
    export LD_LIBRARY_PATH="$csl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
    echo "no cuSPARSELt in $csl: sam-sparse and test_sparse24 cannot run"
fi
