"""Speed and memory benchmarks: `python -m benchmarks.run`. Results are appended to benchmarks/RESULTS.md."""
