# Admission webhook (src/webhook): HTTPS tests against the real engine, and the benchmark.
.PHONY: test-webhook bench-admission bench-admission-pinned

test-webhook: ## the webhook over real HTTPS: reviews, hostile input, cert rotation, SIGTERM drain
	SUITE=webhook $(MOCHA) --timeout 30000 'dist/test/webhook/**/*.test.js'

bench-admission: build ## admission throughput, latency, CPU and RSS: node:https floor, our webhook, the Go peer
	node dist/bench/admission/run.js

bench-admission-pinned: build ## the same with the servers on CPU 0 and the load generator on CPU 1
	BENCH_PIN=1 node dist/bench/admission/run.js

TEST_SUITES += test-webhook

.PHONY: bench-fuzz
bench-fuzz: build ## generated input: 100,000 VMs through the engine, 20,000 bodies through the webhook
	node dist/bench/fuzz/run.js

.PHONY: bench-soak-webhook
bench-soak-webhook: build ## the webhook as deployed at 2,000 reviews/s for 1,000,000 reviews: RSS, p99 drift, handles
	node dist/bench/soak/webhook.js
