# edgelm — build, test and benchmark.
#
#   make                 build/edgelm and build/libedgelm.a: a baseline build (x86-64-v2, armv8-a)
#                        whose kernels are chosen at start-up by CPU detection among the baseline
#                        and the extra kernel sets KSETS (avx2 avx512; dotprod); see gl-cpu.c
#   make test            the whole suite; ends with "N passed, N failed, N skipped"
#   make test-asan       the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-aarch64    cross-compiled for aarch64, run under qemu-aarch64 twice:
#                        ARMv8.0 NEON (cortex-a72, a Pi 4) and ARMv8.2 + dotprod (cortex-a76, a Pi 5)
#   make test-armhf      cross-compiled for 32-bit ARM (armv7-a NEON, hard float, a Pi Zero 2 / Pi 3
#                        on 32-bit Raspberry Pi OS), run under qemu-arm -cpu cortex-a7
#   make test-scalar     the suite with SIMD disabled (portable C paths only)
#   make test-avx2       the suite with the baseline build forced to its avx2 kernel set
#                        (EDGELM_KERNELS=avx2): the x86 paths a machine without AVX-512 runs
#   make bench           kernel benchmarks (mat-vec / mat-mat), see BENCHMARKS.md
#   make amalgamation    build/ggml-lite.c + build/ggml-lite.h: the tensor library as one file
#   make fuzz            the libFuzzer harnesses of tests/fuzz/ with clang (build/fuzz/fuzz_*)
#   make fuzz-smoke      each harness for FUZZ_SECONDS (30) on seeds from scripts/fuzz_corpus.sh
#   make fixtures-check  ../shared/fixtures against its SHA256SUMS
#   make shared          build/libedgelm.so (-fPIC objects in build/pic, only ELM_API/GL_API exported)
#   make install         PREFIX=/usr/local DESTDIR=: bin/edgelm, lib/libedgelm.{a,so}, the two
#                        public headers, lib/pkgconfig/edgelm.pc; `make uninstall` removes them
#   make native          build/native/: everything -march=native (-mcpu=native), no dispatch
#
# Knobs: CC, BUILD (output folder), ARCH_FLAGS (default: the baseline -march=x86-64-v2 /
# -march=armv8-a; given, the extra kernel sets are off unless KSETS names them), KSETS,
# SIMD=0 (scalar only), SAN=1 (sanitizers), STATIC=1, EMU (runner prefix for tests).
# EDGELM_KERNELS=scalar|avx2|avx512|neon|dotprod at run time forces a kernel set.

BUILD ?= build
CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

HOST_ARCH := $(shell uname -m)
ifeq ($(HOST_ARCH),aarch64)
ARCH_FLAGS ?= -march=armv8-a
else ifeq ($(HOST_ARCH),x86_64)
ARCH_FLAGS ?= -march=x86-64-v2
endif
# Run-time dispatch: the ISA-dependent modules (KSET_SRC) are compiled again per extra kernel
# set with its flags, their global names suffixed __<set> (objcopy), and gl-cpu.c picks one.
ifeq ($(origin ARCH_FLAGS),file)
ifeq ($(HOST_ARCH),aarch64)
KSETS ?= dotprod
else ifeq ($(HOST_ARCH),x86_64)
KSETS ?= avx2 avx512
endif
endif
KSET_FLAGS_avx2 := -mavx2 -mfma -mf16c
KSET_FLAGS_avx512 := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni
KSET_FLAGS_dotprod := -march=armv8.2-a+dotprod
KSET_SRC := $(addprefix ggml-lite/,gl-kset.c gl-matmul.c gl-ops.c gl-ops-nn.c gl-quants.c gl-quants-iq.c \
	gl-quants-k.c)

OPT ?= -O2
# models/ is grouped in folders (models/README.md): every folder is on the include path.
MODEL_DIRS := $(sort $(dir $(wildcard models/*/*.c models/*/*.h)))
CFLAGS_BASE := -std=c11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wno-unused-parameter -fvisibility=hidden -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iggml-lite -Iinclude $(MODEL_DIRS:%/=-I%) -Iconvert -Iquant -MMD -MP
CFLAGS_ALL := $(CFLAGS_BASE) $(ARCH_FLAGS) $(CFLAGS)
LDLIBS_ALL := -lm -lpthread $(LDLIBS)
LDFLAGS_ALL := $(LDFLAGS)

ifeq ($(SIMD),0)
CFLAGS_ALL += -DGL_NO_SIMD
override KSETS :=
endif
ifeq ($(SAN),1)
CFLAGS_ALL += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_ALL += -fsanitize=address,undefined
endif
ifeq ($(STATIC),1)
LDFLAGS_ALL += -static
endif

GL_SRC    := $(sort $(wildcard ggml-lite/*.c))
LIB_SRC   := $(GL_SRC) $(sort $(wildcard models/*/*.c convert/*.c quant/*.c))
CLI_SRC   := $(sort $(wildcard examples/edgelm/*.c))
TEST_SRC  := $(sort $(wildcard tests/test-*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/embed/*.c))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
SERVER_SRC := $(sort $(wildcard examples/server/*.c))

KSET_OBJ  := $(KSETS:%=$(BUILD)/kset/kset-%.o)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(KSET_OBJ)
CLI_OBJ   := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/webui.o
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/embed/%.c=$(BUILD)/examples/%)
# the fuzz harnesses linked with tests/fuzz/driver.c: replay tests/fuzz/regress/ in `make test`
FUZZ_REGRESS_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-regress/%)

.PHONY: shared install uninstall native
.PHONY: all lib test test-asan test-aarch64 test-aarch64-v80 test-aarch64-dotprod test-armhf test-scalar test-avx2 \
	bench amalgamation clean tests

all: $(BUILD)/edgelm $(BUILD)/libedgelm.a $(EXAMPLE_BIN)

lib: $(BUILD)/libedgelm.a

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# One kernel set: its modules compiled with its flags (and -fPIC: the object serves the static
# and the shared library), linked into one object whose defined global names get __<set>; all
# but its table (gl_kset_self__<set>) are then made local, so nothing else of it is exported.
KSET_NM ?= $(shell $(CC) -print-prog-name=nm)
define KSET_RULES
$(BUILD)/kset/$(1)/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS_ALL) $$(KSET_FLAGS_$(1)) -DGL_KSET_COPY -fPIC -c $$< -o $$@
$(BUILD)/kset/kset-$(1).o: $(KSET_SRC:%.c=$(BUILD)/kset/$(1)/%.o)
	$$(CC) -r -nostdlib $$(filter-out -static -fsanitize=%,$$(LDFLAGS_ALL)) -o $$@.tmp $$^
	$$(KSET_NM) -g --defined-only $$@.tmp | awk 'NF == 3 { print $$$$3, $$$$3 "__$(1)" }' > $$@.syms
	$$(OBJCOPY) --redefine-syms=$$@.syms --keep-global-symbol=gl_kset_self__$(1) $$@.tmp $$@
endef
$(foreach k,$(KSETS),$(eval $(call KSET_RULES,$(k))))
$(BUILD)/obj/ggml-lite/gl-cpu.o $(BUILD)/pic/ggml-lite/gl-cpu.o: CFLAGS_ALL += $(KSETS:%=-DGL_KSET_HAVE_%)

$(BUILD)/libedgelm.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/edgelm: $(CLI_OBJ) $(SERVER_OBJ) $(BUILD)/libedgelm.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(SERVER_OBJ) $(BUILD)/libedgelm.a $(LDLIBS_ALL)

# The server's chat page, compiled in as a byte array.
$(BUILD)/gen/webui.c: examples/server/webui.html scripts/embed-file.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-file.sh $< server_webui_html > $@

$(BUILD)/obj/gen/webui.o: $(BUILD)/gen/webui.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/tests/test-http: tests/test-http.c tests/tf.h $(SERVER_OBJ) $(BUILD)/libedgelm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(SERVER_OBJ) $(BUILD)/libedgelm.a $(LDLIBS_ALL)

$(BUILD)/tests/%: tests/%.c tests/tf.h $(BUILD)/libedgelm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(BUILD)/libedgelm.a $(LDLIBS_ALL)

# Tests of the CLI's own modules (examples/edgelm/cli_npy.c, cli_hdf5.c, cli_quality.c) link them too.
CLI_MOD_TEST_RECIPE = @mkdir -p $(dir $@) && $(CC) $(CFLAGS_ALL) -Iexamples/edgelm $(LDFLAGS_ALL) -o $@ $(filter-out %.h,$^) $(LDLIBS_ALL)
$(BUILD)/tests/test-decoder: tests/test-decoder.c tests/tf.h $(BUILD)/obj/examples/edgelm/cli_npy.o $(BUILD)/libedgelm.a
	$(CLI_MOD_TEST_RECIPE)
$(BUILD)/tests/test-hdf5: tests/test-hdf5.c tests/tf.h $(BUILD)/obj/examples/edgelm/cli_hdf5.o $(BUILD)/libedgelm.a
	$(CLI_MOD_TEST_RECIPE)
$(BUILD)/tests/test-quantize: tests/test-quantize.c tests/tf.h $(BUILD)/obj/examples/edgelm/cli_quality.o $(BUILD)/libedgelm.a
	$(CLI_MOD_TEST_RECIPE)

# test-alloc counts the library's allocations through the linker's symbol wrapping.
$(BUILD)/tests/test-alloc: LDFLAGS_ALL += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=aligned_alloc,--wrap=strdup

# test-alloc-hooks: the library compiled again with its allocation hooks (models/common/alloc.h)
# routed to the counting functions the test defines.
HOOK_FLAGS := -DELM_MALLOC=tah_malloc -DELM_CALLOC=tah_calloc -DELM_REALLOC=tah_realloc \
	-DELM_ALIGNED_ALLOC=tah_aligned_alloc -DELM_FREE=tah_free
HOOK_OBJ := $(LIB_SRC:%.c=$(BUILD)/hooks/%.o)
$(BUILD)/hooks/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(HOOK_FLAGS) -c $< -o $@

$(BUILD)/tests/test-alloc-hooks: tests/test-alloc-hooks.c tests/tf.h $(HOOK_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(HOOK_OBJ) $(LDLIBS_ALL)

$(BUILD)/examples/%: examples/embed/%.c $(BUILD)/libedgelm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(BUILD)/libedgelm.a $(LDLIBS_ALL)

$(BUILD)/fuzz-regress/%: tests/fuzz/%.c tests/fuzz/driver.c $(wildcard tests/fuzz/*.h) $(BUILD)/libedgelm.a
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS_ALL)) -Itests/fuzz $(LDFLAGS_ALL) -o $@ $< tests/fuzz/driver.c \
		$(BUILD)/libedgelm.a $(LDLIBS_ALL)

tests: $(TEST_BIN) $(BUILD)/edgelm $(EXAMPLE_BIN) $(BUILD)/ggml-lite-amalg.o $(FUZZ_REGRESS_BIN)
# (STATIC=1 builds, the aarch64 runs, have no use for the shared library: not built there.)
tests: $(if $(filter 1,$(STATIC)),,$(BUILD)/libedgelm.so) $(BUILD)/dist/libedgelm.a

# The test runner runs every test program (under $(EMU) when set) and the CLI checks.
test: tests
	@EMU="$(EMU)" BUILD="$(BUILD)" CC="$(CC)" ELM_LDFLAGS="$(LDFLAGS_ALL)" sh tests/run-tests.sh

test-asan:
	$(MAKE) BUILD=build/asan SAN=1 OPT=-O1 test

test-scalar:
	$(MAKE) BUILD=build/scalar SIMD=0 test

test-avx2:
	EDGELM_KERNELS=avx2 $(MAKE) test

AARCH64_CC ?= aarch64-linux-gnu-gcc
# One after the other, so that each run's report stays in one piece.
test-aarch64:
	$(MAKE) test-aarch64-v80
	$(MAKE) test-aarch64-dotprod

# One baseline (armv8-a) build with the dotprod set: the a72 run picks neon, the a76 dotprod.
test-aarch64-v80:
	$(MAKE) BUILD=build/aarch64 CC=$(AARCH64_CC) ARCH_FLAGS=-march=armv8-a KSETS=dotprod STATIC=1 \
		EMU="qemu-aarch64 -cpu cortex-a72" test

test-aarch64-dotprod:
	$(MAKE) BUILD=build/aarch64 CC=$(AARCH64_CC) ARCH_FLAGS=-march=armv8-a KSETS=dotprod STATIC=1 \
		EMU="qemu-aarch64 -cpu cortex-a76" test

ARMHF_CC ?= arm-linux-gnueabihf-gcc
test-armhf:
	$(MAKE) BUILD=build/armhf CC=$(ARMHF_CC) \
		ARCH_FLAGS="-march=armv7-a+neon-vfpv4 -mfpu=neon-vfpv4 -mfloat-abi=hard" STATIC=1 \
		EMU="qemu-arm -cpu cortex-a7" test

bench: $(BUILD)/edgelm
	$(BUILD)/edgelm bench --kernels -t 1,2

# docs/cli.md: every command's options from the option tables (tests/cli-help.sh checks it).
docs: $(BUILD)/edgelm
	$(BUILD)/edgelm help --markdown > docs/cli.md

amalgamation: $(BUILD)/ggml-lite.c

$(BUILD)/ggml-lite.c: $(GL_SRC) $(wildcard ggml-lite/*.h) scripts/amalgamate.sh
	@mkdir -p $(BUILD)
	sh scripts/amalgamate.sh $(BUILD)

# The amalgamation must compile on its own as one translation unit (checked by `make tests`):
# strict C11 (-pedantic, every -Wextra warning, no _GNU_SOURCE), only its own header.
AMALG_CFLAGS = $(filter-out -D_GNU_SOURCE -Wno-unused-parameter -MMD -MP -I%,$(CFLAGS_ALL)) -pedantic -I$(BUILD)
$(BUILD)/ggml-lite-amalg.o: $(BUILD)/ggml-lite.c
	$(CC) $(AMALG_CFLAGS) -c $< -o $@

# The tensor-library tests again, against the amalgamation: graph and gguf use only the public
# header and link the object above; ops and quants-k also check internal (GL_PRIVATE, static
# there) kernels, so the amalgamation is compiled into their translation unit.
AMALG_TEST_BIN := $(BUILD)/tests/test-amalg-graph $(BUILD)/tests/test-amalg-gguf \
	$(BUILD)/tests/test-amalg-ops $(BUILD)/tests/test-amalg-quants-k \
	$(BUILD)/tests/test-amalg-gguf-nommap $(BUILD)/ggml-lite-amalg-nostdio.o $(BUILD)/tests/test-amalg-hooks
tests: $(AMALG_TEST_BIN)
# The allocation hooks (GL_MALLOC ...): the test defines them and includes the amalgamation.
$(BUILD)/tests/test-amalg-hooks: tests/test-amalg-hooks.c tests/tf.h $(BUILD)/ggml-lite.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -I% -MMD -MP,$(CFLAGS_ALL)) -I$(BUILD) $(LDFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)
# GL_NO_MMAP: the GGUF tests with files read into memory; GL_NO_STDIO: compiles (no file access).
$(BUILD)/tests/test-amalg-gguf-nommap: tests/test-gguf.c tests/tf.h $(BUILD)/ggml-lite.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS_ALL)) -DGL_NO_MMAP -include $(BUILD)/ggml-lite.c $(LDFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)
$(BUILD)/ggml-lite-amalg-nostdio.o: $(BUILD)/ggml-lite.c
	$(CC) $(AMALG_CFLAGS) -DGL_NO_STDIO -c $< -o $@
$(BUILD)/tests/test-amalg-graph $(BUILD)/tests/test-amalg-gguf: $(BUILD)/tests/test-amalg-%: \
		tests/test-%.c tests/tf.h $(BUILD)/ggml-lite-amalg.o
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -I% -MMD -MP,$(CFLAGS_ALL)) -I$(BUILD) $(LDFLAGS_ALL) -o $@ $< $(BUILD)/ggml-lite-amalg.o $(LDLIBS_ALL)
$(BUILD)/tests/test-amalg-ops $(BUILD)/tests/test-amalg-quants-k: $(BUILD)/tests/test-amalg-%: \
		tests/test-%.c tests/tf.h $(BUILD)/ggml-lite.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS_ALL)) -include $(BUILD)/ggml-lite.c $(LDFLAGS_ALL) -o $@ $< $(LDLIBS_ALL)

# ---- shared library, distribution archive, install (see README "Embedding the library") ----
# Every object is compiled with -fvisibility=hidden; ELM_API / GL_API (the public headers) give
# the public functions default visibility. libedgelm.so exports exactly those. The installed
# libedgelm.a is one relocatable object whose hidden symbols are made local (ld -r, objcopy
# --localize-hidden), so an application linking it sees only the public names. The build's
# own $(BUILD)/libedgelm.a keeps the internal symbols global: the CLI and the tests use them.
ELM_SOVERSION := 0
ELM_LIBVERSION := $(shell sed -n 's/^\#define ELM_VERSION "\(.*\)"/\1/p' include/edgelm.h)
PREFIX ?= /usr/local
DESTDIR ?=
OBJCOPY ?= $(shell $(CC) -print-prog-name=objcopy)
PIC_OBJ := $(LIB_SRC:%.c=$(BUILD)/pic/%.o) $(KSET_OBJ)
SO_REAL := $(BUILD)/libedgelm.so.$(ELM_LIBVERSION)

shared: $(BUILD)/libedgelm.so

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -c $< -o $@

$(SO_REAL): $(PIC_OBJ)
	$(CC) -shared -Wl,-soname,libedgelm.so.$(ELM_SOVERSION) -Wl,--no-undefined \
		$(filter-out -static,$(LDFLAGS_ALL)) -o $@ $(filter-out %.h,$^) $(LDLIBS_ALL)

$(BUILD)/libedgelm.so: $(SO_REAL)
	ln -sf $(notdir $(SO_REAL)) $(BUILD)/libedgelm.so.$(ELM_SOVERSION)
	ln -sf $(notdir $(SO_REAL)) $@

$(BUILD)/dist/libedgelm.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -r -nostdlib $(filter-out -static -fsanitize=%,$(LDFLAGS_ALL)) -o $(BUILD)/dist/edgelm.o $^
	$(OBJCOPY) --localize-hidden $(BUILD)/dist/edgelm.o
	rm -f $@
	$(AR) rcs $@ $(BUILD)/dist/edgelm.o

install: $(BUILD)/edgelm $(BUILD)/dist/libedgelm.a $(BUILD)/libedgelm.so
	sh scripts/install.sh install "$(DESTDIR)" "$(PREFIX)" $(BUILD) $(ELM_LIBVERSION) $(ELM_SOVERSION)

uninstall:
	sh scripts/install.sh uninstall "$(DESTDIR)" "$(PREFIX)" $(BUILD) $(ELM_LIBVERSION) $(ELM_SOVERSION)

native:
	$(MAKE) BUILD=$(BUILD)/native ARCH_FLAGS="$(if $(filter aarch64,$(HOST_ARCH)),-mcpu=native,-march=native)" all

# libFuzzer harnesses (docs/fuzzing.md): the library built by clang with the fuzzer's coverage
# instrumentation and ASan + UBSan, each tests/fuzz/fuzz_*.c linked with libFuzzer.
FUZZ_CC ?= clang-14
FUZZ_BUILD ?= build/fuzz
FUZZ_SECONDS ?= 30
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: fuzz fuzz-lib fuzz-smoke fixtures-check
fuzz: fuzz-lib
	$(MAKE) $(FUZZ_BIN)

fuzz-lib:
	$(MAKE) BUILD=$(FUZZ_BUILD)/lib CC=$(FUZZ_CC) SAN=1 OPT=-O1 \
		CFLAGS="-fsanitize=fuzzer-no-link -fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignore.txt" lib

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_BUILD)/lib/libedgelm.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -MMD -MP,$(CFLAGS_BASE)) $(ARCH_FLAGS) -O1 -Itests/fuzz $(FUZZ_FLAGS) -o $@ $< \
		$(FUZZ_BUILD)/lib/libedgelm.a -lm -lpthread

# fuzz_http.c includes the server's request parser (examples/server/http.c) whole
$(FUZZ_BUILD)/fuzz_http $(BUILD)/fuzz-regress/fuzz_http: examples/server/http.c examples/server/http.h

# Each harness FUZZ_SECONDS on its seeds (one process at a time); a crash fails the target and
# leaves its input in $(FUZZ_BUILD)/artifacts/<harness>/ (add it to tests/fuzz/regress/).
fuzz-smoke: fuzz $(BUILD)/edgelm
	sh scripts/fuzz_corpus.sh $(BUILD)/edgelm $(FUZZ_BUILD)
	FUZZ_BUILD=$(FUZZ_BUILD) sh scripts/fuzz_run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

fixtures-check:
	cd $${EDGELM_FIXTURES:-../shared/fixtures} && sha256sum --quiet -c SHA256SUMS && \
		echo "fixtures-check: every file of SHA256SUMS matches"

clean:
	rm -rf build

-include $(shell find $(BUILD) -name "*.d" 2>/dev/null)
