"""tools/chaos: a bounded chaos run against the real lb (see tools/chaoslib/README.md)."""
