# GNU make cross-build with mingw-w64 on Linux. See README.md.
#   make                       build/kanade-agent.exe and build/kanade.exe
#   make VERSION=0.1.1 BUILD=build-0.1.1   a second, differently versioned build
#   make test | make demo | make fuzz | make bench

include sources.mk

VERSION ?= $(shell cat VERSION)
BUILD   ?= build
DEPS    ?= .deps

# "0.1.1" -> "0,1,1,0" for the fixed VERSIONINFO fields (non-digits dropped).
VERSION_NUM := $(shell echo '$(VERSION)' | awk -F. '{for(i=1;i<=4;i++){v=$$i;gsub(/[^0-9].*/,"",v);if(v=="")v=0;printf "%s%s",v,(i<4?",":"")}}')

CC      = x86_64-w64-mingw32-gcc
AR      = x86_64-w64-mingw32-ar
WINDRES = x86_64-w64-mingw32-windres
# No -fdata-sections: mingw-w64's gcc then puts zero-initialised statics in
# .data$<name> sections that take file space (about 110 KB of the CLI's
# tables); without it they stay in .bss. Unused functions still go with
# -ffunction-sections and --gc-sections.
CFLAGS  = -std=c11 -Os -Wall -Wextra -Werror -Wno-unused-parameter \
          -D_WIN32_WINNT=0x0601 -DUNICODE -D_UNICODE -D__USE_MINGW_ANSI_STDIO=0 \
          -ffunction-sections \
          -I$(DEPS)/bearssl-mingw/inc -I$(DEPS)/jsmn -Isrc
LDFLAGS = -static -s -municode -Wl,--gc-sections
LIBS    = -L$(DEPS)/bearssl-mingw -lbearssl -lws2_32 -lbcrypt -ladvapi32 -lshell32 -lole32

# Native (Linux) builds of the pure modules for sanitizers and fuzzing.
NCC     = gcc
NCFLAGS = -std=c11 -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
          -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
          -I$(DEPS)/jsmn -Isrc -Itests
FUZZCC  = clang
FUZZFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -I$(DEPS)/jsmn -Isrc

OBJ = $(BUILD)/obj
LIB_OBJS   = $(patsubst src/%.c,$(OBJ)/%.o,$(PURE_SRC) $(WIN_SRC))
AGENT_OBJS = $(patsubst src/%.c,$(OBJ)/%.o,$(AGENT_SRC))
CLI_OBJS   = $(patsubst src/%.c,$(OBJ)/%.o,$(CLI_SRC))
HDRS = $(wildcard src/*.h)

# `make` alone builds the two exes, whatever rule comes first below.
.DEFAULT_GOAL := all

# The fleet page (kanade serve) is embedded as bytes. src/web_assets.h is
# generated but checked in, so nmake.mak and build.bat need no shell;
# tests/it_build.sh checks it is current.
WEB_FILES = src/web/index.html src/web/app.css src/web/app.js
src/web_assets.h: scripts/webgen.sh $(WEB_FILES)
	bash scripts/webgen.sh $@ $(WEB_FILES)

UNIT_PURE = $(patsubst tests/%.c,%,$(wildcard tests/t_*.c))
UNIT_WIN  = $(patsubst tests/%.c,%,$(wildcard tests/w_*.c))
FUZZERS   = $(patsubst tests/%.c,%,$(wildcard tests/fuzz_*.c))
TOOLS     = $(patsubst tests/%.c,%,$(wildcard tests/tool_*.c))

DEPS_STAMP = $(DEPS)/.ok

.PHONY: all deps test demo fuzz bench clean units fuzzers print-sources
all: $(BUILD)/kanade-agent.exe $(BUILD)/kanade.exe

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/deps.sh
	@scripts/deps.sh $(DEPS)
	@touch $@

$(OBJ)/%.o: src/%.c $(HDRS) $(DEPS_STAMP) | $(OBJ)
	$(CC) $(CFLAGS) -c $< -o $@

$(OBJ):
	@mkdir -p $@

$(BUILD)/libkanade.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(OBJ)/res-%.o: src/version.rc VERSION $(DEPS_STAMP) | $(OBJ)
	$(WINDRES) -DKVER_STR='\"$(VERSION)\"' -DKVER_NUM=$(VERSION_NUM) \
	  -DKEXE_NAME='\"$*.exe\"' -DKEXE_DESC='\"$*\"' -O coff $< -o $@
# windres output depends on VERSION given on the command line too.
$(OBJ)/.version-$(VERSION): | $(OBJ)
	@rm -f $(OBJ)/.version-* $(OBJ)/res-*.o
	@touch $@

$(BUILD)/kanade-agent.exe: $(OBJ)/.version-$(VERSION) $(AGENT_OBJS) $(OBJ)/res-kanade-agent.o $(BUILD)/libkanade.a
	$(CC) $(LDFLAGS) -o $@ $(AGENT_OBJS) $(OBJ)/res-kanade-agent.o $(BUILD)/libkanade.a $(LIBS)

$(BUILD)/kanade.exe: $(OBJ)/.version-$(VERSION) $(CLI_OBJS) $(OBJ)/res-kanade.o $(BUILD)/libkanade.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(OBJ)/res-kanade.o $(BUILD)/libkanade.a $(LIBS)

# ---- tests -------------------------------------------------------------
# t_*.c: pure-module unit tests, built natively (ASan/UBSan) and as .exe (Wine).
# w_*.c: Win32-module unit tests, .exe only. tool_*.c: helper exes for tests.
$(BUILD)/native/%: tests/%.c $(PURE_SRC) $(HDRS) tests/th.h $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(NCC) $(NCFLAGS) -o $@ $< $(PURE_SRC) -lbearssl

# Some Win32 unit tests #include a module's .c to reach its statics.
$(BUILD)/wtest/%.exe: tests/%.c $(BUILD)/libkanade.a tests/th.h $(wildcard src/*.c) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-error=unused-function -Itests -static -municode -o $@ $< $(BUILD)/libkanade.a $(LIBS)

# The agent with the test-only hooks (src/upd_int.h, KANADE_TEST_HOOKS): the
# integration tests install this build; the shipped exe has no hook code.
HOOK_OBJS = $(OBJ)/update.o $(OBJ)/upd_swap.o
TEST_AGENT_OBJS = $(patsubst %.o,%-hooks.o,$(filter $(HOOK_OBJS),$(AGENT_OBJS))) \
                  $(filter-out $(HOOK_OBJS),$(AGENT_OBJS))
$(OBJ)/%-hooks.o: src/%.c $(HDRS) $(DEPS_STAMP) | $(OBJ)
	$(CC) $(CFLAGS) -DKANADE_TEST_HOOKS -c $< -o $@
$(BUILD)/test/kanade-agent.exe: $(OBJ)/.version-$(VERSION) $(TEST_AGENT_OBJS) $(OBJ)/res-kanade-agent.o $(BUILD)/libkanade.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(TEST_AGENT_OBJS) $(OBJ)/res-kanade-agent.o $(BUILD)/libkanade.a $(LIBS)

# The fleet simulator runs the agent's own code: it includes agent_run.c
# (the agent loop is static) and links the other agent modules, with the
# test hooks (a test slows its downloads).
FLEET_OBJS = $(filter-out $(OBJ)/agent.o $(OBJ)/agent_run.o,$(TEST_AGENT_OBJS))
$(BUILD)/wtest/tool_fleet.exe: tests/tool_fleet.c $(FLEET_OBJS) $(BUILD)/libkanade.a $(wildcard src/*.c) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-error=unused-function -Itests -static -municode -o $@ $< $(FLEET_OBJS) $(BUILD)/libkanade.a $(LIBS)

$(BUILD)/fuzz/%: tests/%.c $(PURE_SRC) $(HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(FUZZFLAGS) -o $@ $< $(PURE_SRC) -lbearssl

units: all $(BUILD)/test/kanade-agent.exe $(BUILD)/fixtures/.ok $(addprefix $(BUILD)/native/,$(UNIT_PURE)) \
       $(patsubst %,$(BUILD)/wtest/%.exe,$(UNIT_PURE) $(UNIT_WIN) $(TOOLS))

# PE images for t_pe_version, built with mingw + windres (none committed).
$(BUILD)/fixtures/.ok: tests/pe_fixtures.sh
	@bash tests/pe_fixtures.sh $(BUILD)/fixtures
	@touch $@

fuzzers: $(addprefix $(BUILD)/fuzz/,$(FUZZERS)) $(BUILD)/fixtures/.ok

# nats.js for the interop checks (it_interop, it_cli), pinned by the lock file;
# installed before the suites start, since they run in parallel.
INTEROP = tests/interop/node_modules/.package-lock.json
$(INTEROP): tests/interop/package-lock.json
	@echo "deps: npm ci in tests/interop"
	@cd tests/interop && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

test: deps units fuzzers $(INTEROP)
	@BUILD=$(BUILD) DEPS=$(DEPS) bash tests/run.sh

fuzz: deps fuzzers
	@BUILD=$(BUILD) FUZZ_SECONDS=$${FUZZ_SECONDS:-300} bash tests/fuzz.sh

demo: deps
	@bash scripts/demo.sh

bench: deps units $(INTEROP)
	@BUILD=$(BUILD) bash bench/run.sh

clean:
	rm -rf $(BUILD) build-*

# Prints the source lists as GNU make sees them (tests/it_build.sh compares
# them with what nmake.mak builds).
print-sources:
	@echo "agent: $(sort $(PURE_SRC) $(WIN_SRC) $(AGENT_SRC))"
	@echo "cli: $(sort $(PURE_SRC) $(WIN_SRC) $(CLI_SRC))"
