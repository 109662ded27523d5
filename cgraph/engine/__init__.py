"""Running a graph: forward and backward over the tape (evaluator.py), over many rows at
once (batch.py), input values read from text and JSON (input_values.py) and the finite-difference
check (gradient_check.py)."""
