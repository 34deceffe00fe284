"""Episodes, episode stores on disk and replay buffers."""
