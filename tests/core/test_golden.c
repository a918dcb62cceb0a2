// Golden parity of the CPU float32 reference against the official implementation: every tensor
// and every prompt case of both fixtures (tolerances in golden_check.h).
// Usage: test_golden [FIXTURES_DIR] (default $BUILD/fixtures/sam-golden, BUILD=build).
#include "../../kernels/cpu/cpu_ops.h"
#include "golden_check.h"

int main(int argc, char **argv) {
    char dflt[1024];
    snprintf(dflt, sizeof dflt, "%s/fixtures/sam-golden", getenv("BUILD") ? getenv("BUILD") : "build");
    const char *root = argc > 1 ? argv[1] : dflt;
    GoldenTolerance tol = {"cpu", 1e-4, 1e-4, 0};
    return golden_run(root, cpu_ops(), NULL, tol);
}
