# Makefile -- builds libhttpfstream (static and shared), the three commands, tests, benchmarks and
# fuzzers. `make help` lists the targets.
#
# Variables: CC, PREFIX (install), BUILD (output folder), SAN=1 (AddressSanitizer + UBSan build),
# OPT (optimisation flags), SYSTEMD_UNITDIR (where install puts the systemd units; systemd reads
# /usr/local/lib/systemd/system and /usr/lib/systemd/system, /etc/systemd/system for local ones).

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2
SAN     ?=
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMD_UNITS   := httpfstream.service httpfstream.socket

PKGS := libuv libssl libcrypto libcurl libnats
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# llhttp: a system library when pkg-config knows one, else Debian's node-llhttp sources compiled here.
LLHTTP_PC := $(shell pkg-config --exists llhttp 2>/dev/null && echo yes)
ifeq ($(LLHTTP_PC),yes)
LLHTTP_CFLAGS := $(shell pkg-config --cflags llhttp)
LLHTTP_LIBS   := $(shell pkg-config --libs llhttp)
LLHTTP_SRC    :=
else
LLHTTP_DIR    ?= /usr/share/llhttp
LLHTTP_CFLAGS := -I/usr/share/include/llhttp
LLHTTP_LIBS   :=
LLHTTP_SRC    := $(wildcard $(LLHTTP_DIR)/*.c)
endif

# Terse output; `make V=1` shows the commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS_ALL := -std=gnu11 $(OPT) -g -fPIC -D_GNU_SOURCE -Iinclude -Isrc -Itests $(LLHTTP_CFLAGS) \
              $(PKG_CFLAGS) $(WARN) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) $(LLHTTP_LIBS) -lpthread $(LDLIBS)
ifneq ($(SAN),)
CFLAGS_ALL += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=address,undefined
endif

LIB_SRC := $(sort $(wildcard src/common/*.c src/ws/*.c src/store/*.c src/store/file/*.c src/store/nats/*.c src/http/*.c \
                             src/server/*.c src/ds/*.c src/auth/*.c \
                             src/client/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/viewer_html.o \
           $(BUILD)/obj/gen/listing_html.o \
           $(patsubst $(LLHTTP_DIR)/%.c,$(BUILD)/obj/llhttp/%.o,$(LLHTTP_SRC))
CMDS    := httpfstream-server httpfstream-append httpfstream-follow httpfstream-sign
CMD_BIN := $(CMDS:%=$(BUILD)/bin/%)
STATIC  := $(BUILD)/lib/libhttpfstream.a
SHARED  := $(BUILD)/lib/libhttpfstream.so

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_SRC := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BIN := $(INTEG_SRC:tests/integration/%.c=$(BUILD)/tests/%)
TEST_HELPER := $(BUILD)/obj/tests/harness.o
# An LD_PRELOAD shim for the servers test_slowdisk starts (a slow disk, counted syncs).
TEST_SHIM := $(BUILD)/tests/libslowdisk.so

# Keep intermediate objects (test and command objects come from pattern chains).
.SECONDARY:

.PHONY: all lib cmds tests test check sanitize ds-conformance run install uninstall clean help \
        deps bench fuzz format lint tidy

all: lib cmds

lib: $(STATIC) $(SHARED)
cmds: $(CMD_BIN)
tests: $(UNIT_BIN) $(INTEG_BIN) $(TEST_SHIM)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(filter-out -Werror -Wmissing-prototypes -Wshadow,$(CFLAGS_ALL)) -Wno-unused-parameter \
	    -c $< -o $@

# The viewer page, compiled in as a byte array.
$(BUILD)/gen/viewer_html.c: src/server/viewer.html scripts/embed.sh
	@mkdir -p $(dir $@)
	$(Q)scripts/embed.sh $< hfs_viewer_html > $@

$(BUILD)/obj/gen/viewer_html.o: $(BUILD)/gen/viewer_html.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(filter-out -Wmissing-prototypes,$(CFLAGS_ALL)) -c $< -o $@

# The directory listing page (the server fills in its path and rows), likewise.
$(BUILD)/gen/listing_html.c: src/server/listing.html scripts/embed.sh
	@mkdir -p $(dir $@)
	$(Q)scripts/embed.sh $< hfs_listing_html > $@

$(BUILD)/obj/gen/listing_html.o: $(BUILD)/gen/listing_html.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(filter-out -Wmissing-prototypes,$(CFLAGS_ALL)) -c $< -o $@

$(STATIC): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libhttpfstream.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/bin/%: $(BUILD)/obj/src/cmd/%.o $(BUILD)/obj/src/cmd/cmdline.o $(STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(STATIC) $(LDLIBS_ALL)

# The server also speaks systemd's socket activation and notification protocols.
$(BUILD)/bin/httpfstream-server: $(BUILD)/obj/src/cmd/systemd.o

$(BUILD)/obj/src/cmd/httpfstream-%.o: src/cmd/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_HELPER) $(STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(TEST_HELPER) $(STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/obj/tests/harness.o: tests/harness.c tests/harness.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# The store tests (tests/unit/test_store_*.c) also link the backend conformance suite.
$(BUILD)/tests/test_store_%: $(BUILD)/obj/tests/unit/test_store_%.o \
                             $(BUILD)/obj/tests/store_conformance.o $(TEST_HELPER) $(STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# Never built with the sanitizers (SAN, CFLAGS): it is preloaded into servers of either build.
$(TEST_SHIM): tests/shim/slowdisk.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) -std=gnu11 -O2 -g -fPIC -shared -D_GNU_SOURCE $(WARN) -o $@ $< -ldl -lpthread

# The whole suite: the normal build, then again under AddressSanitizer + UBSan, then each fuzzer
# for a few seconds over its corpus (catches regressions; `make fuzz` runs them for long).
# tests/all.sh runs the three and ends with one line over all of them: "N passed, M failed".
test: deps-test
	MAKE="$(MAKE)" tests/all.sh

check: all tests
	tests/run.sh $(BUILD)

sanitize:
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 check

# The Durable Streams protocol's conformance suite (npm, installed by deps-test) against the server
# of $(BUILD) (tests/ds/run.sh; DS_URL=http://HOST:PORT runs it against another server instead).
ds-conformance: cmds
	tests/ds/run.sh $(BUILD)

deps:
	scripts/deps.sh build
deps-test:
	scripts/deps.sh test
.PHONY: deps-test

ROOT ?= /tmp/httpfstream
ADDR ?= :8080
run: all
	$(BUILD)/bin/httpfstream-server -root=$(ROOT) -http=$(ADDR)

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 include/httpfstream.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/libhttpfstream.so.0
	ln -sf libhttpfstream.so.0 $(DESTDIR)$(PREFIX)/lib/libhttpfstream.so
	install -m 755 $(CMD_BIN) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR)
	for u in $(SYSTEMD_UNITS); do \
	    sed 's|@PREFIX@|$(PREFIX)|g' systemd/$$u > $(DESTDIR)$(SYSTEMD_UNITDIR)/$$u || exit 1; \
	    chmod 644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$$u; \
	done
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define HFS_VERSION "\(.*\)"/\1/p' include/httpfstream.h)|g' \
	    httpfstream.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/httpfstream.pc
	$(LDCONFIG_SYSTEM)

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/httpfstream.h $(DESTDIR)$(PREFIX)/lib/libhttpfstream.* \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig/httpfstream.pc
	rm -f $(CMDS:%=$(DESTDIR)$(PREFIX)/bin/%) $(CMDS:%=$(DESTDIR)$(PREFIX)/share/man/man1/%.1)
	rm -f $(SYSTEMD_UNITS:%=$(DESTDIR)$(SYSTEMD_UNITDIR)/%)
	$(LDCONFIG_SYSTEM)

# After (un)installing into a directory the dynamic linker searches (/usr/local/lib, /usr/lib, ...:
# those `ldconfig -v` lists) as root and without DESTDIR, refresh its cache so that programs find
# libhttpfstream.so.0 at once. Other prefixes: LD_LIBRARY_PATH or -Wl,-rpath (README).
LDCONFIG_SYSTEM = @if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then \
	    for d in $$(ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p'); do \
	        if [ "$$d" -ef "$(PREFIX)/lib" ]; then echo "ldconfig"; ldconfig; break; fi; \
	    done; \
	fi

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

tidy:
	clang-tidy --quiet $$(git ls-files 'src/*.c') -- -std=gnu11 -D_GNU_SOURCE -Iinclude -Isrc \
	    $(LLHTTP_CFLAGS) $(PKG_CFLAGS)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -Iinclude -Isrc \
	    src include

clean:
	rm -rf build build-asan build-fuzz

help:
	@echo "make            build the library and the commands into $(BUILD)/"
	@echo "make run        build, then serve ROOT=$(ROOT) on ADDR=$(ADDR)"
	@echo "make test       install test tools, run every test, again under ASan+UBSan, the fuzzers briefly"
	@echo "make check      run every test against the current build (no installs)"
	@echo "make sanitize   the suite under AddressSanitizer + UndefinedBehaviorSanitizer"
	@echo "make ds-conformance  the Durable Streams conformance suite against the server"
	@echo "make fuzz       every libFuzzer target for FUZZ_TIME s (fuzz-smoke: a few seconds each)"
	@echo "make bench      the benchmarks, with the peers (docs/PERFORMANCE.md)"
	@echo "make install    install into PREFIX=$(PREFIX)"
	@echo "make lint       cppcheck;  make tidy  clang-tidy;  make format  clang-format"

# Benchmarks: the load generators (WebSocket: loadgen; Durable Streams over HTTP: dsload) and the
# bare-machine peer, then bench/run.sh (BENCH_ARGS are passed on: a scenario name, QUICK=1 in the
# environment for a short run).
BENCH_BIN := $(BUILD)/bench/loadgen $(BUILD)/bench/dsload $(BUILD)/bench/bare_fanout

$(BUILD)/bench/%: bench/%.c bench/common.c bench/common.h $(STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS_ALL) -Ibench $(LDFLAGS) -o $@ $< bench/common.c $(STATIC) $(LDLIBS_ALL)

# The plain nats.c publish loop of the nats scenario (bench/run.sh nats), with libnats.
BENCH_BIN += $(BUILD)/bench/nats_pub
$(BUILD)/bench/nats_pub: bench/nats_pub.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags libnats) $(LDFLAGS) -o $@ $< \
		$(shell pkg-config --libs libnats) -lpthread

bench: $(BENCH_BIN) $(CMD_BIN)
	bench/run.sh $(BUILD) $(BENCH_ARGS)

include fuzz/fuzz.mk
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
