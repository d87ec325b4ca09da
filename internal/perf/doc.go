// Package perf measures finessectl the way cron and Nagios run it: as a whole
// process, built as 'make build' builds it, against simulated Finesse nodes
// on loopback. Everything is in its tests:
//
//   - BenchmarkCron: wall time, peak RSS and CPU of a minimal Go program (the
//     floor of any Go command), of '--version' (finessectl's start-up and
//     exit) and of a healthy local check of one node;
//   - BenchmarkInit: what the runtime's package initialisation costs before
//     main runs (GODEBUG=inittrace=1);
//   - BenchmarkNodes: one run checking 1 to 200 nodes at 50 ms RTT, and 200
//     nodes under a lower --concurrency, as a multiple of the one-node time;
//   - TestPeers (build tag benchpeers, 'make bench-peers'): finessectl beside
//     curl, check_xmppng and check_tcp against the same node and delay;
//   - TestProfileCheck (build tag perfprofile): CPU and allocation profiles
//     of 'finessectl check' run in-process against a simulator in a child
//     process.
//
// Run the benchmarks with
//
//	go test -run '^$' -bench . -benchmem ./internal/perf
//
// and add '-args -perf.bin=FILE' to measure a finessectl built elsewhere
// (the previous release, say) against this tree's simulator. Every child
// runs under spawn (spawn/main.go), which reads its resource usage, so that
// its peak RSS is its own and not this process's.
//
// The simulator of BenchmarkCron and BenchmarkNodes runs in the benchmark
// process and shares the machine's cores with the child it measures; its CPU
// is reported apart (sim-cpu-ms/op), and B/op and allocs/op are the benchmark
// process's (the simulator's), not finessectl's, whose cost is cpu-ms/op and
// maxrss-KiB.
package perf
