"""What a person reads: tables, JSON and CSV (report.py), the passes in words
(explain.py), diagrams (render/)."""
