# sslshim — plain GNU Makefile.  `make`, `make test`, `make demo`, `make install`.
# V=1 shows the full commands.

PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib
BINDIR  ?= $(PREFIX)/bin
INCDIR  ?= $(PREFIX)/include

CC      ?= cc
CXX     ?= c++
B       := build
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral -Wno-format-truncation
CFLAGS  ?= -O2 -g
SHIM_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -fPIC -fvisibility=hidden \
               -fno-omit-frame-pointer -D_GNU_SOURCE -Iinclude -Ishim -MMD -MP
FIX_CFLAGS  := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -fno-omit-frame-pointer \
               -rdynamic -MMD -MP

ifeq ($(V),1)
Q :=
else
Q := @
endif

SHIM_SRCS := $(wildcard shim/*.c)
SHIM_OBJS := $(SHIM_SRCS:shim/%.c=$(B)/shim/%.o)
# The back-end objects: everything except the exported front-end and the start-up
# glue, so unit tests link them without any preload or libssl.
BACKEND_OBJS := $(filter-out $(B)/shim/hooks.o $(B)/shim/init.o $(B)/shim/api.o,$(SHIM_OBJS))
# The event path below the producers: the layers of shim/LAYERS up to `record`.
# The unit tests of those layers link only them, which also proves that
# nothing there calls up.
CORE_MODULES := $(shell awk '!/^\#/ && NF { for (i = 2; i <= NF; i++) print $$i; if ($$1 == "record:") exit }' shim/LAYERS)
CORE_OBJS := $(patsubst shim/%.c,$(B)/shim/%.o,$(wildcard $(CORE_MODULES:%=shim/%.c)))
CORE_UNIT_TESTS := $(B)/tests/unit/test_flight $(B)/tests/unit/test_burst $(B)/tests/unit/test_fields \
                   $(B)/tests/unit/test_hello $(B)/tests/unit/test_dgramq $(B)/tests/unit/test_syslog
$(CORE_UNIT_TESTS): UNIT_OBJS = $(CORE_OBJS)
UNIT_OBJS = $(BACKEND_OBJS)

FIXTURES := $(patsubst tests/fixtures/%.c,$(B)/tests/%,$(filter-out tests/fixtures/common.c,$(wildcard tests/fixtures/*.c))) \
            $(patsubst tests/fixtures/%.cpp,$(B)/tests/%,$(wildcard tests/fixtures/*.cpp))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(wildcard tests/unit/*.c))

.PHONY: all deps fixtures unit test demo install uninstall clean check-static check-sanitize test-compat bench
all: $(B)/libsslshim.so

# What the build needs, said plainly instead of a wall of compiler errors.
HAVE_HEADERS := $(and $(wildcard /usr/include/openssl/ssl.h),$(wildcard /usr/include/valgrind/valgrind.h))
ifeq ($(HAVE_HEADERS),)
$(SHIM_OBJS): need-deps
endif
.PHONY: need-deps
need-deps:
	@echo "sslshim needs libssl-dev and valgrind (headers); run: sudo make deps" >&2; exit 1

deps:
	sh tests/install-deps.sh

# The wrappers run on every SSL_read/SSL_write: no frame pointer there (three
# instructions of the data path's budget); unwinding uses CFI, not %rbp.
$(B)/shim/hooks.o: SHIM_CFLAGS += -fomit-frame-pointer

$(B)/shim/%.o: shim/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(SHIM_CFLAGS) -c -o $@ $<

$(B)/libsslshim.so: $(SHIM_OBJS) shim/exports.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $(SHIM_OBJS) -Wl,--version-script=shim/exports.map \
	    -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined -ldl -lpthread

$(B)/tests/%: tests/fixtures/%.c tests/fixtures/common.c tests/fixtures/common.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(FIX_CFLAGS) -o $@ $< tests/fixtures/common.c -lssl -lcrypto -lpthread

$(B)/tests/%: tests/fixtures/%.cpp
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CXX     $<")
	$(Q)$(CXX) $(CFLAGS) -Wall -Wextra -Werror -fno-omit-frame-pointer -rdynamic -o $@ $< -lssl -lcrypto

$(B)/tests/unit/%: tests/unit/%.c tests/unit/check.h tests/unit/json_line.h tests/unit/fuzz.h $(BACKEND_OBJS)
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Ishim -o $@ $< $(UNIT_OBJS) -ldl -lpthread

fixtures: $(FIXTURES)
unit: $(UNIT_TESTS)

# make test and make demo are all the set-up there is: the Debian packages
# first (installed when missing, tests/ensure-deps.sh), then the build.
test:
	$(Q)sh tests/ensure-deps.sh
	$(Q)$(MAKE) --no-print-directory all fixtures unit
	$(Q)sh tests/run-tests.sh

demo:
	$(Q)sh tests/ensure-deps.sh
	$(Q)$(MAKE) --no-print-directory all fixtures
	$(Q)sh tests/demo.sh

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PREFIX)/lib/sslshim
	install -m 0644 $(B)/libsslshim.so $(DESTDIR)$(LIBDIR)/libsslshim.so
	install -m 0644 include/sslshim.h $(DESTDIR)$(INCDIR)/sslshim.h
	install -m 0755 scripts/sslshim $(DESTDIR)$(BINDIR)/sslshim
	install -m 0644 scripts/sslshim_*.py $(DESTDIR)$(PREFIX)/lib/sslshim/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 man/sslshim.1 $(DESTDIR)$(PREFIX)/share/man/man1/sslshim.1

# What install put there, and the directories it made if they are left empty.
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsslshim.so $(DESTDIR)$(INCDIR)/sslshim.h \
	    $(DESTDIR)$(BINDIR)/sslshim $(DESTDIR)$(PREFIX)/share/man/man1/sslshim.1
	rm -rf $(DESTDIR)$(PREFIX)/lib/sslshim
	-rmdir $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man \
	    $(DESTDIR)$(PREFIX)/share $(DESTDIR)$(LIBDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(INCDIR) 2>/dev/null

# The OpenSSL compatibility matrix (tests/compat/README.md): 1.1.1 and a newer
# 3.x built from Debian's source packages into build/compat, and the system's.
test-compat: all fixtures
	$(Q)sh tests/compat/run.sh

# `make bench`: what the shim costs against the same program without it
# (tests/bench/README.md).  `make bench QUICK=1`: a short run that fails only
# when a figure is far past its target.
BENCH_DRIVER := $(B)/bench/bench_driver
$(BENCH_DRIVER): tests/bench/bench_driver.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -o $@ $< -lssl -lcrypto -lpthread

$(B)/bench/no_write.so: tests/bench/no_write.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -shared -fPIC -o $@ $< -ldl

$(B)/bench/syscall_cost: tests/bench/syscall_cost.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -o $@ $<

bench: all fixtures $(BENCH_DRIVER) $(B)/bench/no_write.so $(B)/bench/syscall_cost
	$(Q)python3 tests/bench/run_bench.py $(if $(filter 1,$(QUICK)),--quick)
	$(Q)python3 tests/bench/report_speed.py $(if $(filter 1,$(QUICK)),--lines 200000)

clean:
	rm -rf $(B)

# The unit tests and fixtures built with ASan and UBSan into build/asan, run
# with the (normal) shim preloaded after ASan's runtime.
SANITIZE := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
check-sanitize: all
	$(Q)$(MAKE) --no-print-directory B=$(B)/asan CFLAGS="$(SANITIZE)" fixtures unit
	$(Q)python3 tests/check_sanitize.py

# cppcheck and clang-tidy over shim/, with the checks chosen in .clang-tidy.
check-static:
	$(Q)python3 tests/check_layers.py
	$(Q)cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --std=c11 --inline-suppr -D_GNU_SOURCE -Iinclude -Ishim \
	    --suppress=missingIncludeSystem shim/*.c
	$(Q)clang-tidy --quiet $(SHIM_SRCS) -- -std=gnu11 -D_GNU_SOURCE -Iinclude -Ishim 2>/dev/null
	@echo "static checks clean"

-include $(SHIM_OBJS:.o=.d)

# `make check-faults` (tests/faults/README.md): the shim's own system calls and
# allocations fail at random, through GNU ld's --wrap over the same shim
# objects as libsslshim.so plus tests/faults/faults.c; the programs must not
# notice.  The wrapped names are the F(name, class) lines of faults.c.
FAULTS_DIR  := $(B)/faults
FAULT_FNS   := $(shell sed -n 's/^ *F(\([a-z0-9_]*\), *[a-z]*).*/\1/p' tests/faults/faults.c)
FAULT_SHIM  := $(FAULTS_DIR)/libsslshim-faults.so
faults_comma := ,
.PHONY: faults check-faults
$(FAULTS_DIR)/faults.o: tests/faults/faults.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(WARN) -std=gnu11 -fPIC -fvisibility=hidden -c -o $@ $<

$(FAULT_SHIM): $(SHIM_OBJS) $(FAULTS_DIR)/faults.o shim/exports.map tests/faults/faults.c
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $(SHIM_OBJS) $(FAULTS_DIR)/faults.o \
	    -Wl,--version-script=shim/exports.map -Wl,-z,now -Wl,-z,relro -Wl,--no-undefined \
	    $(addprefix -Wl$(faults_comma)--wrap=,$(FAULT_FNS)) -ldl -lpthread

$(FAULTS_DIR)/errno_probe: tests/faults/errno_probe.c tests/fixtures/common.c tests/fixtures/common.h
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(FIX_CFLAGS) -Itests/fixtures -o $@ $< tests/fixtures/common.c -lssl -lcrypto -lpthread

faults: $(FAULT_SHIM) $(FAULTS_DIR)/errno_probe

FAULTS_FIXTURES := $(addprefix $(B)/tests/,tls_client tls_server \
                   $(notdir $(basename $(wildcard tests/fixtures/harm_fork.c tests/fixtures/harm_exit_race.c))))
check-faults: all faults $(FAULTS_FIXTURES)
	$(Q)python3 tests/check_faults.py $(FAULTS_ARGS)

# `make check-tsan` (tests/tsan/README.md): the shim and the threaded fixtures
# built with ThreadSanitizer into build/tsan; the TSan shim is preloaded into
# the TSan-built programs (the runtime comes from the executable, so the
# shim is linked without --no-undefined).
TSAN_DIR      := $(B)/tsan
TSAN_CC       ?= clang
TSAN_FLAGS    := -O1 -g -fsanitize=thread -Wno-unknown-warning-option
TSAN_OBJS     := $(SHIM_SRCS:shim/%.c=$(TSAN_DIR)/shim/%.o)
TSAN_FIXTURES := $(addprefix $(TSAN_DIR)/tests/,tls_client tls_server \
                 $(notdir $(basename $(wildcard tests/fixtures/harm_exit_race.c))))
.PHONY: tsan check-tsan
$(TSAN_DIR)/bin/llvm-symbolizer: tests/tsan/symbolizer.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -O2 -static -o $@ $<

tsan: $(TSAN_DIR)/bin/llvm-symbolizer
	$(Q)$(MAKE) --no-print-directory -s B=$(TSAN_DIR) CC=$(TSAN_CC) CFLAGS="$(TSAN_FLAGS)" \
	    $(TSAN_OBJS) $(TSAN_FIXTURES)
	@$(if $(Q),echo "  LD      $(TSAN_DIR)/libsslshim.so")
	$(Q)$(TSAN_CC) -fsanitize=thread -shared -o $(TSAN_DIR)/libsslshim.so $(TSAN_OBJS) \
	    -Wl,--version-script=shim/exports.map -Wl,-z,now -Wl,-z,relro -ldl -lpthread

check-tsan: tsan
	$(Q)python3 tests/check_tsan.py $(TSAN_ARGS)
