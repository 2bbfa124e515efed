"""Every figure of the repository, drawn with matplotlib (imported only when a figure is made).

The parser (``parse_test_res.py --plot``), ``tools/similarity_report.py`` and
``tools/plot_curves.py`` hand their numbers to ``plotting.figures``; none of them draws itself.
"""
