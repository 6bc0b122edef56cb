"""An offline IAM policy evaluator and the readers that feed it synthesized templates (see evaluator.py)."""
