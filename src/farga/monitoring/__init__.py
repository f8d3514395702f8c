"""Watching models in production: drift statistics, the monitor that exports them, the feedback loop."""
