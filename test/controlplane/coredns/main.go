// Command coredns is CoreDNS with only the plugins our tests need: kubernetes answers cluster
// names from the apiserver, bind keeps it on loopback, the others make it observable. Directive
// order comes from CoreDNS itself (core/dnsserver), so a Corefile using these plugins behaves as in
// the stock build.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() { coremain.Run() }
