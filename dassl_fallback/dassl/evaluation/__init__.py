from dassl.evaluation.build import EVALUATOR_REGISTRY, build_evaluator
from dassl.evaluation.evaluator import Classification, EvaluatorBase

__all__ = ["EVALUATOR_REGISTRY", "build_evaluator", "Classification", "EvaluatorBase"]
