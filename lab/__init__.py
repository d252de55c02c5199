"""The harness shared by `make demo`, the tests and the benchmarks (DESIGN.md section 1): peers that play the
rest of the Internet on test hosts, and the code that drives them. The product (mailforge/) never imports it.
"""
