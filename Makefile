# ctk: a consensus toolkit. `make` builds bin/ctk; `make test` runs every test; `make asan` runs
# the tests under AddressSanitizer and UndefinedBehaviorSanitizer; `make bench` measures.
# Missing Debian packages are installed first (scripts/install-deps.sh).

CC ?= cc
CXX ?= c++
PKGS := tomlplusplus jansson libxxhash libzmq lmdb
TEST_PKGS := cmocka

MODE ?= release
BUILD := build/$(MODE)

WARN := -Wall -Wextra -Werror
CFLAGS_COMMON := -std=c11 -D_GNU_SOURCE $(WARN) -g -MMD -MP -Iprotocols -Iharness
CXXFLAGS_COMMON := -std=c++17 $(WARN) -g -MMD -MP -Iharness

ifeq ($(MODE),asan)
  OPT := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDOPT := -fsanitize=address,undefined
else
  OPT := -O2
  LDOPT :=
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags $(TEST_PKGS) 2>/dev/null)
TEST_LIBS = $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)

CFLAGS_ALL = $(CFLAGS_COMMON) $(OPT) $(PKG_CFLAGS) $(CFLAGS)
CXXFLAGS_ALL = $(CXXFLAGS_COMMON) $(OPT) $(PKG_CFLAGS) $(CXXFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lstdc++ -lm -lpthread $(LDLIBS)

LIB_C_SRC := $(wildcard protocols/*.c protocols/*/*.c harness/*.c)
LIB_C_SRC := $(filter-out harness/main.c,$(LIB_C_SRC))
LIB_CXX_SRC := $(wildcard harness/*.cpp)
LIB_OBJ := $(LIB_C_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX_SRC:%.cpp=$(BUILD)/%.o)
LIB := $(BUILD)/libctk.a

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SUPPORT_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

DEPS_STAMP := build/.deps-ok

.PHONY: all test asan bench deps demo format format-check clean valgrind sweep-long fuzz fuzz-deps crash soak
all: bin/ctk

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps.sh
	@bash scripts/install-deps.sh
	@mkdir -p build && touch $@

# The binary built in release mode is the one users run.
bin/ctk: $(DEPS_STAMP) $(BUILD)/ctk
	@mkdir -p bin
	cp $(BUILD)/ctk $@

$(BUILD)/ctk: $(BUILD)/harness/main.o $(LIB)
	$(CC) $(LDOPT) -o $@ $^ $(LDLIBS_ALL)

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# ctk new-protocol writes Makefiles that find protocol.h where this ctk was built from.
$(BUILD)/harness/cmd_new_protocol.o: CFLAGS += -DCTK_PROTOCOLS_DIR='"$(CURDIR)/protocols"'

$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(TEST_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cpp | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_ALL) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_SUPPORT_OBJ) $(LIB)
	$(CC) $(LDOPT) -o $@ $^ $(TEST_LIBS) $(LDLIBS_ALL)

# The headless-browser test decodes Chromium's PNG screenshots with zlib.
$(BUILD)/tests/test_timeline_browser: LDLIBS += $(shell pkg-config --libs zlib 2>/dev/null)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(LDOPT) -o $@ $^ $(LDLIBS_ALL)

# Every test binary, then one closing line "N passed, N failed".
test: $(TEST_BIN) $(BUILD)/ctk
	@bash tests/run.sh $(BUILD) $(TEST_BIN)

asan:
	$(MAKE) MODE=asan test

valgrind: $(TEST_BIN)
	@VALGRIND=1 bash tests/run.sh $(BUILD) $(filter %/test_sim %/test_kv %/test_raft_unit %/test_raft_sim %/test_raft_codec %/test_wire %/test_config %/test_history %/test_store %/test_results %/test_paxos %/test_multipaxos %/test_vr %/test_zab %/test_epaxos,$(TEST_BIN))

bench: $(BENCH_BIN) $(BUILD)/ctk
	@bash bench/run.sh $(BUILD)

# The main job: build, then compare every protocol on the shipped default experiment, on a local
# cluster of real processes.
demo: bin/ctk
	bin/ctk compare configs/default.toml

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' '*.cpp')

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
.SECONDARY:

# The SIGKILL crash test with 100 kills per protocol (make test runs 12), and the full-disk test.
CRASH_KILLS ?= 100
crash: $(BUILD)/tests/test_durability $(BUILD)/ctk
	@CTK_CRASH_KILLS=$(CRASH_KILLS) bash tests/run.sh $(BUILD) $(BUILD)/tests/test_durability

# Every protocol for SOAK_SECONDS (default 600) each under rotating faults, memory and open files
# recorded each second (scripts/soak.sh).
soak: bin/ctk
	@bash scripts/soak.sh bin/ctk

# The long seed sweeps: every sweep scenario over SEEDS seeds (default 2000).
sweep-long: bin/ctk
	@bash scripts/sweep-long.sh bin/ctk

# Coverage-guided fuzzing (clang's libFuzzer, with AddressSanitizer and UBSan) of everything that
# reads untrusted bytes: every protocol's messages and durable state, the nodes' frame envelope,
# experiment files, histories. FUZZ_SECONDS per target (default 60), starting from the checked-in
# corpus fuzz/corpus/<target> (which holds every input that ever crashed a target, so each run
# replays them first); new inputs go to build/fuzz/corpus. Prints executions, executions per
# second and coverage (edges, features) per target.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst fuzz/%.c,build/fuzz/%,$(wildcard fuzz/*.c))
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1
fuzz: fuzz-deps $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  name=$$(basename $$t); mkdir -p build/fuzz/corpus/$$name fuzz/corpus/$$name; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS) s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=build/fuzz/$$name- \
	    build/fuzz/corpus/$$name fuzz/corpus/$$name >build/fuzz/$$name.log 2>&1; rc=$$?; \
	  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|SUMMARY|crash-" \
	    build/fuzz/$$name.log; grep -E "DONE|INITED" build/fuzz/$$name.log | tail -1 | \
	    sed -E 's/.*(cov: [0-9]+ ft: [0-9]+).*/  coverage: \1 (edges, features)/'; \
	  [ $$rc -eq 0 ] || { echo "fuzz: $$name failed (build/fuzz/$$name.log)"; exit 1; }; \
	done

fuzz-deps: $(DEPS_STAMP)
	@bash scripts/install-deps.sh fuzz

# The library is compiled once with clang's instrumentation, then linked into every target.
FUZZ_OBJ := $(LIB_C_SRC:%.c=build/fuzz/obj/%.o) build/fuzz/obj/harness/toml.o
build/fuzz/obj/%.o: %.c | fuzz-deps
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -Iprotocols -Iharness -MMD -MP \
	  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -g -O1 -c -o $@ $<
build/fuzz/obj/harness/toml.o: harness/toml.cpp | fuzz-deps
	@mkdir -p $(dir $@)
	clang++ -std=c++17 -DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1 -MMD -MP \
	  -fsanitize=address,undefined -fno-sanitize=vptr -g -O1 -c -o $@ $<
build/fuzz/libctk-fuzz.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^
build/fuzz/%: fuzz/%.c build/fuzz/libctk-fuzz.a | fuzz-deps
	clang -std=c11 -D_GNU_SOURCE -Iprotocols -Iharness $(FUZZ_FLAGS) -o $@ $< \
	  build/fuzz/libctk-fuzz.a $(PKG_LIBS) -lstdc++ -lm
