# Two commands: `make run` opens the dashboard, `make test` runs everything.
# Both create or update .venv first, so a fresh clone needs nothing else.

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run test lint typecheck bench clean docs

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/distlab

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

test: setup lint typecheck
	@command -v nft >/dev/null && command -v ip >/dev/null && command -v tc >/dev/null \
		|| (apt-get update -q && apt-get install -y -q iproute2 nftables) \
		|| { echo "make test: the netns tests need iproute2 and nftables, installed as root"; exit 1; }
	@test -x /usr/sbin/sshd && command -v ssh >/dev/null \
		|| (apt-get update -q && apt-get install -y -q openssh-server openssh-client) \
		|| { echo "make test: the SSH hosts test needs openssh-server, installed as root"; exit 1; }
	$(PY) -m pytest tests/
	$(VENV)/bin/distlab --ci
	$(VENV)/bin/distlab --ci --config config.netns.toml --layers distributed
	$(PY) tests/ssh_hosts.py -- $(VENV)/bin/distlab --ci --config {config} --layers distributed
	$(PY) suites/planted_bugs.py --runs 1 --jobs 2
	@command -v node >/dev/null || (apt-get update -q && apt-get install -y -q nodejs) \
		|| { echo "make test: examples/js-kv needs Node.js (apt-get install nodejs, as root)"; exit 1; }
	$(PY) -m pytest -q examples/js-kv/test_both_modes.py
	@sh examples/redis-sentinel/ensure-redis.sh
	$(VENV)/bin/distlab --ci --config examples/redis-sentinel/config.toml

# docs/reference.md is generated from the code (tests/test_docs_reference.py checks it).
docs: setup
	$(PY) -m distlab.docs_ref --write docs/reference.md

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf .distlab reports $(VENV)
