# The two commands a newcomer runs: `make demo` and `make check`. Both install what is missing
# and build first. Everything else is Meson (build/ with gcc, build-asan/ with clang ASan+UBSan).

BUILD      ?= build
ASAN_BUILD ?= build-asan

.PHONY: all deps build build-asan check demo demo-stop bench format clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) --buildtype=debugoptimized

$(ASAN_BUILD)/build.ninja: | deps
	CC=clang meson setup $(ASAN_BUILD) --buildtype=debug \
	    -Db_sanitize=address,undefined -Db_lundef=false -Dfuzzing=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

check: build build-asan
	scripts/run-tests $(BUILD) $(ASAN_BUILD)

demo: build
	CLOISTER_BIN_DIR=$(CURDIR)/$(BUILD) scripts/demo

demo-stop:
	scripts/demo stop

bench: build
	bench/api/run $(BUILD)
	bench/store/run $(BUILD)
	bench/issue/run $(BUILD)
	bench/convert/run $(BUILD)
	bench/verify/run $(BUILD)
	bench/console/run $(BUILD)

format:
	git ls-files -co --exclude-standard -- '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
