# fuzz.mk -- libFuzzer targets (included by the Makefile). Each target is built with clang,
# AddressSanitizer and UBSan into build-fuzz/, and runs over its seed corpus in fuzz/corpus/<name>
# plus a working corpus in build-fuzz/corpus/<name>.
#   make fuzz              every target for FUZZ_TIME seconds (default 300)
#   make fuzz-smoke        every target briefly (FUZZ_SMOKE seconds, default 8): part of `make test`
#   make fuzz-ws           one target (ws, path, request, client, ds_json, auth)

FUZZ_TARGETS := ws path request client ds_json auth
FUZZ_BUILD   := build-fuzz
FUZZ_TIME    ?= 300
FUZZ_SMOKE   ?= 8
FUZZ_CC      ?= clang

ifeq ($(FUZZ),1)
CFLAGS_ALL += -fsanitize=fuzzer-no-link
endif

$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $(STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(STATIC) $(LDLIBS_ALL)

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SAN=1 FUZZ=1 OPT=-O1 fuzz-bins

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) fuzz/run.sh $(FUZZ_SMOKE) $(FUZZ_TARGETS)

$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) fuzz/run.sh $(FUZZ_TIME) $*

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-bins $(FUZZ_TARGETS:%=fuzz-%)
