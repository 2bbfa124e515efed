"""Utilities the CoOp-family code imports from ``dassl.utils``."""

from dassl.utils.logger import Logger, setup_logger
from dassl.utils.meters import AverageMeter, MetricMeter
from dassl.utils.registry import Registry, check_availability
from dassl.utils.tools import (
    atomic_write_bytes,
    check_isfile,
    collect_env_info,
    download_url,
    get_most_similar_str_to_a_from_b,
    listdir_nohidden,
    mkdir_if_missing,
    read_image,
    read_json,
    set_random_seed,
    tolist_if_not,
    write_json,
)
from dassl.utils.torchtools import (
    count_num_param,
    init_network_weights,
    load_checkpoint,
    load_pretrained_weights,
    open_all_layers,
    open_specified_layers,
    resume_from_checkpoint,
    save_checkpoint,
    set_bn_to_eval,
)

__all__ = [
    "AverageMeter",
    "Logger",
    "MetricMeter",
    "Registry",
    "atomic_write_bytes",
    "check_availability",
    "check_isfile",
    "collect_env_info",
    "count_num_param",
    "download_url",
    "get_most_similar_str_to_a_from_b",
    "init_network_weights",
    "listdir_nohidden",
    "load_checkpoint",
    "load_pretrained_weights",
    "mkdir_if_missing",
    "open_all_layers",
    "open_specified_layers",
    "read_image",
    "read_json",
    "resume_from_checkpoint",
    "save_checkpoint",
    "set_bn_to_eval",
    "set_random_seed",
    "setup_logger",
    "tolist_if_not",
    "write_json",
]
