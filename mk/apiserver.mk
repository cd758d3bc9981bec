# What our webhook adds to a VirtualMachine create through the real kube-apiserver (bench/apiserver):
# its own control plane and webhook process, sequential creates with and without the webhook call.
.PHONY: bench-apiserver

APISERVER_BENCH_CREATES ?= 300
APISERVER_BENCH_ROUNDS ?= 10

bench-apiserver: controlplane build ## VM create latency through kube-apiserver, webhook called vs not (median, p99)
	node dist/bench/apiserver/run.js $(APISERVER_BENCH_CREATES) $(APISERVER_BENCH_ROUNDS)
