# Controller (src/controller): its integration tests run in the integration suite
# (test/integration/controller*.test.ts); this adds the benchmark.
.PHONY: bench-controller

bench-controller: build ## controller: VMI address -> EndpointSlice / DNS latency, 1,000 and 10,000 VMIs converge time and RSS
	node dist/bench/controller/run.js $(BENCH_ARGS)
