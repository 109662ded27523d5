"""Text to graph: the LALR loop over Lark's tables (lalr.py), the callbacks that build
the syntax tree (parser.py, syntax.py), and the builder that lowers it onto the tape
(builder.py); loading.py is the entry point."""
