# Admission webhook (src/webhook): HTTPS tests against the real engine, and the benchmark.
.PHONY: test-webhook bench-admission bench-admission-pinned bench-admission-stages

test-webhook: ## the webhook over real HTTPS: reviews, hostile input, cert rotation, SIGTERM drain
	SUITE=webhook $(MOCHA) --timeout 30000 'dist/test/webhook/**/*.test.js'

bench-admission: build ## admission throughput/latency/CPU: bare node floor, express, our webhook
	node dist/bench/admission/run.js

bench-admission-pinned: build ## the same with every server on CPU 0 and the load generator on CPU 1
	BENCH_PIN=1 node dist/bench/admission/run.js

bench-admission-stages: build ## one review's CPU in-process, stage by stage (parse, engine, answer, log)
	node dist/bench/admission/stages.js

TEST_SUITES += test-webhook
