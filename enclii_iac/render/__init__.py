"""Pure renderers: specs in, data or text out."""
