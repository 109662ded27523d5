"""Learning params from data, and evaluating a graph over rows of data.

data/          data files: CSV, JSON Lines, Parquet read in chunks, columns bound to
               inputs, rows written out
rows.py        a graph evaluated on every row of a data file (`cgraph eval --data`)
optimizers.py  the run's settings and the update rules
records.py     what the loop reports (Update, Epoch, Outcome) and its callbacks
trainer.py     the training loop
finite.py      training's refusal of inf and nan in the data, options and --init
resume.py      where a run resumed from a params file goes on
paramsfile.py  params files, written and read
saving.py      what --save keeps, and when
"""
