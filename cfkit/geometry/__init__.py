"""Face geometry below networks and detectors: the 5-point landmark scheme and the alignment templates."""
