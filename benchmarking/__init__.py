"""The measuring code behind tools/benchmark.py, tools/bench_eval.py and tools/gpu_report.py.

``steps``: training-step time and autograd's saved bytes per trainer; ``evaluation``: the cost
of an evaluation pass and of the feature cache. The programs in tools/ only call ``main``.
"""
