# Test programs. tests/<area>/test_*.c build to build/tests/<area>/test_*; tests/run.sh runs
# them and the tests/<area>/test_*.sh scripts. tests/gpu/ holds the GPU tests (make test-gpu).
# tests/fault/ programs are built with AddressSanitizer and UndefinedBehaviorSanitizer over the
# whole core. tests/fuzz/fuzz_*.c are libFuzzer targets (clang).

SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TEST_LIBS := $(HOST_ARCHIVES) $(CPU_LIB) $(COMMON_LIB) $(BLAS_LIBS) $(HOST_LIBS)

$(BUILD)/tests/gpu/%: tests/gpu/%.c $(CORE_LIB) $(DATA_LIB) $(CUDA_LIB) $(CPU_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(HOST_ARCHIVES) $(CUDA_LIB) $(CPU_LIB) $(COMMON_LIB) $(BLAS_LIBS) $(CUDA_LIBS) $(HOST_LIBS) -lstdc++ -o $@
$(BUILD)/tests/fault/%: tests/fault/%.c $(CORE_SRC) $(DATA_SRC) $(CPU_SRC) $(COMMON_SRC) $(BUILD)/gen/build_commit.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -I$(BUILD)/gen -O1 $(SAN_FLAGS) $< $(CORE_SRC) $(DATA_SRC) $(CPU_SRC) $(COMMON_SRC) $(BLAS_LIBS) $(HOST_LIBS) -o $@
$(BUILD)/tests/%: tests/%.c $(CORE_LIB) $(DATA_LIB) $(CPU_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(TEST_LIBS) -o $@

# The sdpa stage's cuDNN graphs checked on the CPU (no GPU; tests/core/test_sdpa_deviceless.sh
# runs it): links the CUDA archive and cuDNN, so it is no test_* program of the CPU rule above.
SDPA_DEVICELESS := $(BUILD)/tests/core/sdpa_deviceless
$(SDPA_DEVICELESS): tests/core/sdpa_deviceless.c $(CUDA_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(CUDA_LIB) $(COMMON_LIB) $(CUDA_LIBS) $(HOST_LIBS) -lstdc++ -o $@
test: $(SDPA_DEVICELESS)

FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(DATA_SRC) $(COMMON_SRC) $(BUILD)/gen/build_commit.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	clang -std=c11 -O1 -g -D_GNU_SOURCE -I. -I$(BUILD)/gen -I$(CUDA_HOME)/include -fsanitize=fuzzer,address,undefined \
	  $< $(DATA_SRC) $(COMMON_SRC) $(HOST_LIBS) -o $@

CPU_TEST_BINS := $(filter-out $(BUILD)/tests/gpu/%,$(TEST_BINS))
GPU_TEST_BINS := $(filter $(BUILD)/tests/gpu/%,$(TEST_BINS))

test: deps $(STAGE_BINS_CPU) $(BUILD)/sam-cpu $(TOOL_BINS) $(HARNESS_BIN) $(CPU_TEST_BINS) $(FUZZ_BINS) $(FIXTURES) $(VENV)/.done $(BUILD)/lib/.done
	@bash tests/run.sh cpu

# Compiles everything (CUDA included) first, so CI proves the CUDA code builds.
test: all

# TESTS="test_ops test_gpu_agreement.sh" runs only those (tests/run.sh gpu --list names them all).
test-gpu: all $(FIXTURES)
	@bash tests/run.sh gpu $(TESTS)
