# OCS - ONNX GenAI operator conformance suite.
#
#   make conformance   build, then run the conformance suite (the main job)
#   make test          build, then run the unit tests and ONNX's node tests
#   make SANITIZE=address,undefined test    the same under ASan/UBSan
#
# Build outputs go to $(BUILD) (build/, or build-san/ with SANITIZE).  Missing
# Debian packages are installed first when running as root (see `make deps`).

SHARED   ?= ../shared
NODE_TESTS ?= $(SHARED)/onnx-v1.22.0/node
SANITIZE ?=
BUILD    ?= build$(if $(SANITIZE),-san)
CC       ?= cc
OPT      ?= -O2

# pkg-config runs only when a compile or link needs it (after `deps`).
XML_CFLAGS = $(shell pkg-config --cflags libxml-2.0)
XML_LIBS   = $(shell pkg-config --libs libxml-2.0)
CPPFLAGS = -Iinclude -I$(BUILD)/gen -D_XOPEN_SOURCE=700 $(XML_CFLAGS) $(CUDA_CPPFLAGS)
CFLAGS   := -std=c11 $(OPT) -g -pthread -Wall -Wextra -Werror -MMD -MP
LDLIBS   = -lprotobuf-c $(XML_LIBS) -lopenblas $(CUDA_LIBS) -ldl -lpthread -lm
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

PROTOS   := $(wildcard spec/*.proto)
PROTO_C  := $(patsubst spec/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_H  := $(PROTO_C:.c=.h)

LIB_SRC  := $(wildcard spec/*.c) $(wildcard spec/ops/*.c) $(wildcard reference/*.c) $(wildcard reference/ops/*.c) \
            $(wildcard backends/*.c) $(filter-out backends/cuda/%,$(wildcard backends/*/*.c))
LIB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(PROTO_C:.c=.o)

# The CUDA backend is built whenever nvcc is found (no GPU needed to build);
# at run time it registers only when a device answers.
NVCC ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
ifneq ($(NVCC),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
CUDA_C   := $(wildcard backends/cuda/*.c)
CUDA_CU  := $(wildcard backends/cuda/*.cu)
LIB_OBJ  += $(patsubst %.c,$(BUILD)/%.o,$(CUDA_C)) $(patsubst %.cu,$(BUILD)/%.cu.o,$(CUDA_CU))
CUDA_CPPFLAGS = -DOCS_HAVE_CUDA -I$(CUDA_HOME)/include
CUDA_LIBS = -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lnvrtc -lstdc++
endif
CLI_SRC  := $(wildcard conformance/*.c) $(wildcard conformance/cases/*.c)
CLI_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRC))
# Everything of the command line but main(): the unit tests link it too.
CLI_LIB_OBJ := $(filter-out $(BUILD)/conformance/main.o,$(CLI_OBJ))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# Backends built as shared libraries for the plugin ABI (examples and test doubles).
PLUGIN_SRC := $(wildcard tests/plugins/*.c)
PLUGINS  := $(patsubst tests/plugins/%.c,$(BUILD)/plugins/%.so,$(PLUGIN_SRC))

OCS := $(BUILD)/ocs

.PHONY: all deps test unit-test node-test docs docs-check ort conformance testdata testdata-check \
        bench bench-quick gpu-check bc-report fuzz-blob clean
.DEFAULT_GOAL := all

all: deps
	@$(MAKE) --no-print-directory $(OCS) $(TEST_BIN) $(PLUGINS)

# ---- dependencies -----------------------------------------------------------
DEB_PKGS := gcc make pkg-config protobuf-c-compiler libprotobuf-c-dev libcmocka-dev \
            libopenblas-dev libxml2-dev libxml2-utils
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing Debian packages:$$missing"; \
	        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) || exit 1; \
	    else \
	        echo "missing Debian packages; run as root:"; \
	        echo "  apt-get install -y$$missing"; exit 1; \
	    fi; \
	fi

# ---- build ----------------------------------------------------------------------
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: spec/%.proto
	@mkdir -p $(dir $@)
	protoc-c --proto_path=spec --c_out=$(BUILD)/gen $<

# Everything may include the generated headers.
$(LIB_OBJ) $(CLI_OBJ): | $(PROTO_H)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) -O3 -std=c++17 $(CUDA_ARCH) -Iinclude -Xcompiler -Wall,-Wextra -Werror all-warnings -MMD -MP -c -o $@ $<

# protoc-c output is not ours to keep -Wextra clean.
$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(CC) $(CPPFLAGS) $(filter-out -Wextra -Werror,$(CFLAGS)) -c -o $@ $<

$(OCS): $(CLI_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB_OBJ) $(LDLIBS)

# test_bench compiles bench.c and ceilings.c itself to reach their static tables.
$(BUILD)/tests/test_bench: TEST_OWN_OBJ := $(BUILD)/conformance/bench.o $(BUILD)/conformance/ceilings.o
$(BUILD)/tests/%: tests/%.c $(LIB_OBJ) $(CLI_LIB_OBJ) | $(PROTO_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(filter-out $(TEST_OWN_OBJ),$(CLI_LIB_OBJ)) $(LIB_OBJ) \
	    -lcmocka $(LDLIBS)

$(BUILD)/plugins/%.so: tests/plugins/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

# ---- tests ------------------------------------------------------------------------
test: all
	@$(MAKE) --no-print-directory unit-test docs-check testdata-check node-test

unit-test:
	@fail=0; for t in $(TEST_BIN); do \
	    OCS_SHARED=$(SHARED) OCS_BUILD=$(BUILD) $$t || fail=1; \
	done; exit $$fail

node-test:
	@if [ -d "$(NODE_TESTS)" ]; then \
	    $(OCS) onnx-test $(NODE_TESTS); \
	else \
	    echo "node-test: $(NODE_TESTS) not found, skipped"; \
	fi

# The operator pages in spec/docs are generated from the schemas.
docs: all
	$(OCS) docs spec/docs

docs-check:
	@$(OCS) docs --check spec/docs

# ONNX Runtime (onnxruntime-node from npm) for the `ort` command backend.
# Optional: without node/npm the runner reports ORT as skipped.  The flag
# (and its environment twin) skip the package's download of GPU binaries.
ORT_DIR := $(BUILD)/ort
ort: $(ORT_DIR)/installed
$(ORT_DIR)/installed: conformance/ort/package.json
	@mkdir -p $(ORT_DIR)
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
	    cp conformance/ort/package.json $(ORT_DIR)/package.json && \
	    ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix $(ORT_DIR) --no-audit --no-fund \
	        --onnxruntime-node-install=skip > $(ORT_DIR)/npm.log 2>&1 && touch $@ \
	    || echo "ort: npm install failed (see $(ORT_DIR)/npm.log); ONNX Runtime will be reported as skipped"; \
	else echo "ort: node/npm not found; ONNX Runtime will be reported as skipped"; fi

# The main job: every generated case on the reference, the function-body
# variants, every built-in backend present and ONNX Runtime (when `make ort`
# could install it; otherwise its cases are reported as skipped), writing
# reports/junit.xml and reports/scoreboard.md.
ORT_CMD = NODE_PATH=$(abspath $(ORT_DIR))/node_modules node conformance/ort/ocs-ort.js
conformance: all ort
	$(OCS) run --backend-cmd 'ort=$(ORT_CMD)'

# Speed against ceilings measured in the same run (never in a unit test).
bench: all
	$(OCS) bench --json $(BUILD)/bench.json

bench-quick: all
	$(OCS) bench --quick

# On a machine with an NVIDIA GPU: builds for the card found, runs the
# conformance suite and tests/test_cuda on the cuda backend and the GPU
# benchmark, and prints one table.
gpu-check:
	@sh conformance/gpu_check.sh

# BackendContext: the two encodings compared on the same models (file size,
# load time with and without blobs, fallback, weight sharing, ONNX Runtime).
bc-report: all ort
	OCS_BUILD=$(BUILD) $(OCS) bc-report -o reports/backend_context.md --runs 15 \
	    --ort-modules $(ORT_DIR)/node_modules

# libFuzzer on the blob reader, the cpu plan loader and the compatibility
# check (clang; installed when missing and running as root).
FUZZ_TIME ?= 60
FUZZ_DIR := $(BUILD)/fuzz
fuzz-blob: deps $(PROTO_C)
	@$(MAKE) --no-print-directory deps DEB_PKGS="clang libclang-rt-14-dev"
	@mkdir -p $(FUZZ_DIR)/corpus
	@# clang 14 rejects __builtin_cpu_supports("f16c"), so that one file is built with cc
	$(CC) -std=c11 -O2 -pthread -D_XOPEN_SOURCE=700 -Iinclude -I$(BUILD)/gen -c backends/cpu/moe_kernels.c \
	    -o $(FUZZ_DIR)/moe_kernels.o
	clang -std=c11 -O1 -g -pthread -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	    -D_XOPEN_SOURCE=700 -Iinclude -I$(BUILD)/gen -o $(FUZZ_DIR)/fuzz_blob tests/fuzz/fuzz_blob.c \
	    $(filter-out backends/cpu/moe_kernels.c,$(LIB_SRC)) $(FUZZ_DIR)/moe_kernels.o $(PROTO_C) \
	    -lprotobuf-c -lopenblas -lpthread -ldl -lm
	OCS_FUZZ_SEEDS=$(FUZZ_DIR)/corpus $(FUZZ_DIR)/fuzz_blob -max_total_time=$(FUZZ_TIME) -max_len=4096 \
	    -print_final_stats=1 $(FUZZ_DIR)/corpus

# testdata/ holds the exported default cases with a SHA-256 manifest;
# `make test` fails when the reference no longer reproduces them.
testdata: all
	$(OCS) export testdata

testdata-check:
	@$(OCS) export --check -q testdata

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
