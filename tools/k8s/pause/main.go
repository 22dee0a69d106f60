// Command pause holds a pod's namespaces open: it sleeps until SIGINT or SIGTERM and reaps any child that
// exits meanwhile (it may be PID 1 of a pod that shares its process namespace). No registry is reachable from
// the dev cluster, so its pause image is built from this program.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for received := range signals {
		if received != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
