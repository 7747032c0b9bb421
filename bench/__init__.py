"""The benchmark suite: `make bench` (python -m bench.run). See bench/README.md."""
