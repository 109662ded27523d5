"""Scaffolding the tests share: generators, parsers and helpers (no tests here)."""
