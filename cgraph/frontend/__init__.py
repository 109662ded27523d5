"""Text to graph: the LALR loop over Lark's tables (lalr.py), the callbacks that build
the syntax tree (parser.py, syntax.py), and the builder that lowers it onto the tape
(builder.py, which wires expressions.py, statements.py, scoping.py, integers.py,
constants.py, functions.py, size_limits.py and output.py); loading.py is the entry point."""
