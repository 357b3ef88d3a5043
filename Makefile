# tunwatch - passive sensor for tunneling-service names (DNS, TLS SNI) on mirrored traffic.
#   make            build build/tunwatch: -O3, link-time optimised and profile-guided (a training
#                   run of an instrumented build on a generated capture and the bundled ones,
#                   then the build that uses its profile; OPT=lto: without the profile,
#                   OPT=plain: CFLAGS (-O2) alone, as the sanitizer and DPDK builds are)
#   make check      install missing Debian packages, build, run every test (tests/run.sh:
#                   "N passed, N failed, N skipped"; the shared corpus and SigmaHQ rules are
#                   read from TW_SHARED, default ../shared; with CI=true a skip of what CI must
#                   run is a failure)
#   make demo       install what running needs (not the test tools), build, replay a bundled
#                   capture with the bundled rules
#   make bench      generate a 2M-packet capture and time tunwatch against a bare libpcap loop
#   make bench-live replay that capture into a veth with tcpreplay while tunwatch captures
#   make fuzz       build the libFuzzer targets with clang and run each briefly (FUZZ_SECONDS)
#   make install    PREFIX, DESTDIR honoured
#   make DPDK=1     also DPDK capture (-i dpdk:PORT, libdpdk-dev), in build/dpdk
#   make SANITIZE=1 check   the same with ASan + UBSan, in build/san
#   make SANITIZE=undefined check   the same with UBSan alone (no ASan), in build/ubsan
#   make SANITIZE=thread    a ThreadSanitizer build in build/tsan (workers, attribution)
#   make check-dpdk the DPDK build's test (tests/t_dpdk.sh) through tests/run.sh

-include config.mak

CC ?= cc
CFLAGS ?= -O2 -g
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/tunwatch
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
LOGROTATEDIR ?= /etc/logrotate.d
DIST_SED = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
               -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 20
PKG_CONFIG ?= pkg-config

TW_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wvla -Wformat=2 -MMD -MP -Iinclude
# Network sinks: librdkafka (kafka://) and hiredis (redis://), through pkg-config.
SINK_LIBS := $(shell $(PKG_CONFIG) --libs rdkafka hiredis 2>/dev/null)
ifeq ($(SINK_LIBS),)
SINK_LIBS := -lrdkafka -lhiredis
endif
LIBS := -lpcap -lyaml -lpcre2-8 -lldns -lcrypto $(SINK_LIBS) -pthread
TEST_LIBS := $(LIBS) -lcmocka -lldns

BUILD ?= build
ifeq ($(SANITIZE),1)
BUILD := build/san
TW_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TW_LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SANITIZE),undefined)
BUILD := build/ubsan
TW_CFLAGS += -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
TW_LDFLAGS += -fsanitize=undefined
endif
ifeq ($(SANITIZE),thread)
BUILD := build/tsan
TW_CFLAGS += -fsanitize=thread -fno-omit-frame-pointer
TW_LDFLAGS += -fsanitize=thread
endif

# How build/tunwatch is optimised (see the top). The stages of OPT=pgo run as sub-makes in
# $(BUILD)/pgo: gen (instrumented), then use (with the profile of the training run). The other
# binaries (tests, bench tools) link the plain objects of $(BUILD).
OPT ?= pgo
ifneq ($(SANITIZE)$(DPDK),)
OPT := plain
endif
# The release build: -O3 (the profile tells where it pays), calls into shared libraries through
# the GOT (no PLT stub), link-time optimisation.
LTO_CFLAGS := -O3 -fno-plt -flto=auto -ffat-lto-objects
ifeq ($(OPT),lto)
TW_CFLAGS += $(LTO_CFLAGS)
TW_BIN_LDFLAGS := -flto=auto
endif
ifeq ($(OPT),gen)
TW_CFLAGS += $(LTO_CFLAGS) -fprofile-generate -fprofile-update=atomic
TW_BIN_LDFLAGS := -flto=auto -fprofile-generate
endif
ifeq ($(OPT),use)
TW_CFLAGS += $(LTO_CFLAGS) -fprofile-use -fprofile-partial-training -Wno-missing-profile
TW_BIN_LDFLAGS := -flto=auto
endif

# DPDK capture (-i dpdk:PORT) with make DPDK=1, built in $(BUILD)/dpdk; otherwise a stand-in
# that refuses DPDK sources. DPDK's headers are compiled as system headers (-isystem).
ifeq ($(DPDK),1)
DPDK_CFLAGS := $(shell $(PKG_CONFIG) --cflags libdpdk)
DPDK_LIBS := $(shell $(PKG_CONFIG) --libs libdpdk)
ifeq ($(DPDK_LIBS),)
$(error DPDK=1 needs libdpdk: apt-get install libdpdk-dev)
endif
BUILD := $(BUILD)/dpdk
LIBS += $(DPDK_LIBS)
TEST_LIBS += $(DPDK_LIBS)
DPDK_SRC := capture/dpdk/dpdk.c
$(BUILD)/capture/dpdk/dpdk.o: TW_CFLAGS += $(patsubst -I%,-isystem %,$(DPDK_CFLAGS))
else
DPDK_SRC := capture/dpdk/none.c
endif

# src/<stage>/*.c (and one level of sub-stage folders), the capture backends, minus main.
LIB_SRCS := $(filter-out src/run/main.c,$(wildcard src/*/*.c src/*/*/*.c)) $(wildcard capture/*.c) \
    capture/dpdk/args.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(DPDK_SRC:%.c=$(BUILD)/%.o)
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
BENCH_BINS := $(BUILD)/bench/twgen $(BUILD)/bench/floor
# Helpers the shell suites start (not test programs themselves); tests/t_recall.sh also runs
# the bench's traffic generator ($(BUILD)/bench/twgen).
HELPER_BINS := $(BUILD)/tests/helpers/kafka_mock

.PHONY: all check check-dpdk demo bench bench-live fuzz install uninstall clean deps FORCE
all: $(BUILD)/tunwatch

# Install paths compiled into the binary; rewritten only when they change.
$(BUILD)/tw_paths.h: FORCE
	@mkdir -p $(BUILD)
	@printf '#define TW_DATADIR "%s"\n' '$(DATADIR)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/src/run/main.o: $(BUILD)/tw_paths.h
$(BUILD)/src/run/main.o: TW_CFLAGS += -I$(BUILD)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(TW_CFLAGS) -c -o $@ $<

$(BUILD)/libtunwatch.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

ifeq ($(OPT),pgo)
# Instrumented, trained (tests/bench/train.sh), rebuilt with the profile: whenever a source
# changed (each stage starts from no objects: the profile is of the sources as they are).
PGO_DIR := $(BUILD)/pgo
$(BUILD)/tunwatch: src/run/main.c $(LIB_SRCS) $(DPDK_SRC) tests/bench/train.sh \
    $(wildcard include/tunwatch/*.h include/tunwatch/*/*.h src/*/*.h src/*/*/*.h) \
    $(BUILD)/bench/twgen
	rm -rf $(PGO_DIR)
	$(MAKE) BUILD=$(PGO_DIR) OPT=gen $(PGO_DIR)/tunwatch
	sh tests/bench/train.sh $(PGO_DIR)/tunwatch $(BUILD)/bench/twgen $(PGO_DIR)
	find $(PGO_DIR) -name '*.o' -delete
	rm -f $(PGO_DIR)/tunwatch $(PGO_DIR)/libtunwatch.a
	$(MAKE) BUILD=$(PGO_DIR) OPT=use $(PGO_DIR)/tunwatch
	cp $(PGO_DIR)/tunwatch $@
else
$(BUILD)/tunwatch: $(BUILD)/src/run/main.o $(BUILD)/libtunwatch.a
	$(CC) $(CFLAGS) $(TW_LDFLAGS) $(TW_BIN_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
endif

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libtunwatch.a
	$(CC) $(CFLAGS) $(TW_LDFLAGS) $(LDFLAGS) -o $@ $^ $(TEST_LIBS)

$(BUILD)/tests/helpers/kafka_mock: $(BUILD)/tests/kafka_mock.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TW_LDFLAGS) $(LDFLAGS) -o $@ $^ $(SINK_LIBS) -pthread

$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(BUILD)/libtunwatch.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TW_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)
$(BUILD)/bench/twgen: $(BUILD)/tests/bench/twgen_wire.o $(BUILD)/tests/bench/twgen_payload.o

# Installs missing Debian packages once per build directory (see .ci/deps.sh): what building
# and running needs (demo, install), and the test tools on top (check, bench, fuzz).
$(BUILD)/.deps-run-ok: .ci/deps.sh
	@sh .ci/deps.sh run
	@mkdir -p $(BUILD) && touch $@
$(BUILD)/.deps-ok: .ci/deps.sh
	@sh .ci/deps.sh all
	@mkdir -p $(BUILD) && touch $@
deps: $(BUILD)/.deps-ok

check: $(BUILD)/.deps-ok
	$(MAKE) $(BUILD)/tunwatch $(TEST_BINS) $(HELPER_BINS) $(BUILD)/bench/twgen
	sh tests/run.sh $(BUILD)

# The DPDK backend without a NIC: the net_pcap vdev replays each capture and the alerts must
# equal those of -r (tests/t_dpdk.sh).
check-dpdk:
	TW_DEPS_DPDK=1 sh .ci/deps.sh
	$(MAKE) DPDK=1 build/dpdk/tunwatch
	sh tests/run.sh build/dpdk tests/t_dpdk.sh

demo: $(BUILD)/.deps-run-ok
	$(MAKE) $(BUILD)/tunwatch
	$(BUILD)/tunwatch -r pcaps/tunnels.pcapng -R rules

bench: $(BUILD)/.deps-ok
	$(MAKE) $(BUILD)/tunwatch $(BENCH_BINS)
	sh tests/bench/run.sh $(BUILD)

bench-live: $(BUILD)/.deps-ok
	$(MAKE) $(BUILD)/tunwatch $(BENCH_BINS)
	sh tests/bench/live.sh $(BUILD)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard include/tunwatch/*/*.h src/*/*.h src/*/*/*.h tests/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined \
	    -o $@ $< $(LIB_SRCS) capture/dpdk/none.c $(LIBS)

fuzz: $(BUILD)/.deps-ok $(FUZZ_BINS)
	sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BINS)

# Binary, rules, man page, systemd unit, sysusers and logrotate snippets, and the example
# configuration (never overwritten). Enabling the service is left to the administrator:
# systemd-sysusers; systemctl daemon-reload; systemctl enable --now tunwatch.
install: $(BUILD)/tunwatch
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/rules $(DESTDIR)$(SYSCONFDIR)/tunwatch \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	    $(DESTDIR)$(LOGROTATEDIR)
	install -m 0755 $(BUILD)/tunwatch $(DESTDIR)$(BINDIR)/tunwatch
	install -m 0644 rules/*.yml $(DESTDIR)$(DATADIR)/rules/
	for f in tunwatch.8 tunwatch.service tunwatch.conf; do \
	    $(DIST_SED) dist/$$f >$(BUILD)/$$f || exit 1; done
	install -m 0644 $(BUILD)/tunwatch.8 $(DESTDIR)$(MANDIR)/man8/tunwatch.8
	install -m 0644 $(BUILD)/tunwatch.service $(DESTDIR)$(UNITDIR)/tunwatch.service
	test -e $(DESTDIR)$(SYSCONFDIR)/tunwatch/tunwatch.conf || \
	    install -m 0644 $(BUILD)/tunwatch.conf $(DESTDIR)$(SYSCONFDIR)/tunwatch/tunwatch.conf
	install -m 0644 dist/tunwatch.sysusers $(DESTDIR)$(SYSUSERSDIR)/tunwatch.conf
	install -m 0644 dist/tunwatch.logrotate $(DESTDIR)$(LOGROTATEDIR)/tunwatch

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tunwatch $(DESTDIR)$(MANDIR)/man8/tunwatch.8 \
	    $(DESTDIR)$(UNITDIR)/tunwatch.service $(DESTDIR)$(SYSUSERSDIR)/tunwatch.conf \
	    $(DESTDIR)$(LOGROTATEDIR)/tunwatch
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build

# Every object's header dependencies, of a BUILD outside build/ too.
-include $(shell find $(sort build $(BUILD)) -name '*.d' 2>/dev/null | sort -u)
