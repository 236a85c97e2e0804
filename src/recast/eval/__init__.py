"""Swap quality metrics: identity transfer, pose/expression preservation, jitter, background fidelity.

>>> from recast.eval import evaluate, write_report
>>> report = evaluate("result.mp4", "data_dst.mp4", "workspace/data_src/aligned")
>>> write_report(report, "result_eval")
"""

from recast.eval.evaluate import EvalReport, FrameMetrics, evaluate
from recast.eval.report import write_report

__all__ = ["EvalReport", "FrameMetrics", "evaluate", "write_report"]
