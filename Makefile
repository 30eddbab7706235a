# ngx_http_export_module
#
#   make run     build, make demo runs, start nginx on 127.0.0.1:8080
#   make test    build, run the unit tests and the Test::Nginx suite
#   make deb     the Debian package libnginx-mod-http-export (util/debian)
#
# The module is built as a dynamic module against Debian's nginx-dev tree
# and loaded into Debian's /usr/sbin/nginx.

SHELL      := /bin/bash

NGINX      ?= /usr/sbin/nginx
NGX_SRC    ?= /usr/share/nginx/src
BUILD      := build
NGX_BUILD  := $(BUILD)/nginx
# compiler and linker flags: by default those Debian's nginx was built
# with (nginx -V: -O2, the stack protector, _FORTIFY_SOURCE), not nginx's
# own -O; the Debian package passes dpkg-buildflags'
NGX_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -Wdate-time -D_FORTIFY_SOURCE=2
NGX_LD_OPT ?=
MODULE     := $(NGX_BUILD)/objs/ngx_http_export_module.so

# the zip writer's deflate: empty for what config finds (libdeflate,
# else ISA-L, else zlib); libdeflate, isal or zlib to force one
EXPORT_DEFLATE ?=
DEFLATE_STAMP := $(BUILD)/deflate.$(or $(EXPORT_DEFLATE),auto)

MOD_SRCS   := config $(wildcard src/*.c src/*.h)

CC         ?= cc
UNIT_CFLAGS = -O1 -g -Wall -Wextra -Werror -Isrc
UNIT_BIN   := t/unit/bin

# our Test::Nginx::Socket only where the real one is not installed
PERL_LIB   := $(shell perl -MTest::Nginx::Socket -e1 2>/dev/null || echo t/lib)

TEST_ENV    = TEST_NGINX_BINARY=$(NGINX) \
              TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) \
              EXPORT_MODULE=$(CURDIR)/$(MODULE) \
              $(if $(PERL_LIB),PERL5LIB=$(CURDIR)/$(PERL_LIB))

.PHONY: all deps build build-backends run test test-unit test-nginx test-full \
        bench fuzz \
        test-valgrind test-asan test-tsan deb test-deb test-real-tn clean

all: build

deps:
	@util/deps.sh

build: deps $(MODULE)

# another EXPORT_DEFLATE configures nginx again
$(DEFLATE_STAMP):
	mkdir -p $(BUILD)
	rm -f $(BUILD)/deflate.*
	touch $@

# other flags configure nginx again
CC_OPT_STAMP := $(BUILD)/cc-opt
$(CC_OPT_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(NGX_CC_OPT) | $(NGX_LD_OPT)' | cmp -s - $@ \
		|| echo '$(NGX_CC_OPT) | $(NGX_LD_OPT)' > $@

FORCE:

$(BUILD)/configured: config $(DEFLATE_STAMP) $(CC_OPT_STAMP)
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && . ./conf_flags \
		&& EXPORT_DEFLATE=$(EXPORT_DEFLATE) ./configure "$${NGX_CONF_FLAGS[@]}" \
			$(if $(NGX_CC_OPT),--with-cc-opt='$(NGX_CC_OPT)') \
			$(if $(NGX_LD_OPT),--with-ld-opt='$(NGX_LD_OPT)') \
			--add-dynamic-module=$(CURDIR) > ../configure.log
	touch $@

$(MODULE): $(BUILD)/configured $(MOD_SRCS)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules

# the module on the other deflate libraries, each in a tree of its own:
# make test builds them so that every backend compiles and links (CI)
OTHER_DEFLATE := zlib isal

$(BUILD)/nginx-%/objs/ngx_http_export_module.so: config $(MOD_SRCS) \
		$(CC_OPT_STAMP)
	rm -rf $(BUILD)/nginx-$*
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx-$*
	cd $(BUILD)/nginx-$* && . ./conf_flags \
		&& EXPORT_DEFLATE=$* ./configure "$${NGX_CONF_FLAGS[@]}" \
			$(if $(NGX_CC_OPT),--with-cc-opt='$(NGX_CC_OPT)') \
			$(if $(NGX_LD_OPT),--with-ld-opt='$(NGX_LD_OPT)') \
			--add-dynamic-module=$(CURDIR) > ../configure-$*.log
	$(MAKE) -C $(BUILD)/nginx-$* -f objs/Makefile modules

build-backends: deps $(OTHER_DEFLATE:%=$(BUILD)/nginx-%/objs/ngx_http_export_module.so)
	@set -e; for b in $(OTHER_DEFLATE); do \
		m=$(BUILD)/nginx-$$b/objs/ngx_http_export_module.so; \
		lib=$$(case $$b in zlib) echo libz.so;; isal) echo libisal.so;; esac); \
		ldd $$m | grep -q "$$lib" || { echo "$$m: no $$lib" >&2; exit 1; }; \
		echo "$$m: built on $$b ($$lib)"; \
	done

run: build
	@util/demo.sh

$(UNIT_BIN)/test_csv: t/unit/test_csv.c src/ngx_export_csv.c src/ngx_export_csv.h \
		src/ngx_export_utf8.c src/ngx_export_utf8.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) $< src/ngx_export_csv.c src/ngx_export_utf8.c -lyajl -lcmocka -o $@

$(UNIT_BIN)/test_utf8: t/unit/test_utf8.c src/ngx_export_utf8.c src/ngx_export_utf8.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) $< src/ngx_export_utf8.c -lcmocka -o $@

$(UNIT_BIN)/test_json: t/unit/test_json.c t/unit/exj_ref.c t/unit/exj_ref.h \
		src/ngx_export_json.c src/ngx_export_json.h src/ngx_export_utf8.c
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) $< t/unit/exj_ref.c src/ngx_export_json.c \
		src/ngx_export_utf8.c -lyajl -lcmocka -o $@

$(UNIT_BIN)/test_hmac: t/unit/test_hmac.c src/ngx_export_hmac.c \
		src/ngx_export_hmac.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) $< src/ngx_export_hmac.c -lcrypto -lcmocka -o $@

$(UNIT_BIN)/test_parse: t/unit/test_parse.c src/ngx_export_parse.c \
		src/ngx_export_parse.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) $< src/ngx_export_parse.c -lyajl -lcmocka -o $@

# the zip writer's tests with each deflate backend (they inflate with zlib)
$(UNIT_BIN)/test_zip: t/unit/test_zip.c src/ngx_export_zip.c src/ngx_export_zip.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) -pthread $< src/ngx_export_zip.c -lz -lcmocka -o $@

$(UNIT_BIN)/test_zip_isal: t/unit/test_zip.c src/ngx_export_zip.c src/ngx_export_zip.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) -DEXZ_ISAL=1 -pthread $< src/ngx_export_zip.c \
		-lisal -lz -lcmocka -o $@

$(UNIT_BIN)/test_zip_libdeflate: t/unit/test_zip.c src/ngx_export_zip.c \
		src/ngx_export_zip.h
	@mkdir -p $(UNIT_BIN)
	$(CC) $(UNIT_CFLAGS) -DEXZ_LIBDEFLATE=1 -pthread $< src/ngx_export_zip.c \
		-ldeflate -lz -lcmocka -o $@

$(UNIT_BIN)/zipcat: t/unit/zipcat.c src/ngx_export_zip.c src/ngx_export_zip.h
	@mkdir -p $(UNIT_BIN)
	$(CC) -O2 -pthread -Isrc $< src/ngx_export_zip.c -lz -o $@

test: build build-backends test-unit test-nginx

test-unit: deps $(UNIT_BIN)/test_csv $(UNIT_BIN)/test_utf8 $(UNIT_BIN)/test_zip \
		$(UNIT_BIN)/test_zip_isal $(UNIT_BIN)/test_zip_libdeflate \
		$(UNIT_BIN)/test_parse $(UNIT_BIN)/test_json $(UNIT_BIN)/test_hmac \
		$(UNIT_BIN)/zipcat
	$(UNIT_BIN)/test_csv
	$(UNIT_BIN)/test_utf8
	$(UNIT_BIN)/test_parse
	$(UNIT_BIN)/test_json
	$(UNIT_BIN)/test_hmac
	$(UNIT_BIN)/test_zip
	$(UNIT_BIN)/test_zip_isal
	$(UNIT_BIN)/test_zip_libdeflate

test-nginx: build
	$(TEST_ENV) prove -r t/

test-full: export EXPORT_TEST_FULL=1
test-full: test

# the data-block suite with nginx under valgrind memcheck: any error, or
# a definite leak, fails the block (our harness; see t/lib/Test/Nginx)
test-valgrind: build
	@util/deps.sh --valgrind
	$(TEST_ENV) TEST_NGINX_USE_VALGRIND=1 prove t/api.t t/config.t

# the nginx-free units built with AddressSanitizer and UBSan
test-asan: deps
	@util/deps.sh --fuzz
	@mkdir -p $(BUILD)/asan
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-Isrc t/unit/test_csv.c src/ngx_export_csv.c src/ngx_export_utf8.c \
		-lyajl -lcmocka -o $(BUILD)/asan/test_csv
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-Isrc t/unit/test_utf8.c src/ngx_export_utf8.c -lcmocka \
		-o $(BUILD)/asan/test_utf8
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-Isrc t/unit/test_parse.c src/ngx_export_parse.c -lyajl -lcmocka \
		-o $(BUILD)/asan/test_parse
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-Isrc t/unit/test_json.c t/unit/exj_ref.c src/ngx_export_json.c \
		src/ngx_export_utf8.c -lyajl -lcmocka -o $(BUILD)/asan/test_json
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-Isrc t/unit/test_hmac.c src/ngx_export_hmac.c -lcrypto -lcmocka \
		-o $(BUILD)/asan/test_hmac
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-pthread -Isrc t/unit/test_zip.c src/ngx_export_zip.c -lz -lcmocka \
		-o $(BUILD)/asan/test_zip
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-pthread -Isrc -DEXZ_ISAL=1 t/unit/test_zip.c src/ngx_export_zip.c \
		-lisal -lz -lcmocka -o $(BUILD)/asan/test_zip_isal
	clang-14 -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
		-pthread -Isrc -DEXZ_LIBDEFLATE=1 t/unit/test_zip.c \
		src/ngx_export_zip.c -ldeflate -lz -lcmocka \
		-o $(BUILD)/asan/test_zip_libdeflate
	$(BUILD)/asan/test_csv
	$(BUILD)/asan/test_utf8
	$(BUILD)/asan/test_parse
	$(BUILD)/asan/test_json
	$(BUILD)/asan/test_hmac
	$(BUILD)/asan/test_zip
	$(BUILD)/asan/test_zip_isal
	$(BUILD)/asan/test_zip_libdeflate

# the ZIP writer's tests, its thread included, with ThreadSanitizer
test-tsan: deps
	@util/deps.sh --fuzz
	@mkdir -p $(BUILD)/tsan
	clang-14 -g -O1 -fsanitize=thread -pthread -Isrc t/unit/test_zip.c \
		src/ngx_export_zip.c -lz -lcmocka -o $(BUILD)/tsan/test_zip
	clang-14 -g -O1 -fsanitize=thread -pthread -Isrc -DEXZ_ISAL=1 \
		t/unit/test_zip.c src/ngx_export_zip.c -lisal -lz -lcmocka \
		-o $(BUILD)/tsan/test_zip_isal
	clang-14 -g -O1 -fsanitize=thread -pthread -Isrc -DEXZ_LIBDEFLATE=1 \
		t/unit/test_zip.c src/ngx_export_zip.c -ldeflate -lz -lcmocka \
		-o $(BUILD)/tsan/test_zip_libdeflate
	$(BUILD)/tsan/test_zip
	$(BUILD)/tsan/test_zip_isal
	$(BUILD)/tsan/test_zip_libdeflate

# speed and memory, measured side by side in one run (not timed tests);
# each script adds its figures to BENCH_SUMMARY (FIGURE lines, see
# docs/benchmarks.md), printed as one table at the end
BENCH_SUMMARY ?= $(CURDIR)/$(BUILD)/bench-summary.tsv

bench: build $(UNIT_BIN)/zipcat
	@util/deps.sh --bench
	@mkdir -p $(dir $(BENCH_SUMMARY)) && : > $(BENCH_SUMMARY)
	@rc=0; for b in t/bench/*.sh; do echo "== $$b"; \
		$(TEST_ENV) BENCH_SUMMARY=$(BENCH_SUMMARY) bash $$b || { rc=1; break; }; \
	done; \
	echo "== summary ($(BENCH_SUMMARY))"; \
	util/bench-summary.sh $(BENCH_SUMMARY); \
	exit $$rc

# every parser of outside bytes under libFuzzer, FUZZ_SECONDS each (default
# 600), one after the other, from the seeds in t/fuzz/corpus_<name>; what
# they find grows build/fuzz/corpus_<name>, logs in build/fuzz/logs
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := csv utf8 runid hide form link uniware meta claim zip \
                zip_isal zip_libdeflate json
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -Wall -Isrc

FUZZ_SRCS_csv     := src/ngx_export_csv.c src/ngx_export_utf8.c
FUZZ_SRCS_utf8    := src/ngx_export_utf8.c
FUZZ_SRCS_zip     := src/ngx_export_zip.c
FUZZ_LIBS_zip     := -pthread -lz
# the writer and, beside it, its yajl reference
FUZZ_SRCS_json    := src/ngx_export_json.c src/ngx_export_utf8.c \
                     t/unit/exj_ref.c
# fuzz_zip.c again, the writer built on ISA-L, and on libdeflate
FUZZ_MAIN_zip_isal := t/fuzz/fuzz_zip.c
FUZZ_SRCS_zip_isal := -DEXZ_ISAL=1 src/ngx_export_zip.c
FUZZ_LIBS_zip_isal := -pthread -lisal -lz
FUZZ_MAIN_zip_libdeflate := t/fuzz/fuzz_zip.c
FUZZ_SRCS_zip_libdeflate := -DEXZ_LIBDEFLATE=1 src/ngx_export_zip.c
FUZZ_LIBS_zip_libdeflate := -pthread -ldeflate -lz
FUZZ_SRCS_DEFAULT := src/ngx_export_parse.c

.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: $$(or $$(FUZZ_MAIN_$$*),t/fuzz/fuzz_$$*.c) \
		$(wildcard src/ngx_export_*.[ch])
	@util/deps.sh --fuzz
	@mkdir -p $(BUILD)/fuzz
	clang-14 $(FUZZ_FLAGS) $< \
		$(or $(FUZZ_SRCS_$*),$(FUZZ_SRCS_DEFAULT)) -lyajl $(FUZZ_LIBS_$*) -o $@

$(BUILD)/fuzz/fuzz_json: t/unit/exj_ref.c t/unit/exj_ref.h

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@mkdir -p $(BUILD)/fuzz/logs
	@set -e; cd $(BUILD)/fuzz; for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus_$$t; \
		echo "== fuzz_$$t, $(FUZZ_SECONDS) s (log: $(BUILD)/fuzz/logs/$$t.log)"; \
		./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			corpus_$$t $(CURDIR)/t/fuzz/corpus_$${t%_*} > logs/$$t.log 2>&1 \
			|| { tail -n 40 logs/$$t.log; exit 1; }; \
		grep -E '^#[0-9]+.*DONE' logs/$$t.log | tail -n 1; \
	done

# the Debian package, built with debhelper in a staging copy (build/deb)
deb: deps
	@util/deps.sh --deb
	util/deb-build.sh

# the package installed into the system nginx, used, and purged (root)
test-deb: deb
	util/test-deb.sh

# every t/*.t under the real CPAN Test::Nginx (openresty/test-nginx)
# checked out in REAL_TEST_NGINX, not our t/lib copy
REAL_TEST_NGINX ?=
test-real-tn: build
	@test -f "$(REAL_TEST_NGINX)/lib/Test/Nginx/Socket.pm" \
		|| { echo "REAL_TEST_NGINX=DIR: a test-nginx checkout" >&2; exit 1; }
	TEST_NGINX_BINARY=$(NGINX) \
		TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) \
		EXPORT_MODULE=$(CURDIR)/$(MODULE) \
		PERL5LIB=$(abspath $(REAL_TEST_NGINX))/lib \
		prove -r t/

clean:
	rm -rf $(BUILD) $(UNIT_BIN) t/servroot*
