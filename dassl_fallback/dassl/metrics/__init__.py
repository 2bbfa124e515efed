from dassl.metrics.accuracy import compute_accuracy
from dassl.metrics.distance import compute_distance_matrix

__all__ = ["compute_accuracy", "compute_distance_matrix"]
