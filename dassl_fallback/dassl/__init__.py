"""Dassl-compatible engine bundled with this project (the subset CoOp-family code uses).

Import it as ``dassl`` via ``dassl_fallback.ensure_dassl()``; never import it by another name,
so that a module is never loaded twice.
"""

__version__ = "0.6.3+bundled"
BUNDLED = True
