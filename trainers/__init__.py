"""CLIP prompt-learning trainers; importing a trainer module registers it with Dassl."""

try:  # use upstream Dassl when installed, the bundled engine otherwise
    from dassl_fallback import ensure_dassl

    ensure_dassl()
except ImportError:  # copied into an upstream fork without dassl_fallback: Dassl is installed
    pass
