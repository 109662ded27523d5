"""Learning params from data: data files (data.py), the trainer and its optimizers
(trainer.py), params files (paramsfile.py)."""
