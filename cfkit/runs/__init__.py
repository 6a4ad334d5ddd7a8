"""cfkit's own run folders and checkpoint files, below the networks that load trained helpers from them.

:mod:`cfkit.runs.checkpoint` writes and finds ``RUN/ckpt/*.pt``; :func:`cfkit.runs.load.load_run` is the one
reader of a trained run (``cfkit translate`` and the landmark-regressor loader).
"""
