# Controller (src/controller): its integration tests run in the integration suite
# (test/integration/controller*.test.ts), the fault tests too (controller-fault-*: apiserver and
# etcd restarted, a black-holed connection, the leader SIGKILLed at 1,000 VMs; about 3 min each
# on 2 loaded cores); this adds the benchmark and the soak.
.PHONY: bench-controller

bench-controller: build ## controller: VMI address -> EndpointSlice / DNS latency, 1,000 and 10,000 VMIs converge time and RSS
	node dist/bench/controller/run.js $(BENCH_ARGS)

.PHONY: bench-soak-controller
bench-soak-controller: controlplane build ## controller as its own process, 100,000 VMI address changes: RSS, p99 drift, handles
	node dist/bench/soak/controller.js
