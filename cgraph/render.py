"""Diagrams of a graph: the public entry point (`cgraph.render.diagram(graph, evaluation)`).
The code lives in cgraph/views/render/."""

from .views.render import (DEFAULT_DPI, DPI_RANGE, FORMATS, OptionError, RenderError, diagram, frame_images, frames, image, mermaid,
                           pinned_frames,
                           options, scene)

__all__ = ["diagram", "mermaid", "scene", "frames", "frame_images", "pinned_frames", "image", "options", "FORMATS", "DEFAULT_DPI", "DPI_RANGE", "RenderError",
           "OptionError"]
