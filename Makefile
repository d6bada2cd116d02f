# The two set-up commands are `make run` and `make test`; both install what is missing first and are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
COLLECTIONS := $(VENV)/ansible_collections/.installed
SYSTEM := $(VENV)/.system-packages
APT_PACKAGES := dpdk libdpdk-dev dpdk-dev tcpdump tshark iproute2 ethtool systemd nftables libssl-dev openssl
SOURCES := pyproject.toml setup.py MANIFEST.in $(wildcard ffi/*.py ffi/*.c ffi/*.h)
PYTEST_ARGS ?=

.PHONY: install run test bench clean

install: $(INSTALLED) $(COLLECTIONS)

# Debian packages (DPDK, tcpdump, tshark...) when root with apt; otherwise say what was skipped.
$(SYSTEM): scripts/system-packages.sh
	@mkdir -p $(VENV)
	@sh scripts/system-packages.sh $(APT_PACKAGES)
	@touch $@

# Re-installs only when the build inputs change (a DPDK install changes $(SYSTEM), which rebuilds _tw_dpdk).
$(INSTALLED): $(SOURCES) $(SYSTEM)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,deploy]'
	@touch $@

# Ansible collections of ansible/requirements.yml, next to the venv (offline-safe, see ansible/install_collections.py);
# the test suite uses them from there and never downloads.
$(COLLECTIONS): ansible/requirements.yml ansible/install_collections.py $(INSTALLED)
	$(PY) ansible/install_collections.py $(VENV)/ansible_collections
	@touch $@

# The main job: the demo market maker against the embedded simulator for 30 s, then the latency table. Its compiled
# pass is kept with the venv, where `make test` (tests/conftest.py) keeps it too: after `make test` it starts warm.
run: install
	TICKWIRE_CACHE_DIR=$${TICKWIRE_CACHE_DIR:-$(abspath $(VENV))/tickwire-cache} $(VENV)/bin/tickwire run --duration 30s

# pytest exits 5 when it collected no test: that is a broken suite, not a pass.
test: install
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc = 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The benchmarks, then the whole suite once more with every core busy (pytest --cpu-load): a test that only
# passes on an idle machine fails here. Not in CI (.ci/run runs `make test`).
bench: install
	$(PY) -m pytest -m bench $(PYTEST_ARGS)
	$(PY) -m pytest --cpu-load $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info src/tickwire/_tw_*.so src/tickwire/_tw_*.c src/tickwire/_tw_*.o
	find . -name __pycache__ -prune -exec rm -rf {} +
