"""Running a graph: forward and backward over the tape (evaluator.py), over many rows at
once (batch.py), binding input values (inputs.py) and the finite-difference check
(check.py)."""
