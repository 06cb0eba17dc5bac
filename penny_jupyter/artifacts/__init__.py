"""Artifacts: the dashboards, charts and tables Penny hands back."""
