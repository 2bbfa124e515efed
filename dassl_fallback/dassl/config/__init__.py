"""``get_cfg_default()``: a fresh copy of the Dassl default config for each caller."""

from dassl.config.defaults import _C as cfg_default


def get_cfg_default():
    return cfg_default.clone()


def clean_cfg(cfg, trainer):
    """Drop the TRAINER sub-nodes of other methods (keeps NAME and ``trainer``'s node)."""
    for key in list(cfg.TRAINER.keys()):
        if key == "NAME" or key == str(trainer).upper():
            continue
        cfg.TRAINER.pop(key, None)


__all__ = ["get_cfg_default", "clean_cfg"]
