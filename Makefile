# cw2mackerel. `make` builds for this machine; `make setup` installs what the tests need on
# Debian or Ubuntu; `make test` runs every check CI runs (see README.md). The image is built
# with docker or podman, whichever can build here.

VENV   := .venv
PY     := $(VENV)/bin/python
X86    := x86_64-unknown-linux-musl
ARM    := aarch64-unknown-linux-musl
STATIC := target/$(X86)/release/cw2mackerel target/$(ARM)/release/cw2mackerel
IMAGE  := cw2mackerel:latest
# A docker client without an engine cannot build: use podman then, with the runtime and
# cgroup manager that work in containers like CI's.
ENGINE := $(shell docker info >/dev/null 2>&1 && echo docker || echo podman --runtime runc --cgroup-manager=cgroupfs)

export CC_x86_64_unknown_linux_musl := musl-gcc
export CC_aarch64_unknown_linux_musl := aarch64-linux-gnu-gcc
# rust-lld links both: identical code folded once (--icf=all, 47 KB) and the static-PIE's
# relocations packed (RELR, which musl applies at start: 77 KB of .rela.dyn become 1 KB).
LINK   := -C link-arg=--icf=all -C link-arg=-zpack-relative-relocs
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER := rust-lld
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER := rust-lld
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS := $(LINK)
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS := $(LINK)

.PHONY: all build setup static image lambda-zip size venv lint test clean

all: build

build:
	cargo build --release

# Everything `make test` needs, on Debian or Ubuntu. Packages that are only *recommended* are
# not installed with --no-install-recommends, so each one needed is named:
# - musl-tools (musl-gcc) builds ring's C for x86_64 musl;
# - gcc-aarch64-linux-gnu for aarch64, with libc6-dev-arm64-cross, the C headers it only
#   recommends (without them ring stops at bits/libc-header-start.h);
# - podman and runc build and run the scratch image; util-linux gives unshare and chroot;
# - qemu-user-static runs the aarch64 binary (the Lambda one) on any machine.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT  := make musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross podman runc util-linux \
	qemu-user-static python3 python3-venv
setup:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT) >/dev/null
	rustup component add rustfmt clippy
	rustup target add $(X86) $(ARM)
	$(MAKE) venv

static:
	cargo build --release --target $(X86)
	cargo build --release --target $(ARM)

# The image holds one static binary: x86_64 by default, ARCH=arm64 for Graviton.
ARCH ?= amd64
image: static
	rm -rf target/image && mkdir -p target/image/tmp
	cp target/$(if $(filter arm64,$(ARCH)),$(ARM),$(X86))/release/cw2mackerel target/image/
	$(ENGINE) build --platform linux/$(ARCH) -f Dockerfile.scratch -t $(IMAGE) target/image

# The Lambda package: the aarch64 binary as `bootstrap`, its mode kept, for provided.al2023.
lambda-zip: static
	rm -rf target/lambda && mkdir -p target/lambda
	cp target/$(ARM)/release/cw2mackerel target/lambda/bootstrap
	cd target/lambda && python3 -m zipfile -c cw2mackerel-lambda.zip bootstrap

size: static
	@for f in $(STATIC); do printf '%-52s %9d bytes\n' $$f $$(stat -c %s $$f); done
	@$(ENGINE) image inspect $(IMAGE) --format '{{.Size}}' 2>/dev/null \
		| xargs -r printf '%-52s %9d bytes\n' 'image $(IMAGE)' || true

# `.venv/ready` holds the requirements it was made from; the tests make the same venv the
# same way when it is missing (tests/common/mod.rs).
venv: $(VENV)/ready

$(VENV)/ready: tests/peers/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements.txt
	cp tests/peers/requirements.txt $@

lint: venv
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint deploy/*.yaml

# The tests `cargo test` leaves out (ignored: they check the static binaries, the Lambda zip
# and the image) run here, where a missing component is a failure.
test: lint image lambda-zip
	cargo test -- --include-ignored

clean:
	cargo clean
	rm -rf $(VENV)
