"""Benchmarks: each prints its figures as ratios against a baseline measured in the same run, never asserts
on time. Run each as a module from the checkout, `.venv/bin/python -m bench.NAME` (`make bench` runs all), so
that `lab` (the shared harness) and `deploys` import without touching sys.path."""
