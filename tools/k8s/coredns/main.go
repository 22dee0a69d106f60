// Command coredns is CoreDNS with only the plugins the dev cluster's real node needs.
//
// Upstream's main package compiles in every plugin of its plugin.cfg (forward included). This one registers a
// short list instead, in the order upstream's plugin.cfg gives them, so the Corefile can only answer cluster
// names: there is no forward plugin, hence no upstream resolution and no traffic leaving the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives is the execution order of the plugins, a subsequence of upstream's plugin.cfg.
// bind keeps the server on the node's bridge address instead of every interface of the machine.
var directives = []string{"reload", "bind", "ready", "health", "errors", "cache", "kubernetes", "loop"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
