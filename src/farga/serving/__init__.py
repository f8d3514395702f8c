"""Serving: a FastAPI app that hosts every installed component's routes (ONNX Runtime, no torch)."""
