"""Farga: a forge that turns prototype models into production-ready ML components."""

__version__ = "0.1.0"
