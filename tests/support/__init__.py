"""Code the tests share: paths, runners for the `cgraph` command, file writers, strict
JSON, numeric references, readers for the DOT and Mermaid the renderers write, and the
random program generator.

The tests import it as `support` (pytest puts tests/ on sys.path, since tests/ is not a
package): `from support.paths import SAMPLES`.
"""
