# cw2mackerel: `make` builds, `make test` runs every test (creating the Python venv with moto
# that the integration tests need). See README.md.

VENV := .venv
PY   := $(VENV)/bin/python

.PHONY: all build test venv clean

all: build

build:
	cargo build --release

venv: $(PY)

$(PY): tests/peers/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/peers/requirements.txt
	touch $(PY)

test: venv
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo test

clean:
	cargo clean
	rm -rf $(VENV)
