"""SVG tooltips as <title> elements.

Graphviz writes a node's `tooltip` by wrapping the node's drawing in a link with no target,
<a xlink:title="...">, even without a URL (Graphviz 2.43 to 12). Some viewers (MuPDF, and
so every tool built on it) drop what is inside such a link, and the diagram loses its
nodes. A <title> element, the first child of the node's group, is SVG's own tooltip:
browsers show it on hover, and nothing is dropped. So the link is unwrapped and its title
becomes the node's <title> (which Graphviz had filled with the node's id, meaningless to
a reader).
"""

from __future__ import annotations

import re

_LINKED = re.compile(
    rb"<title>[^<]*</title>\n"  # the group's title: the node's id
    rb'<g id="a_[^"]*"><a xlink:title="([^"]*)">\n'  # the link's title: the tooltip
    rb"(.*?)"  # the drawing (no link inside: cgraph gives none a URL)
    rb"</a>\n</g>\n",
    re.S,
)


def svg_titles(svg: bytes) -> bytes:
    """The SVG with every tooltip link unwrapped into its group's <title> (the attribute's
    escaped text is valid element text as it is)."""
    return _LINKED.sub(lambda m: b"<title>" + m.group(1) + b"</title>\n" + m.group(2), svg)
