"""omnitwin benchmarks (issue 8): `python -m bench.run`; see bench/README.md."""
