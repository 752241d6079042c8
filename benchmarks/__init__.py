"""Throughput benchmarks, run by ``make bench`` (``python -m benchmarks``).

Each module is runnable alone (``python -m benchmarks.pipeline``) and exposes ``main()``.
Figures are medians of several runs, always side by side with a baseline measured in the
same run, because the machines are shared and noisy.
"""
