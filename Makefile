# kubevirt-net-injector. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
MOCHA := node_modules/.bin/mocha --reporter test/support/reporter.cjs
export RESULTS_DIR ?= $(CURDIR)/.test-results

.PHONY: help deps prereqs build lint test test-unit test-cloudinit summary demo clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

deps: node_modules ## install npm dependencies

# What the suites need from the machine, installed or checked before anything runs: the Debian
# packages of hack/packages/LIST.txt for each list in PREREQ_LISTS (Node 20 and Go checked), then
# each of PREREQ_TARGETS (npm packages; mk/ adds the control plane and the image's bases).
# Anything it cannot fix stops it with one line: "prereqs: <what is missing>; fix: <command>".
PREREQ_LISTS := core
PREREQ_TARGETS := node_modules

prereqs: ## install or check what make test needs; stops with one line naming what is missing
	@bash hack/install-deps.sh $(sort $(PREREQ_LISTS))
	@for t in $(PREREQ_TARGETS); do \
	  $(MAKE) --no-print-directory $$t || { echo "prereqs: $$t failed (output above); fix: the cause shown, then make $$t" >&2; exit 1; }; \
	done

TS_SOURCES := $(shell find src test bench hack -name '*.ts' 2>/dev/null) tsconfig.json package-lock.json Makefile

build: dist/.stamp ## compile TypeScript to dist/ (again only when a source changed)

dist/.stamp: node_modules $(TS_SOURCES)
	rm -rf dist
	node_modules/.bin/tsc -p tsconfig.json
	chmod +x dist/src/cli/main.js
	@touch $@

lint: node_modules ## eslint, prettier and the type-check
	node_modules/.bin/eslint .
	git ls-files -z --cached --others --exclude-standard | xargs -0 node_modules/.bin/prettier --check --ignore-unknown
	node_modules/.bin/tsc -p tsconfig.json --noEmit

test: ## prerequisites, lint, type-check and every suite; ends with "N passed, N failed"
	@rm -rf $(RESULTS_DIR); mkdir -p $(RESULTS_DIR)
	@$(MAKE) --no-print-directory prereqs || { echo '{"suite":"prereqs","passed":0,"failed":1}' > $(RESULTS_DIR)/prereqs.json; exit 1; }
	@status=0; \
	$(MAKE) --no-print-directory lint || { status=1; echo '{"suite":"lint","passed":0,"failed":1}' > $(RESULTS_DIR)/lint.json; }; \
	[ -f $(RESULTS_DIR)/lint.json ] || echo '{"suite":"lint","passed":1,"failed":0}' > $(RESULTS_DIR)/lint.json; \
	$(MAKE) --no-print-directory build || status=1; \
	for suite in $(TEST_SUITES); do $(MAKE) --no-print-directory $$suite || status=1; done; \
	node test/support/summary.mjs $(RESULTS_DIR) || status=1; \
	exit $$status

TEST_SUITES := test-unit test-cloudinit

test-unit: ## unit and golden-file tests (pure logic, no I/O)
	SUITE=unit $(MOCHA) 'dist/test/unit/**/*.test.js'

test-cloudinit: ## guest-side checks with cloud-init's own renderers and schema
	SUITE=cloudinit $(MOCHA) --timeout 60000 'dist/test/cloudinit/**/*.test.js'

summary: ## sum every suite's results in .test-results
	@node test/support/summary.mjs $(RESULTS_DIR)

demo: build ## the seed's VMs through the injection, end to end as far as it works
	@bash hack/install-deps.sh controlplane core
	bash hack/demo.sh

clean: ## remove build output (keeps .cache)
	rm -rf dist .test-results

# Each area keeps its own targets in mk/ (and may append to TEST_SUITES).
include $(wildcard mk/*.mk)
