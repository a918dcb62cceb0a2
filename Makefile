# sam-waterfall build. `make` builds everything into build/; `make test` runs every CPU test;
# `make run` runs the default waterfall; `make test-gpu` runs the GPU tests (needs a GPU);
# `make oracle` sets up the official-code oracle of experiments/oracle/ (PyTorch CPU, not in make test).
# Sources are found by folder, so each part adds files without editing this file:
#   common/*.c          -> build/libsamcommon.a (error checks, allocation, .npy files: every folder's base)
#   variants/core/*.c   -> build/libsamcore.a   (the model, checkpoints, commands)
#   datasets/*.c        -> build/libsamdata.a   (COCO, masks, JPEG, pre-processing, batches); *_main.c are tools
#   kernels/cpu/*.c     -> build/libsamcpu.a    (CPU reference operations)
#   kernels/cuda/*.cu   -> build/libsamcuda.a   (CUDA operations)
#   harness/*.c         -> build/waterfall
#   variants/<stage>.c  -> build/sam-<stage>    (cpu links the CPU kernels, others CUDA)
# Folders depend one way: variants -> datasets -> kernels -> common (harness -> datasets ->
# common), so each link lists the archives in that order and needs no --start-group.
#   tests/<area>/test_*.c -> build/tests/<area>/test_*  (run by tests/run.sh with test_*.sh)

BUILD      ?= build
CC         := gcc
NVCC       := nvcc
CUDA_HOME  ?= /usr/local/cuda
OPT        ?= -O2
CFLAGS     := -std=c11 $(OPT) -g -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -D_GNU_SOURCE -pthread \
              -MMD -MP -I. -I$(CUDA_HOME)/include
# CUDA C: kernels and launchers in the C subset; nvcc compiles them for Hopper (sm_90a, with
# wgmma available) and Ampere (sm_80).
CUDA_ARCH  := -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80
NVCCFLAGS  := -O3 -g -lineinfo $(CUDA_ARCH) -I. -Xcompiler -Wall,-fPIC -MMD -MP

# Libraries. Non-CUDA ones are linked statically so the binaries run on the GPU machine,
# which lacks them; cJSON has no static archive in Debian and travels in build/lib.
STATIC_LIBS := -Wl,-Bstatic -lturbojpeg -lpng16 -lz -lsqlite3 -Wl,-Bdynamic
HOST_LIBS   := -Wl,-rpath,'$$ORIGIN/lib' -Wl,-rpath,'$$ORIGIN/../lib' -Wl,-rpath,'$$ORIGIN/../../lib' -lcjson $(STATIC_LIBS) -lm -ldl -pthread
BLAS_LIBS   := -Wl,-Bstatic -lopenblas -Wl,-Bdynamic -lgfortran
# --as-needed: a stage executable records only the CUDA libraries its choices' code calls (a
# library that only a later stage's kernels use is no dependency of sam-fp32 or sam-bf16; cuDNN
# is recorded by sam-sdpa and the tests that call its attention, tests/core/test_cudnn_link.sh).
CUDA_LIBS   := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -Wl,--as-needed -lcublasLt -lcublas \
               -lcudnn -Wl,--no-as-needed -lcudart_static -lrt

COMMON_SRC  := $(wildcard common/*.c)
CORE_SRC    := $(wildcard variants/core/*.c)
DATA_SRC    := $(filter-out %_main.c,$(wildcard datasets/*.c))
CPU_SRC     := $(wildcard kernels/cpu/*.c)
CUDA_SRC    := $(wildcard kernels/cuda/*.cu)
HARNESS_SRC := $(wildcard harness/*.c)
GPU_STAGES  := $(filter-out cpu,$(basename $(notdir $(wildcard variants/*.c))))
TEST_SRC    := $(wildcard tests/*/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
COMMON_LIB := $(BUILD)/libsamcommon.a
CORE_LIB  := $(BUILD)/libsamcore.a
DATA_LIB  := $(BUILD)/libsamdata.a
CPU_LIB   := $(BUILD)/libsamcpu.a
CUDA_LIB  := $(BUILD)/libsamcuda.a
HOST_ARCHIVES := $(CORE_LIB) $(DATA_LIB)

STAGE_BINS := $(BUILD)/sam-cpu $(patsubst %,$(BUILD)/sam-%,$(GPU_STAGES))
TOOL_BINS  := $(patsubst datasets/%_main.c,$(BUILD)/%,$(wildcard datasets/*_main.c))
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
HARNESS_BIN := $(if $(HARNESS_SRC),$(BUILD)/waterfall)

.PHONY: all deps test test-gpu run clean fixtures venv
all: deps $(STAGE_BINS) $(TOOL_BINS) $(HARNESS_BIN) $(TEST_BINS) $(BUILD)/dump_weights $(BUILD)/sdpa-aot $(BUILD)/lib/.done

# ---- Debian packages: installed when missing (apt-get update once, then install) ----------
DEB_PACKAGES := libopenblas-dev libcjson-dev libturbojpeg0-dev libpng-dev zlib1g-dev \
                libsqlite3-dev sqlite3 gnuplot-nox clang libclang-rt-14-dev python3-venv xz-utils
deps: $(BUILD)/.deps
$(BUILD)/.deps: Makefile
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
	@mkdir -p $(BUILD) && touch $@

# ---- objects ------------------------------------------------------------------------------
$(BUILD)/obj/%.o: %.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/%.o: %.cu | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# The commit the binaries are built from (common/build_info.h): the header is rewritten only
# when the commit or the tree's dirtiness changes, so that and nothing else rebuilds it.
BUILD_COMMIT := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) || c=unknown; \
                  [ "$$c" != unknown ] && [ -n "$$(git status --porcelain 2>/dev/null)" ] && c="$$c+dirty"; echo $$c)
$(BUILD)/gen/build_commit.h: FORCE | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	@echo '#define SAM_BUILD_COMMIT "$(BUILD_COMMIT)"' >$@.tmp
	@if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/obj/common/build_info.o: $(BUILD)/gen/build_commit.h
$(BUILD)/obj/common/build_info.o: CFLAGS += -I$(BUILD)/gen
FORCE:
.PHONY: FORCE

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	@rm -f $@; ar rcs $@ $^
$(CORE_LIB): $(call obj,$(CORE_SRC))
	@rm -f $@; ar rcs $@ $^
$(DATA_LIB): $(call obj,$(DATA_SRC))
	@rm -f $@; ar rcs $@ $^
$(CPU_LIB): $(call obj,$(CPU_SRC))
	@rm -f $@; ar rcs $@ $^
$(CUDA_LIB): $(patsubst %.cu,$(BUILD)/obj/%.o,$(CUDA_SRC))
	@rm -f $@; ar rcs $@ $^

# ---- executables --------------------------------------------------------------------------
$(BUILD)/sam-cpu: $(BUILD)/obj/variants/cpu.o $(CORE_LIB) $(DATA_LIB) $(CPU_LIB) $(COMMON_LIB)
	$(CC) $(CFLAGS) $< $(HOST_ARCHIVES) $(CPU_LIB) $(COMMON_LIB) $(BLAS_LIBS) $(HOST_LIBS) -o $@
$(BUILD)/sam-%: $(BUILD)/obj/variants/%.o $(CORE_LIB) $(DATA_LIB) $(CUDA_LIB) $(COMMON_LIB)
	$(CC) $(CFLAGS) $< $(HOST_ARCHIVES) $(CUDA_LIB) $(COMMON_LIB) $(CUDA_LIBS) $(HOST_LIBS) -lstdc++ -o $@
$(BUILD)/%: $(BUILD)/obj/datasets/%_main.o $(DATA_LIB) $(COMMON_LIB)
	$(CC) $(CFLAGS) $< $(DATA_LIB) $(COMMON_LIB) $(HOST_LIBS) -o $@
$(BUILD)/waterfall: $(call obj,$(HARNESS_SRC)) $(DATA_LIB) $(COMMON_LIB)
	$(CC) $(CFLAGS) $(call obj,$(HARNESS_SRC)) $(DATA_LIB) $(COMMON_LIB) $(HOST_LIBS) -o $@

# cJSON travels beside the binaries (rpath $ORIGIN/lib) for the GPU machine, which lacks it.
$(BUILD)/lib/.done: | $(BUILD)/.deps
	@mkdir -p $(BUILD)/lib
	cp -L /usr/lib/x86_64-linux-gnu/libcjson.so.1 $(BUILD)/lib/
	@touch $@

# ---- golden fixtures (../shared, unpacked into the build tree) ----------------------------
FIXTURES_TAR ?= $(firstword $(wildcard ../shared/fixtures/sam-golden.tar.xz) $(wildcard .carry/sam-golden.tar.xz))
FIXTURES := $(BUILD)/fixtures/sam-golden/manifest.json
fixtures: $(FIXTURES)
$(FIXTURES):
	@test -n "$(FIXTURES_TAR)" || { echo "sam: no fixtures: ../shared/fixtures/sam-golden.tar.xz not found"; exit 1; }
	@mkdir -p $(BUILD)/fixtures
	tar -C $(BUILD)/fixtures -xJf $(FIXTURES_TAR)
	@touch $@

# ---- Python test oracles (pycocotools, NumPy, SciPy) in a venv under build/ ---------------
VENV := $(BUILD)/venv
venv: $(VENV)/.done
$(VENV)/.done: tests/requirements.txt | $(BUILD)/.deps
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	@touch $@

# ---- cuSPARSELt (the sparse stage's 2:4 GEMMs): the PyPI package under build/ ----------------
# nvidia-cusparselt-cu13 at the version in the GPU machine's PyTorch environment, installed with
# the venv's pip. Only its header is a build input: kernels/cuda/sparse24_linear.cu opens the
# library with dlopen when a stage chooses the format (a missing library is named by the
# stage). sam-sparse and tests/gpu/test_sparse24 get RUNPATHs where dlopen finds it: this build
# folder's copy, and the GPU machine's PyTorch environment (design.md section 8).
CUSPARSELT_VERSION := 0.8.0
CUSPARSELT       := $(BUILD)/cusparselt/nvidia/cusparselt
CUSPARSELT_STAMP := $(BUILD)/cusparselt/.done
CUSPARSELT_H200  := /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cusparselt/lib
$(CUSPARSELT_STAMP): | $(VENV)/.done
	rm -rf $(BUILD)/cusparselt
	$(VENV)/bin/pip install -q --no-deps --target $(BUILD)/cusparselt nvidia-cusparselt-cu13==$(CUSPARSELT_VERSION)
	test -f $(CUSPARSELT)/include/cusparseLt.h && test -f $(CUSPARSELT)/lib/libcusparseLt.so.0
	@touch $@
$(BUILD)/obj/kernels/cuda/sparse24_linear.o: $(CUSPARSELT_STAMP)
$(BUILD)/obj/kernels/cuda/sparse24_linear.o: NVCCFLAGS += -I$(CUSPARSELT)/include
SPARSE_RPATH := -Wl,-rpath,'$$ORIGIN/cusparselt/nvidia/cusparselt/lib' \
                -Wl,-rpath,'$$ORIGIN/../../cusparselt/nvidia/cusparselt/lib' -Wl,-rpath,$(CUSPARSELT_H200)
$(BUILD)/sam-sparse $(BUILD)/tests/gpu/test_sparse24: CUDA_LIBS += $(SPARSE_RPATH)

# ---- make run: the default waterfall on what this machine has (harness/README.md) ---------
# With a GPU (nvidia-smi lists one): every built stage, experiments/gpu.json; without: the cpu
# stage, experiments/cpu.json (synthetic vit_b, 8 images: 2.5-3.5 minutes on 2 cores).
# The default synthetic subset is made once into $(BUILD)/data/synthetic-coco.
HAS_GPU        := $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1)
RUN_EXPERIMENT ?= $(if $(HAS_GPU),gpu,cpu)
RUN_DB         ?= results/results.db
RUN_CHART      ?= results/bar_chart.svg
SYNTH_DEFAULT  := $(BUILD)/data/synthetic-coco/annotations/instances_val2017.json
$(SYNTH_DEFAULT): | $(BUILD)/sam-data
	$(BUILD)/sam-data synth --out $(BUILD)/data/synthetic-coco
run: deps $(if $(HAS_GPU),$(STAGE_BINS) sdpa-plans,$(BUILD)/sam-cpu) $(BUILD)/waterfall $(BUILD)/lib/.done $(SYNTH_DEFAULT)
	$(BUILD)/waterfall run $(RUN_EXPERIMENT) --db $(RUN_DB)
	@if command -v gnuplot >/dev/null; then $(BUILD)/waterfall plot --db $(RUN_DB) --out $(RUN_CHART); \
	else echo "make run: no gnuplot here: bring $(RUN_DB) back and run '$(BUILD)/waterfall plot --db $(RUN_DB)' where gnuplot is"; fi

clean:
	rm -rf $(BUILD)

include tests/tests.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- the sdpa stage's cuDNN plans, built ahead of time (variants/aot/sdpa_aot.c) -----------
# build/sdpa-aot builds the plans of the keys an H200 run asked for into build/sdpa-plans, where
# the stages beside it load them instead of compiling them at their first batch
# (kernels/cuda/sdpa_plan_cache.cu). It needs the GPU: `make sdpa-plans` there (make run does it).
SDPA_AOT   := $(BUILD)/sdpa-aot
SDPA_KEYS  := variants/aot/sdpa-plans-h200.keys
$(SDPA_AOT): variants/aot/sdpa_aot.c $(CUDA_LIB) $(COMMON_LIB)
	$(CC) $(CFLAGS) $< $(CUDA_LIB) $(COMMON_LIB) $(CUDA_LIBS) $(HOST_LIBS) -lstdc++ -o $@
sdpa-plans: $(SDPA_AOT)
	$(SDPA_AOT) --keys $(SDPA_KEYS) --out $(BUILD)/sdpa-plans
.PHONY: sdpa-plans

# ---- the GPU machine (see README "Running on the lent H200") ------------------------------
# One compressed bundle of what the GPU machine needs and lacks: stripped executables, test
# programs and cJSON; the golden fixtures beside it (.carry/sam-golden.tar.xz, 17 MB that do not
# compress). Carry .carry in the device call when it runs tests that read the fixtures, else
# .carry/bundle.tar.xz alone: the device copies the checkout and the carried paths, at most
# 64 MiB together. tests/gpu/device.sh unpacks them into build/ there and runs the GPU tests and
# the benchmarks.
BUNDLE := .carry/bundle.tar.xz
gpu-bundle: all $(GPU_TEST_BINS) $(FIXTURES)
	@rm -rf $(BUILD)/bundle && mkdir -p $(BUILD)/bundle/build/tests/gpu $(BUILD)/bundle/build/lib .carry
	cp $(STAGE_BINS) $(TOOL_BINS) $(HARNESS_BIN) $(SDPA_AOT) $(BUILD)/bundle/build/
	cp $(GPU_TEST_BINS) $(BUILD)/bundle/build/tests/gpu/
	cp $(BUILD)/lib/libcjson.so.1 $(BUILD)/bundle/build/lib/
	strip $(BUILD)/bundle/build/sam-* $(BUILD)/bundle/build/sdpa-aot $(BUILD)/bundle/build/tests/gpu/* $(if $(HARNESS_BIN),$(BUILD)/bundle/build/waterfall)
	[ "$(FIXTURES_TAR)" = .carry/sam-golden.tar.xz ] || cp $(FIXTURES_TAR) .carry/sam-golden.tar.xz
	# One xz stream with a dictionary over the whole bundle: the executables share most of their
	# bytes (the CUDA runtime, the kernels), so this is half the size of a default tar -J.
	tar -C $(BUILD)/bundle -cf - build | xz -T1 --lzma2=preset=6,dict=512MiB >$(BUNDLE)
	@ls -la $(BUNDLE)
.PHONY: gpu-bundle

# ---- the official-code oracle (experiments/oracle/README.md; not part of make test) ----------
# A venv with PyTorch (CPU) and the official segment_anything package from PyPI, and the tool
# that writes the synthetic weights as .npy files for it.
$(BUILD)/dump_weights: experiments/oracle/dump_weights.c $(CORE_LIB) $(COMMON_LIB)
	$(CC) $(CFLAGS) $< $(CORE_LIB) $(COMMON_LIB) -lm -pthread -o $@
$(BUILD)/oracle/venv/.done: experiments/oracle/requirements.txt | $(BUILD)/.deps
	@mkdir -p $(BUILD)/oracle
	python3 -m venv $(BUILD)/oracle/venv
	$(BUILD)/oracle/venv/bin/pip install -q -r $<
	@touch $@
oracle: $(BUILD)/dump_weights $(BUILD)/sam-data $(BUILD)/oracle/venv/.done
.PHONY: oracle
