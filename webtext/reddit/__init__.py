"""reddit stage."""
