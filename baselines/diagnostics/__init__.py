"""What went wrong in a run: representation and trust-region metrics (``metrics``), gradient
interference, TD interference, plateau and collapse detection, and their per-run analysis (``analysis``).
"""

from rayenvs.exports import lazy_exports

_EXPORTS = {
    "RepresentationMetricsCallback": "baselines.diagnostics.metrics",
    "metrics_callback_for": "baselines.diagnostics.metrics",
    "interference_matrix": "baselines.diagnostics.interference",
    "detect_plateaus": "baselines.diagnostics.plateaus",
    "plateau_likelihood": "baselines.diagnostics.plateaus",
    "detect_collapse": "baselines.diagnostics.collapse",
    "CollapseParams": "baselines.diagnostics.collapse",
    "analyze_path": "baselines.diagnostics.analysis",
    "analyze_result": "baselines.diagnostics.analysis",
    "td_lambda_measures": "baselines.diagnostics.td_interference",
    "dqn_measures": "baselines.diagnostics.td_interference",
    "second_order_terms": "baselines.diagnostics.td_second_order",
    "pair_gradients": "baselines.diagnostics.td_second_order",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
